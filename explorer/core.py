"""The explorer's torch logic: loading, encoding, decoding, scoring. Never imports streamlit.

Usable from a notebook as well as from the app:

    from explorer.core import load_test_set, load_explorer_model
    images, labels = load_test_set()
    vae = load_explorer_model("checkpoints/mnist-vae-2d", images)
    vae.codes            # float32 [10000, 2] posterior means of the test digits
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from train import CheckpointError, LatentModel, ModelConfig, load_checkpoint
from train.checkpoint import recover_interrupted_saves
from train.data import FASHION_MNIST_CLASSES, MNIST_CLASSES, read_split, to_unit_interval
from train.models import corrupt
from train.schema import CheckpointMetadata, read_metadata

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = REPO_ROOT / "checkpoints"
ASSETS_DIR = Path(__file__).resolve().parent / "assets"  # <dataset>/t10k-{images,labels}-*.gz
TEST_IMAGES_FILE = "t10k-images-idx3-ubyte.gz"
TEST_LABELS_FILE = "t10k-labels-idx1-ubyte.gz"
TEST_SET_DATASETS = ("mnist", "fashion-mnist")
RESTORE_ASSETS = "Restore the shipped files with `git checkout -- explorer/assets`."
RETRAIN_COMMAND = "python -m train.retrain"
ENCODE_BATCH = 2500


@dataclass
class ExplorerModel:
    """A loaded checkpoint with what the explorer precomputes once.

    name: the checkpoint folder's name, e.g. "mnist-vae-2d"
    model: the model in eval mode on the CPU (its config is ``model.config``)
    metrics: parsed metrics.json
    codes: float32 [N_test, d] latent locations of the test digits (posterior means for a VAE)
    dataset: the name of the data it was trained on, whose test set ``codes`` encode
    """

    name: str
    folder: Path
    model: LatentModel
    metrics: dict
    codes: np.ndarray
    dataset: str

    @property
    def class_names(self) -> tuple[str, ...]:
        return class_names(self.dataset)

    @property
    def kind(self) -> str:
        return self.model.config.kind

    @property
    def label(self) -> str:
        """Short display name, e.g. "VAE"."""
        return kind_label(self.model.config)


def kind_label(config: ModelConfig) -> str:
    """Short display name of a model kind: "AE", "DAE", "VAE", "β-VAE (β = 4)", "CVAE"."""
    if config.kind == "vae" and config.beta != 1:
        return f"β-VAE (β = {config.beta:g})"
    return {"ae": "AE", "dae": "DAE", "vae": "VAE", "cvae": "CVAE"}.get(config.kind, config.kind)


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint folder says about itself, read from its JSON files and checked against
    ``train.schema`` once, without loading weights.

    meta: the checked config.json and metrics.json (None if the folder failed);
    error: why the folder cannot be used (None if it can). Nothing of a failed folder is shown but
    its name and this reason.
    """

    name: str
    folder: Path
    meta: CheckpointMetadata | None = None
    error: str | None = None

    @property
    def model_config(self) -> ModelConfig | None:
        return self.meta.config.model if self.meta else None

    @property
    def dataset(self) -> str | None:
        """The name of the data the model was trained on (None for a broken folder)."""
        return self.meta.config.dataset if self.meta else None

    @property
    def metrics(self) -> dict:
        """The checked metrics.json ({} for a broken folder)."""
        return self.meta.metrics if self.meta else {}


def headline(metrics: dict) -> str:
    """The headline test metric of a checked metrics.json, e.g. "−ELBO 138.8 nats"."""
    if "test_negative_elbo" in metrics:
        return f"−ELBO {metrics['test_negative_elbo']:.1f} nats"
    if "test_recon_nll" in metrics:
        return f"recon NLL {metrics['test_recon_nll']:.1f} nats"
    return "no test metrics"


