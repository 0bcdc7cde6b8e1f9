"""The test sets the explorer shows: MNIST's and Fashion-MNIST's 10,000 test images and labels, shipped
in ``explorer/assets/<dataset>/`` and read offline. No streamlit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from train.config import FASHION_MNIST_CLASSES, MNIST_CLASSES
from train.idx import read_split

if TYPE_CHECKING:  # torch is imported by load_test_set only: the first page needs only the labels
    import torch

ASSETS_DIR = Path(__file__).resolve().parent / "assets"  # <dataset>/t10k-{images,labels}-*.gz


TEST_IMAGES_FILE = "t10k-images-idx3-ubyte.gz"


TEST_LABELS_FILE = "t10k-labels-idx1-ubyte.gz"


TEST_SET_DATASETS = ("mnist", "fashion-mnist")


RESTORE_ASSETS = "Restore the shipped files with `git checkout -- explorer/assets`."


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


def read_test_split(dataset: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images of ``dataset`` as stored, without torch (see ``test_set_files``).

    returns: (images uint8 [10000, 28, 28] in 0..255, labels int64 [10000] in 0..9).
    Raises FileNotFoundError for a dataset without test images, and TestSetError naming the file
    and how to restore it if a shipped file is missing, damaged or does not match the other.
    """
    images_file, labels_file = test_set_files(dataset)
    try:
        return read_split(images_file, labels_file)
    except (ValueError, OSError) as e:  # IdxError: truncated, corrupt or not matching; unreadable
        raise TestSetError(f"{' '.join(str(e).split()).rstrip('.')}. {RESTORE_ASSETS}") from e


def load_test_set(dataset: str = "mnist") -> tuple[torch.Tensor, np.ndarray]:
    """The 10,000 test images of ``dataset`` as the models take them (``read_test_split``, then
    ``model_inputs``).

    returns: (images float32 torch [10000, 1, 28, 28] in [0, 1], labels int64 numpy [10000] in 0..9).
    Raises FileNotFoundError and TestSetError as ``read_test_split`` does.
    """
    images, labels = read_test_split(dataset)
    return model_inputs(images), labels


def model_inputs(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, 28, 28] in 0..255 (``read_test_split``) -> float32 torch [N, 1, 28, 28] in [0, 1]."""
    import torch  # noqa: PLC0415 (see the imports)

    from train.data import to_unit_interval  # noqa: PLC0415

    return to_unit_interval(torch.from_numpy(images))


def parse_indices(text: str, n: int, limit: int = 12) -> list[int]:
    """Parse "3, 17 42" into test indices (at most ``limit``). Raises ValueError saying what is wrong."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise ValueError("Enter at least one test index.")
    try:
        indices = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"Indices must be whole numbers, got {text!r}.") from None
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise ValueError(f"Indices must be between 0 and {n - 1}; out of range: {bad}.")
    return indices[:limit]
