"""The training loop: in-memory tensors, shuffled index batches, Adam, per-epoch test loss.

``train(config)`` fits one model and, if ``config.out`` is set, writes a checkpoint folder.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .checkpoint import save_checkpoint
from .data import MNIST, load_mnist, to_unit_interval
from .models import LatentModel, ModelConfig, build_model

EVAL_BATCH = 2000


@dataclass
class TrainConfig:
    """One training run; every field is a command-line flag of ``python -m train``."""

    kind: str = "vae"  # "ae" or "vae"
    latent_dim: int = 2  # size d of z
    hidden_dims: tuple[int, ...] = (512, 256)  # encoder widths, decoder mirrored
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3  # Adam learning rate
    lr_final: float | None = None  # if set, cosine decay of the lr to this value by the last epoch
    seed: int = 0  # seeds init, shuffling and the reparameterization noise
    device: str = "auto"  # "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "mps", ...
    out: str | None = None  # checkpoint folder to write; None writes nothing
    data_root: str | None = None  # MNIST root (default: $LATENT_EXPLORER_DATA or data/)
    eval_samples: int = 5  # z samples per test image for the final test negative ELBO
    progress: bool = True  # show tqdm progress bars

    def __post_init__(self):
        for name in ("epochs", "batch_size", "eval_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0 or (self.lr_final is not None and not 0 <= self.lr_final <= self.lr):
            raise ValueError(f"need lr > 0 and 0 <= lr_final <= lr, got {self.lr} and {self.lr_final}")
        self.hidden_dims = tuple(self.hidden_dims)

    def model_config(self) -> ModelConfig:
        return ModelConfig(kind=self.kind, latent_dim=self.latent_dim, hidden_dims=self.hidden_dims)


@dataclass
class TrainResult:
    model: LatentModel
    metrics: dict = field(default_factory=dict)
    checkpoint: Path | None = None


def pick_device(name: str = "auto") -> torch.device:
    """Resolve a device name; ``auto`` picks CUDA, then Apple MPS, then the CPU.

    Raises ValueError if a named accelerator is not available.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use --device auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} requested but Apple MPS is not available; use --device auto")
    return device


def make_adam(model: torch.nn.Module, lr: float) -> torch.optim.Adam:
    """Adam (Kingma & Ba 2015) with the fused kernel where the device supports it (about 10% faster
    per step for the MLPs here on 2 CPU cores), else the default implementation."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=lr)


@torch.no_grad()
def evaluate(model: LatentModel, x: torch.Tensor, n_samples: int = 1, batch: int = EVAL_BATCH) -> dict:
    """Mean per-image objective over x float32 [N, 1, 28, 28] in [0, 1], in nats.

    For the VAE, ``loss`` is the negative ELBO estimated with ``n_samples`` z per image, with its
    ``recon`` (summed BCE) and ``kl`` parts; for the AE, ``loss`` = ``recon`` = summed BCE.
    returns: {"loss": float, "recon": float, "kl": float}, nats per image.
    """
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64)
    for start in range(0, x.shape[0], batch):
        xb = x[start : start + batch]
        terms = model.objective(xb, n_samples=n_samples)
        totals += torch.stack([terms.loss.sum(), terms.recon.sum(), terms.kl.sum()]).double().cpu()
    model.train(was_training)
    loss, recon, kl = (totals / x.shape[0]).tolist()
    return {"loss": loss, "recon": recon, "kl": kl}


def train(config: TrainConfig, data: MNIST | None = None) -> TrainResult:
    """Fit one model on the MNIST training split and report test metrics.

    data: preloaded MNIST (default: ``load_mnist(config.data_root)``).
    returns: TrainResult with the model (eval mode), metrics, and the checkpoint path if written.
    """
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    data = data or load_mnist(config.data_root)
    # Each split is one tensor on the device; batches are drawn by index, no per-sample transforms.
    x_train = to_unit_interval(data.train_images).to(device)
    x_test = to_unit_interval(data.test_images).to(device)
    n_train = x_train.shape[0]

    model = build_model(config.model_config()).to(device)
    optimizer = make_adam(model, config.lr)
    steps_per_epoch = -(-n_train // config.batch_size)
    scheduler = None
    if config.lr_final is not None:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=config.epochs * steps_per_epoch, eta_min=config.lr_final
        )
    shuffle = torch.Generator().manual_seed(config.seed)
    history = []
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n_train, generator=shuffle).to(device)
        running = torch.zeros((), device=device)
        bar = tqdm(range(steps_per_epoch), desc=f"{config.kind} epoch {epoch}/{config.epochs}",
                   unit="step", disable=not config.progress, leave=False)
        for step in bar:
            xb = x_train[order[step * config.batch_size : (step + 1) * config.batch_size]]
            loss = model.objective(xb).loss.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            running += loss.detach()
            if step % 50 == 49:
                bar.set_postfix(loss=f"{running.item() / (step + 1):.2f}")
        train_loss = running.item() / steps_per_epoch
        test = evaluate(model, x_test)
        history.append({"epoch": epoch, "train_loss": train_loss, "test_loss": test["loss"],
                        "test_recon": test["recon"], "test_kl": test["kl"],
                        "seconds": time.perf_counter() - start})
        tqdm.write(f"{config.kind} epoch {epoch:3d}: train loss {train_loss:8.3f}  "
                   f"test loss {test['loss']:8.3f} nats/image")
    wall = time.perf_counter() - start

    metrics = final_metrics(model, x_test, config)
    metrics.update({"epochs": config.epochs, "wall_time_s": round(wall, 1), "device": str(device),
                    "device_name": _device_name(device), "torch": torch.__version__,
                    "history": history})
    model.eval()
    checkpoint = None
    if config.out:
        settings = {k: v for k, v in asdict(config).items() if k not in ("out", "data_root", "progress")}
        settings["hidden_dims"] = list(config.hidden_dims)
        checkpoint = save_checkpoint(
            model, config.out, training=settings, metrics=metrics,
            dataset={"name": "mnist", "source": data.source, "n_train": n_train,
                     "n_test": x_test.shape[0], "pixels": "intensity in [0, 1] = byte / 255"},
        )
    return TrainResult(model=model, metrics=metrics, checkpoint=checkpoint)


def final_metrics(model: LatentModel, x_test: torch.Tensor, config: TrainConfig) -> dict:
    """Test metrics written to metrics.json (nats per image, averaged over the test split)."""
    if config.kind == "vae":
        torch.manual_seed(config.seed + 1)  # fixed noise for a reproducible ELBO estimate
        test = evaluate(model, x_test, n_samples=config.eval_samples)
        return {"test_negative_elbo": test["loss"], "test_recon_nll": test["recon"],
                "test_kl": test["kl"], "eval_samples": config.eval_samples, "units": "nats per image"}
    test = evaluate(model, x_test)
    return {"test_bce": test["loss"], "units": "nats per image"}


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()