def list_checkpoints(root: str | Path = CHECKPOINT_DIR) -> list[CheckpointInfo]:
    """Every checkpoint folder under ``root``, sorted by name; hidden entries (a checkpoint being
    written) are skipped. A symbolic link to a folder is followed, wherever it points: the explorer
    only reads a checkpoint's JSON and safetensors files, never writes or runs them.

    A folder whose config.json or metrics.json is missing, unparsable or fails ``train.schema`` is
    listed with its ``error`` set, so the caller shows it as broken instead of failing; every
    other folder is unaffected. Adding a folder needs no code change.

    First puts right what a killed ``save_checkpoint`` left under ``root`` (see
    ``train.checkpoint.recover_interrupted_saves``: leftovers of dead processes only), so a
    checkpoint whose replacement was interrupted is listed again under its name.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    recover_interrupted_saves(root)
    found = []
    for folder in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if not folder.is_dir():
            if folder.is_symlink():  # a link whose target is gone or is not a folder
                found.append(CheckpointInfo(folder.name, folder, error=f"{folder} is a link to "
                                            f"{os.readlink(folder)}, which is not a folder"))
            continue
        try:
            found.append(CheckpointInfo(folder.name, folder, read_metadata(folder)))
        except CheckpointError as e:
            found.append(CheckpointInfo(folder.name, folder, error=str(e)))
    return found


class TestSetError(RuntimeError):
    """The test images shipped in explorer/assets are missing or damaged; the message names the file
    and how to restore it."""


def test_set_files(dataset: str = "mnist") -> tuple[Path, Path]:
    """(images, labels) gzip'd IDX files of a dataset's 10,000 test images, shipped in
    ``explorer/assets/<dataset>/`` (MNIST and Fashion-MNIST), so nothing is downloaded or installed.

    Raises FileNotFoundError for a dataset without test images (the toy data is generated), and
    TestSetError if a shipped file is missing.
    """
    if dataset not in TEST_SET_DATASETS:
        raise FileNotFoundError(f"the explorer has no test images for the dataset {dataset!r}")
    files = (ASSETS_DIR / dataset / TEST_IMAGES_FILE, ASSETS_DIR / dataset / TEST_LABELS_FILE)
    for path in files:
        if not path.is_file():
            raise TestSetError(f"{path} is missing. {RESTORE_ASSETS}")
    return files


def class_names(dataset: str) -> tuple[str, ...]:
    """Names of the ten classes of an image dataset ("0".."9" for MNIST)."""
    return FASHION_MNIST_CLASSES if dataset == "fashion-mnist" else MNIST_CLASSES


def load_test_set(dataset: str = "mnist") -> tuple[torch.Tensor, np.ndarray]:
    """The 10,000 test images of ``dataset`` (MNIST ships with the explorer; see ``test_set_files``).

    returns: (images float32 [10000, 1, 28, 28] in [0, 1], labels int64 [10000] in 0..9).
    Raises FileNotFoundError for a dataset without test images, and TestSetError naming the file
    and how to restore it if a shipped file is missing, damaged or does not match the other.
    """
    images_file, labels_file = test_set_files(dataset)
    try:
        images, labels = read_split(images_file, labels_file)
    except (ValueError, OSError) as e:  # IdxError: truncated, corrupt or not matching; unreadable
        raise TestSetError(f"{' '.join(str(e).split()).rstrip('.')}. {RESTORE_ASSETS}") from e
    return to_unit_interval(torch.from_numpy(images)), labels


@torch.inference_mode()
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
    if tuple(config.data_shape) != (1, 28, 28):
        raise ValueError(f"{folder.name} models {tuple(config.data_shape)} data, not 28x28 images")
    if config.conditional and test_labels is None:
        raise ValueError(f"{folder.name} is conditional: encoding the test set needs its labels")
    model = load_checkpoint(folder)
    labels = test_labels if config.conditional else None
    return ExplorerModel(name=folder.name, folder=folder, model=model, metrics=meta.metrics,
                         codes=encode_all(model, test_images, labels), dataset=meta.config.dataset)


@torch.inference_mode()
def decode(model: LatentModel, z: np.ndarray) -> np.ndarray:
    """Decode latents to images.

    z: float [M, d] (or [d] for one point).
    returns: float32 [M, 28, 28] pixel means in [0, 1] (or [28, 28] for one point).
    """
    z = np.asarray(z, dtype=np.float32)
    single = z.ndim == 1
    images = model.decode(torch.from_numpy(np.atleast_2d(z)))[:, 0].numpy()
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


INTERPOLATIONS = ("linear", "spherical")


def interpolate(z_start: np.ndarray, z_end: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """Interpolation between two latent codes, both ends included.

    linear: z(t) = (1 - t) z_start + t z_end.
    spherical (slerp; Shoemake 1985, suggested for VAE latents by White 2016, "Sampling Generative
    Networks"): z(t) = sin((1 - t) w) / sin w * z_start + sin(t w) / sin w * z_end, where w is the
    angle between the two codes; it keeps the path away from the low-density origin of N(0, I).
    Falls back to linear when the codes are (anti)parallel or one is zero.

    z_start, z_end: float [d]. steps: >= 2. returns: float32 [steps, d].
    Raises ValueError if steps < 2, the shapes differ, or the method is unknown.
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {method!r}; expected one of {list(INTERPOLATIONS)}")
    a, b = np.asarray(z_start, np.float64), np.asarray(z_end, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"latent shapes differ: {a.shape} vs {b.shape}")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    omega = np.arccos(np.clip(a @ b / norms, -1.0, 1.0)) if norms > 0 else 0.0
    if method == "linear" or np.sin(omega) < 1e-6:
        return ((1.0 - t) * a + t * b).astype(np.float32)
    return ((np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype(np.float32)


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 [H, W] grey image as PNG file bytes (Pillow)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def gif_bytes(frames: list[np.ndarray], frame_ms: int = 120, bounce: bool = True) -> bytes:
    """uint8 [H, W] grey frames as a looping animated GIF (Pillow). bounce: play forward then back."""
    if not frames:
        raise ValueError("an animation needs at least one frame")
    sequence = list(frames) + (list(frames[-2:0:-1]) if bounce else [])
    images = [Image.fromarray(np.asarray(f, np.uint8), mode="L") for f in sequence]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()


def plane_extent(codes: np.ndarray, pad: float = 0.08, quantile: float = 0.001) -> tuple[float, ...]:
    """A square-ish window (x0, x1, y0, y1) over the bulk of 2-D codes, padded on each side.

    codes: float [N, 2]. The extreme ``quantile`` of points on each side is allowed outside,
    so that one outlier does not shrink the rest of the plane.
    """
    lo = np.quantile(codes, quantile, axis=0)
    hi = np.quantile(codes, 1 - quantile, axis=0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - pad * span, hi + pad * span
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def plane_grid(extent: tuple[float, ...], n: int = 120) -> np.ndarray:
    """An n x n grid of points over extent (x0, x1, y0, y1): float32 [n*n, 2], x varying fastest."""
    x0, x1, y0, y1 = extent
    xs, ys = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def enlarge(image: np.ndarray, scale: int = 8) -> np.ndarray:
    """A [H, W] image in [0, 1] as uint8 [H*scale, W*scale], each pixel a crisp square block."""
    block = np.ones((scale, scale), dtype=np.float32)
    return np.uint8(np.round(np.clip(np.kron(image, block), 0.0, 1.0) * 255))


def strip(images: np.ndarray, scale: int = 3, gap: int = 1) -> np.ndarray:
    """Images float [M, H, W] in [0, 1] side by side (``gap`` grey pixels between) as uint8."""
    m, h, _ = images.shape
    spacer = np.full((h, gap), 0.35, dtype=np.float32)
    parts = []
    for i, image in enumerate(images):
        if i:
            parts.append(spacer)
        parts.append(image)
    return enlarge(np.concatenate(parts, axis=1), scale)


def nearest_test_index(codes: np.ndarray, z: np.ndarray) -> int:
    """Index of the test digit whose latent code is closest (Euclidean) to z [d]."""
    return int(nearest_test_indices(codes, z, 1)[0])


def nearest_test_indices(codes: np.ndarray, z: np.ndarray, k: int) -> np.ndarray:
    """Indices int [k] of the k test digits whose latent codes (float [N, d]) are closest to z [d],
    nearest first (Euclidean distance in latent space)."""
    distances = ((codes - np.asarray(z)[None]) ** 2).sum(axis=1)
    nearest = np.argpartition(distances, min(k, len(distances) - 1))[:k]
    return nearest[np.argsort(distances[nearest])]


def prior_samples(n: int, latent_dim: int, seed: int) -> np.ndarray:
    """n draws z ~ p(z) = N(0, I): float32 [n, latent_dim], the same for the same seed."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, latent_dim, generator=generator).numpy()


def image_grid(images: np.ndarray, columns: int, scale: int = 2, gap: int = 1) -> np.ndarray:
    """Images float [M, H, W] in [0, 1] in rows of ``columns`` (the last row padded grey) as uint8.

    returns: uint8 [rows * (H * scale) + gaps, columns * (W * scale) + gaps].
    """
    m, h, w = images.shape
    rows = -(-m // columns)
    padded = np.concatenate([images, np.full((rows * columns - m, h, w), 0.35, np.float32)])
    lines = [strip(padded[r * columns : (r + 1) * columns], scale, gap) for r in range(rows)]
    spacer = np.full((gap * scale, lines[0].shape[1]), round(0.35 * 255), np.uint8)
    parts = []
    for i, line in enumerate(lines):
        if i:
            parts.append(spacer)
        parts.append(line)
    return np.concatenate(parts, axis=0)


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


def prior_quantile_grid(n: int, latent_dim: int = 2, low: float = 0.05, high: float = 0.95) -> np.ndarray:
    """An n x n grid of 2-D latents spaced by quantiles of the prior N(0, 1) per axis (AEVB, Fig. 4):
    z_i = Phi^-1(p_i) for p_i evenly spaced in [low, high]. Rows run from high z2 (top) to low.

    returns: float32 [n * n, 2], x varying fastest. Raises ValueError unless latent_dim == 2.
    """
    if latent_dim != 2:
        raise ValueError(f"a 2-D grid of latents needs latent_dim 2, got {latent_dim}")
    p = torch.linspace(low, high, n, dtype=torch.float64)
    q = torch.distributions.Normal(0.0, 1.0).icdf(p).float().numpy()
    xs, ys = np.meshgrid(q, q[::-1])
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


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


@dataclass
class Projection:
    """A linear 2-D projection of latent codes by principal component analysis.

    points: float32 [N, 2] the codes projected on the first two principal components
    components: float32 [2, d] unit directions; mean: float32 [d]; explained: [2] variance fractions
    """

    points: np.ndarray
    components: np.ndarray
    mean: np.ndarray
    explained: np.ndarray

    def transform(self, z: np.ndarray) -> np.ndarray:
        """Project more latents the same way: z float [M, d] (or [d]) -> float32 [M, 2] (or [2])."""
        return ((np.asarray(z, dtype=np.float32) - self.mean) @ self.components.T).astype(np.float32)


def pca_2d(codes: np.ndarray) -> Projection:
    """Project codes float [N, d] (d >= 2) onto their first two principal components (SVD of the
    centred codes). Component signs are fixed so each has a positive largest entry.
    Raises ValueError for fewer than 2 dimensions or points."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] < 2 or codes.shape[0] < 2:
        raise ValueError(f"PCA needs codes [N >= 2, d >= 2], got {codes.shape}")
    mean = codes.mean(axis=0)
    _, singular, vt = np.linalg.svd(codes - mean, full_matrices=False)
    components = vt[:2] * np.sign(vt[:2, np.abs(vt[:2]).argmax(axis=1)].diagonal())[:, None]
    variance = singular**2
    return Projection(points=((codes - mean) @ components.T).astype(np.float32),
                      components=components.astype(np.float32), mean=mean.astype(np.float32),
                      explained=(variance[:2] / variance.sum()).astype(np.float32))


MANIFOLD_SPACINGS = ("prior", "data")


def manifold_axes(codes: np.ndarray, n: int, spacing: str = "prior") -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of an n x n grid of latents to decode and tile over a 2-D plane.

    spacing "prior": quantiles 5 %..95 % of N(0, 1) on each axis (AEVB, Fig. 4), so each tile covers
    the same prior mass; "data": evenly over the window that holds the codes (``plane_extent``).
    codes: float [N, 2]. returns: (xs float32 [n] increasing, ys float32 [n] decreasing, top row first).
    Raises ValueError for n < 2 or an unknown spacing.
    """
    if n < 2:
        raise ValueError(f"a manifold grid needs n >= 2, got {n}")
    if spacing == "prior":
        grid = prior_quantile_grid(n)
        return grid[:n, 0].copy(), grid[::n, 1].copy()
    if spacing == "data":
        x0, x1, y0, y1 = plane_extent(codes)
        return (np.linspace(x0, x1, n, dtype=np.float32), np.linspace(y1, y0, n, dtype=np.float32))
    raise ValueError(f"unknown spacing {spacing!r}; expected one of {list(MANIFOLD_SPACINGS)}")


def manifold_images(model: LatentModel, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Decode every (x, y) of the grid: float32 [len(ys) * len(xs), 28, 28], row by row from the top."""
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return decode(model, grid)


@torch.inference_mode()
def posterior_of(model: LatentModel, image: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """q(z|x) of one image [28, 28] for a VAE-family model: (mu float32 [d], sigma float32 [d])."""
    mu, logvar = model.posterior(_as_batch(image))
    return mu[0].numpy(), torch.exp(0.5 * logvar[0]).numpy()


def ellipse(mu: np.ndarray, sigma: np.ndarray, k: float = 1.0, n: int = 120) -> np.ndarray:
    """The k-sigma contour of the axis-aligned Gaussian N(mu, diag(sigma^2)) in 2-D, closed.

    mu, sigma: float [2]. returns: float32 [n + 1, 2] points with sum(((z - mu) / sigma)^2) = k^2.
    """
    t = np.linspace(0.0, 2.0 * np.pi, n + 1)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)  # [n + 1, 2]
    return (np.asarray(mu) + k * np.asarray(sigma) * circle).astype(np.float32)


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
