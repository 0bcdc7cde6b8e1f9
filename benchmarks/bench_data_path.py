"""Benchmark: this trainer's in-memory data path vs the common DataLoader + ToTensor recipe.

Trains the same 784-400-20 VAE (batch 128, Adam 1e-3) side by side in one run on this machine,
first with the common recipe (torchvision MNIST through a DataLoader with ToTensor, as in
pytorch/examples vae/main.py: train then test each epoch), then with ``train.trainer.train``
(each split one in-memory tensor, shuffled index batches, test loss each epoch). Prints
samples/second for each, their ratio, and both final test losses so quality can be compared.
A third line shows this trainer at batch 256 with the learning rate scaled to 2e-3, for the
speed / quality trade-off (on 2 CPU cores the MLP's own compute, not data loading, then dominates).

    python benchmarks/bench_data_path.py --epochs 3

Not part of the test suite. Needs MNIST under the data root (``python -m train`` fetches it).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from train.data import data_root, load_mnist
from train.models import ModelConfig, build_model
from train.trainer import TrainConfig, train

HIDDEN, LATENT, BATCH, LR = (400,), 20, 128, 1e-3


def common_recipe(root: str, epochs: int, seed: int) -> tuple[float, float]:
    """returns (wall seconds, final test negative ELBO in nats per image)."""
    torch.manual_seed(seed)
    to_tensor = transforms.ToTensor()
    train_set = datasets.MNIST(root, train=True, download=False, transform=to_tensor)
    test_set = datasets.MNIST(root, train=False, download=False, transform=to_tensor)
    train_loader = DataLoader(train_set, batch_size=BATCH, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=BATCH, shuffle=False)
    model = build_model(ModelConfig(kind="vae", latent_dim=LATENT, hidden_dims=HIDDEN))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        for x, _ in train_loader:
            loss = model.objective(x).loss.mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        total = 0.0
        with torch.no_grad():
            for x, _ in test_loader:
                total += model.objective(x).loss.sum().item()
        test_loss = total / len(test_set)
        print(f"  common recipe epoch {epoch}: test loss {test_loss:.2f}")
    return time.perf_counter() - start, test_loss


def ours(root: str, epochs: int, seed: int, batch: int = BATCH, lr: float = LR) -> tuple[float, float]:
    """returns (wall seconds of the epochs, each with its test loss; final test negative ELBO)."""
    data = load_mnist(root)
    config = TrainConfig(kind="vae", latent_dim=LATENT, hidden_dims=HIDDEN, epochs=epochs,
                         batch_size=batch, lr=lr, seed=seed, device="cpu", progress=False, eval_samples=1)
    result = train(config, data=data)
    return result.metrics["history"][-1]["seconds"], result.metrics["history"][-1]["test_loss"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None)
    args = p.parse_args()
    root = str(data_root(args.data_root))
    load_mnist(root)  # make sure the IDX files exist before timing anything
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.epochs} epochs each, "
          f"784-{HIDDEN[0]}-{LATENT} VAE, batch {BATCH}")
    common_s, common_loss = common_recipe(root, args.epochs, args.seed)
    ours_s, ours_loss = ours(root, args.epochs, args.seed)
    big_s, big_loss = ours(root, args.epochs, args.seed, batch=256, lr=2e-3)
    n = 60000 * args.epochs
    rows = [("common recipe (DataLoader + ToTensor), batch 128", common_s, common_loss),
            ("latent-explorer trainer (in memory), batch 128", ours_s, ours_loss),
            ("latent-explorer trainer, batch 256, lr 2e-3", big_s, big_loss)]
    for name, seconds, loss in rows:
        print(f"{name:52s} {n / seconds:8.0f} samples/s  ({seconds:5.1f} s, test loss {loss:.2f} nats)")
    print(f"speed-up at batch 128: {common_s / ours_s:.2f}x; at batch 256: {common_s / big_s:.2f}x")


if __name__ == "__main__":
    main()
