import json
import pickle

import pytest
import torch

import train.checkpoint as checkpoint_module
from train import CheckpointError, ModelConfig, build_model, load_checkpoint, read_metrics, save_checkpoint
from train.checkpoint import write_metrics
from train.models import LIKELIHOODS, MODEL_KINDS


@pytest.fixture(params=["ae", "vae"])
def model(request):
    torch.manual_seed(0)
    return build_model(ModelConfig(kind=request.param, latent_dim=2, hidden_dims=(24, 12))).eval()


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("arch,likelihood", [("mlp", lik) for lik in LIKELIHOODS] + [("conv", "bernoulli")])
def test_round_trip_gives_identical_outputs(kind, arch, likelihood, tmp_path):
    torch.manual_seed(0)
    hidden = (4, 8, 16) if arch == "conv" else (24, 12)
    model = build_model(ModelConfig(kind=kind, arch=arch, likelihood=likelihood, latent_dim=2,
                                    hidden_dims=hidden, beta=2.0, noise_level=0.25)).eval()
    folder = save_checkpoint(model, tmp_path / "ckpt", metrics={"test_recon_nll": 1.5},
                             training={"epochs": 1}, dataset={"name": "mnist"})
    loaded = load_checkpoint(folder)
    assert not loaded.training and type(loaded) is type(model) and loaded.config == model.config
    x, y = torch.rand(7, 1, 28, 28), torch.randint(0, 10, (7,))
    z = torch.randn(7, 2)
    assert torch.equal(loaded.encode(x, y), model.encode(x, y))
    assert torch.equal(loaded.decode(z, y), model.decode(z, y))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    config = json.loads((folder / "config.json").read_text())
    assert config["format_version"] == 1 and config["model"] == model.config.to_dict()
    assert config["model"]["likelihood"] == likelihood and config["model"]["beta"] == 2.0
    assert config["training"] == {"epochs": 1} and config["dataset"] == {"name": "mnist"}
    assert read_metrics(folder) == {"test_recon_nll": 1.5}


def test_a_config_from_before_the_model_zoo_still_loads(model, tmp_path):
    folder = save_checkpoint(model, tmp_path / "old")
    config = json.loads((folder / "config.json").read_text())
    config["model"] = {k: config["model"][k] for k in ("kind", "latent_dim", "hidden_dims", "likelihood")}
    (folder / "config.json").write_text(json.dumps(config))
    loaded = load_checkpoint(folder)
    assert loaded.config.arch == "mlp" and loaded.config.beta == 1.0
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(loaded.encode(x), model.encode(x))


def test_write_metrics_replaces_the_file_atomically(model, tmp_path):
    folder = save_checkpoint(model, tmp_path / "ckpt", metrics={"a": 1})
    write_metrics(folder, {"a": 2, "b": [1.5]})
    assert read_metrics(folder) == {"a": 2, "b": [1.5]}
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "metrics.json", "model.safetensors"]
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        write_metrics(tmp_path, {"a": 3})


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_in_place_of_weights_is_refused(model, tmp_path):
    folder = save_checkpoint(model, tmp_path / "ckpt")
    marker = tmp_path / "code-ran"
    (folder / "model.safetensors").write_bytes(pickle.dumps({"w": _Exploit(str(marker))}))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(folder)
    assert not marker.exists()
    torch.save(model.state_dict(), folder / "model.safetensors")  # torch's pickle-in-zip format
    with pytest.raises(CheckpointError):
        load_checkpoint(folder)


def test_missing_partial_or_unknown_checkpoints_raise_clear_errors(model, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    folder = save_checkpoint(model, tmp_path / "ckpt")
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="has no model.safetensors"):
        load_checkpoint(folder)
    folder = save_checkpoint(model, tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format_version 99"):
        load_checkpoint(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(folder)
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match="has no config.json"):
        load_checkpoint(folder)


def test_weights_that_do_not_match_the_config_are_refused(model, tmp_path):
    folder = save_checkpoint(model, tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    config["model"]["latent_dim"] = 5
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(folder)


def test_interrupted_save_leaves_the_old_checkpoint_intact(model, tmp_path, monkeypatch):
    folder = save_checkpoint(model, tmp_path / "ckpt", metrics={"run": 1})

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_module, "_write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(model, folder, metrics={"run": 2})
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(model, tmp_path / "fresh")
    assert read_metrics(folder) == {"run": 1}
    torch.testing.assert_close(load_checkpoint(folder).state_dict(), model.state_dict())  # the first save
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no partial or temporary folders
