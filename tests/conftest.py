"""Shared fixtures: tiny fabricated MNIST-format data so unit tests never touch the network."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from train.data import MNIST_CLASSES, Dataset, ImageSplits, images_dataset


@pytest.fixture(autouse=True, scope="session")
def _explorer_data_in_a_temporary_folder(tmp_path_factory):
    """What the explorer writes at run time (the audience board's database) goes to a temporary
    folder, for AppTest and for the servers the browser tests start (they inherit it), never into
    the repository's local/."""
    os.environ["LATENT_EXPLORER_STATE"] = str(tmp_path_factory.mktemp("explorer-data"))


def fake_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n fabricated 28x28 uint8 'digits' (a bright bar whose position depends on the label)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, 4:24, 2 + 2 * label : 5 + 2 * label] = 255
    images = np.clip(images.astype(int) + rng.integers(0, 30, size=images.shape), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


@pytest.fixture
def tiny_mnist() -> ImageSplits:
    train_x, train_y = fake_digits(256, seed=1)
    test_x, test_y = fake_digits(64, seed=2)
    return ImageSplits(torch.from_numpy(train_x), torch.from_numpy(train_y),
                 torch.from_numpy(test_x), torch.from_numpy(test_y), source="fabricated")


@pytest.fixture
def tiny_dataset(tiny_mnist) -> Dataset:
    """The fabricated digits as model inputs: float32 [N, 1, 28, 28] in [0, 1]."""
    return images_dataset("mnist", tiny_mnist, MNIST_CLASSES)


@pytest.fixture
def read_only_folder(tmp_path, monkeypatch):
    """An existing folder in which nothing can be created. Root ignores permission bits, so the
    refusal is made where a real write test creates its file: os.open with O_CREAT, for paths in
    that folder only, fails as in a read-only folder."""
    import os
    from pathlib import Path

    folder = tmp_path / "read-only"
    folder.mkdir()
    real_open = os.open

    def refusing_open(path, flags, *args, **kwargs):
        if Path(path).parent == folder and flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    return folder


def frames_of(model, x: torch.Tensor, steps=(0, 1)):
    """Frames (train.frames.Frames) as a model's run would record them, with every frame holding the
    model's own float32 codes of the inputs x: identifies which model a frames file belongs to."""
    from train.frames import Frames

    with torch.no_grad():
        codes = model.encode(x).numpy()
    return Frames(step=np.array(steps, dtype=np.int64), codes=np.stack([codes] * len(steps)),
                  index=np.arange(x.shape[0], dtype=np.int64))
