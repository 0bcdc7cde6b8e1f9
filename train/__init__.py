"""latent-explorer's trainer and model API.

    from train import load_checkpoint
    model = load_checkpoint("checkpoints/mnist-vae-2d")   # eval mode, on the CPU
    z = model.encode(x)          # x: float32 [N, 1, 28, 28] in [0, 1] -> [N, d]
    images = model.decode(z)     # -> float32 [N, 1, 28, 28] pixel means in [0, 1]
    mu, logvar = model.posterior(x)  # VAE only: q(z|x) parameters, each [N, d]
"""

from .checkpoint import CheckpointError, load_checkpoint, read_config, read_metrics, save_checkpoint
from .models import VAE, AutoEncoder, LatentModel, ModelConfig, ModelOutput, build_model

__all__ = [
    "AutoEncoder",
    "CheckpointError",
    "LatentModel",
    "ModelConfig",
    "ModelOutput",
    "VAE",
    "build_model",
    "load_checkpoint",
    "read_config",
    "read_metrics",
    "save_checkpoint",
]
