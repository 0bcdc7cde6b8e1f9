"""latent-explorer's trainer and model API.

    from train import load_checkpoint
    model = load_checkpoint("checkpoints/mnist-vae-2d")   # eval mode, on the CPU
    z = model.encode(x)          # x: float32 [N, 1, 28, 28] in [0, 1] -> [N, d]
    images = model.decode(z)     # -> float32 [N, 1, 28, 28], the mean of p(x|z)
    mu, logvar = model.posterior(x)  # VAE family only: q(z|x) parameters, each [N, d]
    # The conditional VAE takes labels y (int64 [N]): encode(x, y), decode(z, y), posterior(x, y).

Evaluation lives in ``train.evaluate`` (``iwae_log_likelihood``, ``evaluate_checkpoint``; also the
``python -m train.evaluate`` command), so it is not imported here; nor are the frames a run records
(``train.frames.read_frames(folder)``: the codes of 2,000 test inputs at log-spaced steps), which
use it.
"""

from .checkpoint import (
    CheckpointError,
    check_output_folder,
    load_checkpoint,
    read_config,
    read_metrics,
    recover_interrupted_saves,
    save_checkpoint,
)
from .config import ModelConfig

# The networks and the data need torch (~1.5 s to import on 2 cores): they are imported on first use,
# so that reading checkpoints' JSON files (the explorer's model list and first page) never waits for it.
_LAZY = {"Dataset": "data", "DatasetUnavailableError": "data", "load_dataset": "data",
         **dict.fromkeys(("VAE", "AutoEncoder", "ConditionalVAE", "DenoisingAutoEncoder", "LatentModel",
                          "LossTerms", "ModelOutput", "build_model"), "models")}


def __getattr__(name: str):
    """``train.VAE``, ``from train import load_dataset`` and the rest of ``_LAZY``: imported now."""
    if name in _LAZY:
        import importlib  # noqa: PLC0415

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "AutoEncoder",
    "CheckpointError",
    "ConditionalVAE",
    "Dataset",
    "DatasetUnavailableError",
    "DenoisingAutoEncoder",
    "LatentModel",
    "LossTerms",
    "ModelConfig",
    "ModelOutput",
    "VAE",
    "build_model",
    "check_output_folder",
    "load_checkpoint",
    "load_dataset",
    "read_config",
    "read_metrics",
    "recover_interrupted_saves",
    "save_checkpoint",
]
