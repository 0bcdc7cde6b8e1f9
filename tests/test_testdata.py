import numpy as np
import pytest
import torch

from explorer import testdata
from explorer.testdata import parse_indices


def test_shipped_test_set():
    images, labels = testdata.load_test_set()
    assert images.shape == (10000, 1, 28, 28) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    assert labels.tolist()[:10] == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]



def test_parse_indices():
    assert parse_indices("3, 17 42", 100) == [3, 17, 42]
    for bad, message in [("", "at least one"), ("a, 2", "whole numbers"), ("5, 100", "out of range")]:
        with pytest.raises(ValueError, match=message):
            parse_indices(bad, 100)



def test_fashion_test_set_ships_with_the_explorer():
    images, labels = testdata.load_test_set("fashion-mnist")
    assert images.shape == (10000, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert np.bincount(labels).tolist() == [1000] * 10  # Fashion-MNIST's test split is balanced
    assert labels.tolist()[:5] == [9, 2, 1, 1, 6]  # ankle boot, pullover, trouser, trouser, shirt
    with pytest.raises(FileNotFoundError, match="no test images for the dataset 'toy-gaussians'"):
        testdata.load_test_set("toy-gaussians")



@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing", "short-labels"])
def test_a_damaged_shipped_test_set_names_the_file_and_how_to_restore_it(tmp_path, monkeypatch, damage):
    import gzip
    import shutil

    shutil.copytree(testdata.ASSETS_DIR / "mnist", tmp_path / "mnist")
    monkeypatch.setattr(testdata, "ASSETS_DIR", tmp_path)
    folder = tmp_path / "mnist"
    images, labels = folder / testdata.TEST_IMAGES_FILE, folder / testdata.TEST_LABELS_FILE
    if damage == "truncated":
        images.write_bytes(images.read_bytes()[:100_000])
    elif damage == "garbage":
        images.write_bytes(gzip.compress(b"not an IDX file at all"))
    elif damage == "empty":
        labels.write_bytes(b"")
    elif damage == "missing":
        images.unlink()
    else:  # labels for fewer images than there are
        raw = gzip.decompress(labels.read_bytes())
        labels.write_bytes(gzip.compress(raw[:4] + (5000).to_bytes(4, "big") + raw[8:5008]))
    with pytest.raises(testdata.TestSetError) as error:
        testdata.load_test_set("mnist")
    assert str(tmp_path / "mnist") in str(error.value)
    assert "git checkout -- explorer/assets" in str(error.value)

