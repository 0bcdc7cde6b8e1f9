"""The explorer's torch logic: a checkpoint loaded with its test-set codes, and encoding, decoding,
reconstructing and sampling on numpy arrays, all under ``torch.inference_mode()``. No streamlit.

Usable from a notebook as well as from the app:

    from explorer.testdata import load_test_set
    from explorer.inference import load_explorer_model
    images, labels = load_test_set()
    vae = load_explorer_model("checkpoints/mnist-vae-2d", images)
    vae.codes            # float32 [10000, 2] posterior means of the test digits
    # (explorer.encoded.from_codes_file reads them from the checkpoint instead, without torch)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from train import LatentModel, load_checkpoint
from train.models import corrupt
from train.schema import CheckpointMetadata, read_metadata

from .encoded import ExplorerModel, check_image_model

ENCODE_BATCH = 2500


def load_explorer_model(checkpoint: str | Path | CheckpointMetadata, test_images: torch.Tensor,
                        test_labels: np.ndarray | None = None) -> ExplorerModel:
    """Load the checkpoint of an image model and encode the test set with it.

    checkpoint: its folder, or its metadata already read by ``train.schema.read_metadata``.
    test_images: float32 [N, 1, 28, 28] in [0, 1]; test_labels: int [N] in 0..9, needed for a
    conditional model (its codes are then the style codes E[q(z|x, y)]).
    Raises train.CheckpointError (a ValueError) if the folder fails ``train.schema`` or its weights
    are missing, partial or corrupt, and ValueError if the model does not take 28x28 images or
    needs labels that were not given.
    """
    meta = checkpoint if isinstance(checkpoint, CheckpointMetadata) else read_metadata(checkpoint)
    folder = meta.folder
    config = meta.config.model
    check_image_model(meta)
    if config.conditional and test_labels is None:
        raise ValueError(f"{folder.name} is conditional: encoding the test set needs its labels")
    model = load_checkpoint(folder, config=config)
    labels = test_labels if config.conditional else None
    return ExplorerModel(folder.name, folder, config, meta.metrics, encode_all(model, test_images, labels),
                         meta.config.dataset, model=model)


@torch.inference_mode()
def decode(model: LatentModel, z: np.ndarray) -> np.ndarray:
    """Decode latents to images.

    z: float [M, d] (or [d] for one point).
    returns: float32 [M, 28, 28] (or [28, 28] for one point): E[x|z], clipped to the pixel range
    [0, 1] (a Gaussian likelihood's mean can leave it).
    """
    z = np.asarray(z, dtype=np.float32)
    single = z.ndim == 1
    images = model.decode(torch.from_numpy(np.atleast_2d(z)))[:, 0].clamp(0.0, 1.0).numpy()
    return images[0] if single else images


def _as_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """float [M, 28, 28] or [M, 1, 28, 28] -> float32 tensor [M, 1, 28, 28]."""
    return torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)


@torch.inference_mode()
def encode(model: LatentModel, images: np.ndarray | torch.Tensor) -> np.ndarray:
    """images: float [M, 28, 28] or [M, 1, 28, 28] in [0, 1] -> latent locations float32 [M, d]."""
    return model.encode(_as_batch(images)).numpy()


@torch.inference_mode()
def reconstruct(model: LatentModel, images: np.ndarray | torch.Tensor,
                targets: np.ndarray | torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Reconstruct images through the latent location (posterior mean for a VAE) and score them.

    images: float [M, 28, 28] or [M, 1, 28, 28] in [0, 1]; targets: what the reconstructions are
    scored against, same shape (default: the images; e.g. the clean digits when denoising).
    returns: (reconstructions float32 [M, 28, 28], the mean of p(x|z), clipped to [0, 1],
              nll float32 [M]: -log p(targets | z = encode(images)) summed over pixels, in nats).
    """
    result = model.reconstruct(_as_batch(images), target=None if targets is None else _as_batch(targets))
    return result.mean[:, 0].clamp(0.0, 1.0).numpy(), result.nll.numpy()


@torch.inference_mode()
def corrupt_image(image: np.ndarray | torch.Tensor, noise: str, level: float, seed: int = 0) -> np.ndarray:
    """A corrupted copy of one image float [28, 28] (or [1, 28, 28]) in [0, 1], as float32 [28, 28].

    noise: "mask" (each pixel set to 0 with probability level) or "gaussian" (std level, clipped).
    """
    generator = torch.Generator().manual_seed(int(seed))
    return corrupt(_as_batch(image), noise, level, generator)[0, 0].numpy()


def prior_samples(n: int, latent_dim: int, seed: int) -> np.ndarray:
    """n draws z ~ p(z) = N(0, I): float32 [n, latent_dim], the same for the same seed."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, latent_dim, generator=generator).numpy()


@dataclass
class ToyDemo:
    """One toy model on the two-Gaussians test points.

    codes: float32 [N] the 1-D latent of each point (posterior mean for the VAE)
    reconstructions: float32 [N, 2] E[x | z = code]
    generated: float32 [G, 2] draws x ~ p(x) = ∫ p(x|z) p(z) dz (VAE family only, else None)
    """

    codes: np.ndarray
    reconstructions: np.ndarray
    generated: np.ndarray | None


@torch.inference_mode()
def toy_demo(model: LatentModel, points: np.ndarray | torch.Tensor, n_generated: int = 2000,
             seed: int = 0) -> ToyDemo:
    """Encode and decode 2-D points with a 1-D-latent model; for a VAE also sample its p(x).

    points: float [N, 2]. Raises ValueError unless the model maps 2-D points to a 1-D latent.
    """
    if model.config.data_shape != (2,) or model.latent_dim != 1:
        raise ValueError(f"the toy demo needs a 2-D -> 1-D model, got {model.config.describe()}")
    x = torch.as_tensor(np.asarray(points, dtype=np.float32))
    codes = model.encode(x)
    generated = None
    if model.config.variational:
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn(n_generated, 1, generator=generator)
        generated = model.sample_x(z, generator=generator).numpy()
    return ToyDemo(codes=codes[:, 0].numpy(), reconstructions=model.decode(codes).numpy(),
                   generated=generated)


@torch.inference_mode()
def decode_with_labels(model: LatentModel, z: np.ndarray, labels: np.ndarray | list[int]) -> np.ndarray:
    """Decode latents with one class label each (conditional models; others ignore the labels).

    z: float [M, d]; labels: int [M]. returns: float32 [M, 28, 28], the mean of p(x|z, y) in [0, 1].
    """
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    return model.decode(z, y)[:, 0].clamp(0.0, 1.0).numpy()


@torch.inference_mode()
def style_of(model: LatentModel, image: np.ndarray | torch.Tensor, label: int) -> np.ndarray:
    """The CVAE's style code of one digit: the posterior mean of q(z | x, y). returns float32 [d]."""
    return model.encode(_as_batch(image), torch.tensor([int(label)]))[0].numpy()


def manifold_images(model: LatentModel, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Decode every (x, y) of the grid: float32 [len(ys) * len(xs), 28, 28], row by row from the top."""
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return decode(model, grid)


@torch.inference_mode()
def posterior_of(model: LatentModel, image: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """q(z|x) of one image [28, 28] for a VAE-family model: (mu float32 [d], sigma float32 [d])."""
    mu, logvar = model.posterior(_as_batch(image))
    return mu[0].numpy(), torch.exp(0.5 * logvar[0]).numpy()


def posterior_samples(mu: np.ndarray, sigma: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n draws z = mu + sigma * eps from q(z|x) (reparameterization), seeded: float32 [n, d]."""
    eps = torch.randn(n, len(mu), generator=torch.Generator().manual_seed(int(seed))).numpy()
    return (np.asarray(mu) + np.asarray(sigma) * eps).astype(np.float32)


@torch.inference_mode()
def encode_all(model: LatentModel, images: torch.Tensor, labels: np.ndarray | None = None) -> np.ndarray:
    """Latent locations of many images, encoded in batches: float32 [N, d] (posterior means for the
    VAE family; for the CVAE, given each image's own class, its style codes E[q(z|x, y)]).

    images: float32 [N, 1, 28, 28] in [0, 1]; labels: int [N] (needed by the CVAE only).
    """
    y = None if labels is None else torch.as_tensor(np.asarray(labels, dtype=np.int64))
    codes = []
    for i in range(0, images.shape[0], ENCODE_BATCH):
        batch = slice(i, i + ENCODE_BATCH)
        codes.append(model.encode(images[batch], None if y is None else y[batch]))
    return torch.cat(codes).numpy()
