import json

import numpy as np
import pytest
import torch

from train import load_checkpoint
from train.__main__ import main
from train.data import IDX_FILES, raw_folder, to_unit_interval, write_idx
from train.trainer import TrainConfig, pick_device, train


def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto").type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto").type == "cpu"
    assert pick_device("cpu").type == "cpu"


def test_unavailable_accelerator_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="MPS is not available"):
        pick_device("mps")


def test_to_unit_interval_matches_to_tensor_scaling():
    images = torch.tensor([[[0, 255], [51, 102]]], dtype=torch.uint8)
    x = to_unit_interval(images)
    assert x.shape == (1, 1, 2, 2) and x.dtype == torch.float32
    torch.testing.assert_close(x.flatten(), torch.tensor([0.0, 1.0, 0.2, 0.4]))


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_training_lowers_the_test_loss_and_writes_a_checkpoint(kind, tiny_mnist, tmp_path):
    config = TrainConfig(kind=kind, hidden_dims=(64, 32), epochs=4, batch_size=32, lr=3e-3,
                         out=str(tmp_path / kind), progress=False, device="cpu")
    result = train(config, data=tiny_mnist)
    history = result.metrics["history"]
    assert len(history) == 4 and history[-1]["test_loss"] < history[0]["test_loss"]
    key = "test_negative_elbo" if kind == "vae" else "test_bce"
    assert np.isfinite(result.metrics[key]) and result.metrics["device"] == "cpu"
    loaded = load_checkpoint(result.checkpoint)
    x = to_unit_interval(tiny_mnist.test_images[:5])
    assert torch.equal(loaded.encode(x), result.model.encode(x))
    config_json = json.loads((result.checkpoint / "config.json").read_text())
    assert config_json["training"]["epochs"] == 4 and config_json["dataset"]["n_train"] == 256
    if kind == "vae":
        m = result.metrics
        assert m["test_negative_elbo"] == pytest.approx(m["test_recon_nll"] + m["test_kl"])
        assert m["test_kl"] > 0


def test_same_seed_gives_the_same_model(tiny_mnist):
    config = TrainConfig(kind="vae", hidden_dims=(16,), epochs=1, batch_size=64, progress=False,
                         device="cpu")
    a, b = train(config, data=tiny_mnist), train(config, data=tiny_mnist)
    for key, value in a.model.state_dict().items():
        assert torch.equal(b.model.state_dict()[key], value)


def test_command_line_trains_from_a_data_root(tiny_mnist, tmp_path, capsys):
    folder = raw_folder(tmp_path / "data")
    write_idx(folder / IDX_FILES["train_images"], tiny_mnist.train_images.numpy())
    write_idx(folder / IDX_FILES["train_labels"], tiny_mnist.train_labels.numpy().astype(np.uint8))
    write_idx(folder / IDX_FILES["test_images"], tiny_mnist.test_images.numpy())
    write_idx(folder / IDX_FILES["test_labels"], tiny_mnist.test_labels.numpy().astype(np.uint8))
    out = tmp_path / "ckpt"
    code = main(["--kind", "ae", "--hidden-dims", "16", "--epochs", "1", "--data-root",
                 str(tmp_path / "data"), "--out", str(out), "--no-progress", "--device", "cpu"])
    assert code == 0
    assert "test_bce" in capsys.readouterr().out
    assert load_checkpoint(out).config.kind == "ae"


def test_command_line_reports_missing_data(tmp_path, capsys, monkeypatch):
    import train.data as data

    def offline(*args):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_from_torchvision_download", offline)
    monkeypatch.setattr(data, "fetch_wheel", offline)
    code = main(["--epochs", "1", "--data-root", str(tmp_path), "--no-progress"])
    assert code == 2
    assert "MNIST could not be loaded" in capsys.readouterr().err


def test_invalid_settings_are_refused_on_the_command_line(capsys):
    assert main(["--epochs", "0", "--no-progress"]) == 2
    assert "epochs must be >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=0.0)
