"""Benchmark: time to a test loss of 105.6 nats, this trainer vs the common PyTorch recipe.

The well-known 784-400-20 VAE recipe (pytorch/examples ``vae/main.py``: Bernoulli decoder on
grey-level MNIST, batch 128, Adam 1e-3, test loss about 105.6 nats after 10 epochs) is trained side
by side in one run on this machine, each run stopping after the first epoch whose test negative ELBO
(1 z sample per test digit, as in the recipe) is at or below ``--target``:

1. the common recipe: torchvision MNIST through a DataLoader with ToTensor, PyTorch's own BCE
   (``F.binary_cross_entropy_with_logits``) plus the closed-form KL, default Adam; train then test
   each epoch. The network is the same ``train.models.VAE``, with the same initialisation;
2. ``train.trainer.train`` with the same settings (each split one in-memory tensor, shuffled index
   batches, fused Adam, our vectorised Bernoulli NLL);
3. ``train.trainer.train`` at batch 256 with the learning rate raised to 2.5e-3, in fp32;
4. the same with bf16 autocast for the training steps (the test loss is always computed in fp32).
   bf16 pays off only on a CPU that computes it natively (AVX512_BF16 or AMX); elsewhere it is
   emulated and slower than fp32. The header line says what this CPU reports and what the
   trainer's ``--precision auto`` picks here.

Each wall time includes the per-epoch test passes, as in the recipe. Prints the time to the target,
the epochs it took, and each run's speed-up over the common recipe.

    python benchmarks/bench_training.py                 # time to quality (about 2 minutes)
    python benchmarks/bench_training.py --throughput 3  # samples/s over 3 fixed epochs instead

Not part of the test suite. Needs MNIST under the data root (``python -m train`` fetches it).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from train.data import data_root, load_dataset
from train.models import ModelConfig, build_model
from train.objectives import gaussian_kl, reparameterize
from train.trainer import TrainConfig, cpu_capability, cpu_has_native_bf16, resolve_precision, train

HIDDEN, LATENT, BATCH, LR = (400,), 20, 128, 1e-3


def recipe_loss(model, x: torch.Tensor) -> torch.Tensor:
    """The pytorch/examples VAE loss per image: PyTorch's BCE summed over pixels + KL, [N] nats."""
    mu, logvar = model.posterior(x)
    logits = model.decoder(reparameterize(mu, logvar))
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(start_dim=1).sum(dim=1)
    return bce + gaussian_kl(mu, logvar)


def common_recipe(root: str, max_epochs: int, seed: int, target: float | None) -> tuple[float, int, float]:
    """returns (wall seconds, epochs run, last test negative ELBO in nats per image)."""
    torch.manual_seed(seed)
    to_tensor = transforms.ToTensor()
    train_set = datasets.MNIST(root, train=True, download=False, transform=to_tensor)
    test_set = datasets.MNIST(root, train=False, download=False, transform=to_tensor)
    train_loader = DataLoader(train_set, batch_size=BATCH, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=BATCH, shuffle=False)
    model = build_model(ModelConfig(kind="vae", latent_dim=LATENT, hidden_dims=HIDDEN))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    start = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        model.train()
        for x, _ in train_loader:
            loss = recipe_loss(model, x).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        total = 0.0
        with torch.no_grad():
            for x, _ in test_loader:
                total += recipe_loss(model, x).sum().item()
        test_loss = total / len(test_set)
        elapsed = time.perf_counter() - start
        print(f"  common recipe epoch {epoch}: test loss {test_loss:.2f}  ({elapsed:.1f} s)")
        if target is not None and test_loss <= target:
            break
    return time.perf_counter() - start, epoch, test_loss


def ours(data, max_epochs: int, seed: int, target: float | None, batch: int = BATCH, lr: float = LR,
         precision: str = "fp32") -> tuple[float, int, float]:
    """returns (wall seconds of the epochs including their test passes, epochs run, last test loss)."""
    config = TrainConfig.of(kind="vae", latent_dim=LATENT, hidden_dims=HIDDEN, epochs=max_epochs,
                            batch_size=batch, lr=lr, precision=precision, seed=seed, device="cpu",
                            progress=False, iwae_samples=0, eval_samples=1, target_loss=target)
    history = train(config, data=data).metrics["history"]
    return history[-1]["seconds"], len(history), history[-1]["test_loss"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", type=float, default=105.6,
                   help="test loss to reach, nats (default: %(default)s)")
    p.add_argument("--max-epochs", type=int, default=20,
                   help="give up after this many (default: %(default)s)")
    p.add_argument("--throughput", type=int, metavar="EPOCHS", default=None,
                   help="instead of time to quality, run exactly this many epochs and print samples/s")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None)
    p.add_argument("--bf16", choices=("native", "always"), default="native",
                   help="run the bf16 row only where this CPU computes bf16 natively (an emulated run takes "
                        "about 20 minutes on 2 cores), or always (default: %(default)s)")
    args = p.parse_args()
    root = str(data_root(args.data_root))
    data = load_dataset("mnist", root)  # also makes sure the IDX files exist before timing anything
    epochs = args.throughput or args.max_epochs
    target = None if args.throughput else args.target
    goal = f"{args.throughput} epochs each" if args.throughput else f"time to test loss <= {target} nats"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"784-{HIDDEN[0]}-{LATENT} VAE; {goal}")
    print(f"CPU capability {cpu_capability()}, native bf16 (AVX512_BF16 or AMX): "
          f"{'yes' if cpu_has_native_bf16() else 'no'}; --precision auto -> "
          f"{resolve_precision('auto', torch.device('cpu'))}")
    runs = [
        ("common recipe (DataLoader + ToTensor), batch 128", common_recipe(root, epochs, args.seed, target)),
        ("latent-explorer trainer, batch 128, lr 1e-3", ours(data, epochs, args.seed, target)),
        ("latent-explorer trainer, batch 256, lr 2.5e-3, fp32", ours(data, epochs, args.seed, target,
                                                                     batch=256, lr=2.5e-3)),
    ]
    if args.bf16 == "always" or cpu_has_native_bf16():
        runs.append(("latent-explorer trainer, batch 256, lr 2.5e-3, bf16",
                     ours(data, epochs, args.seed, target, batch=256, lr=2.5e-3, precision="bf16")))
    else:
        print("bf16 row skipped: this CPU emulates bf16 (--bf16 always runs it anyway)")
    base = runs[0][1][0]
    for name, (seconds, n_epochs, loss) in runs:
        reached = "" if target is None or loss <= target else "  (target NOT reached)"
        rate = f"{60000 * n_epochs / seconds:7.0f} samples/s" if args.throughput else ""
        print(f"{name:52s} {seconds:6.1f} s, {n_epochs:2d} epochs, test loss {loss:.2f} nats, "
              f"{base / seconds:5.2f}x {rate}{reached}")


if __name__ == "__main__":
    main()
