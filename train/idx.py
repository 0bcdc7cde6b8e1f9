"""IDX files, the format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian header (magic,
dimension sizes) then unsigned bytes. Reading checks every kind of damage (one ``IdxError``), and a
split's images and labels are checked against each other.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

# File names of the torchvision layout: <root>/MNIST/raw/<name>.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class IdxError(ValueError):
    """An IDX file is damaged, or a pair of them do not belong together.

    ``read_idx`` raises it for every kind of damage (an empty file, random bytes, a bad or truncated
    header, a body shorter or longer than its header says, a truncated or corrupt gzip stream);
    ``check_split`` / ``read_split`` for images and labels that do not match (counts, labels outside
    0..9, images not 28x28). The message names the file(s), says what is wrong and what to do.
    """


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
