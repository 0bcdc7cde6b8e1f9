"""The checkpoint metadata schema (train/schema.py) and the explorer's list of checkpoints built on it."""

import json
import os

import pytest

from explorer.catalogue import list_checkpoints
from tests.bad_checkpoints import FAILS_LOAD, FAILS_SCHEMA, SHIPPED, copy_shipped, write_bad_checkpoints
from train import CheckpointError, ModelConfig
from train.models import MAX_PARAMETERS
from train.schema import check_config, check_metrics, headline, metric_lines, read_metadata


@pytest.mark.parametrize("folder", sorted(SHIPPED.iterdir()), ids=lambda p: p.name)
def test_every_shipped_checkpoint_passes_the_schema(folder):
    meta = read_metadata(folder)
    assert meta.config.dataset in ("mnist", "fashion-mnist", "toy-gaussians")
    assert meta.config.model.parameter_count() < MAX_PARAMETERS


def test_every_damaged_folder_is_listed_as_broken_with_its_reason_and_the_others_still_work(tmp_path):
    write_bad_checkpoints(tmp_path)
    copy_shipped(tmp_path, "mnist-ae-2d")
    infos = {info.name: info for info in list_checkpoints(tmp_path)}
    assert set(infos) == set(FAILS_SCHEMA) | set(FAILS_LOAD) | {"mnist-ae-2d"}
    for name, (_, reason) in FAILS_SCHEMA.items():
        info = infos[name]
        assert info.error and reason in info.error, (name, info.error)
        assert info.model_config is None and info.dataset is None and info.metrics == {}
    for name in FAILS_LOAD:  # their JSON is fine: loading them is what fails (see test_app)
        assert infos[name].error is None and infos[name].model_config.latent_dim == 2
    assert infos["mnist-ae-2d"].error is None
    recon = json.loads((tmp_path / "mnist-ae-2d" / "metrics.json").read_text())["test_recon_nll"]
    assert headline(infos["mnist-ae-2d"].metrics) == f"recon NLL {recon:.1f} nats"  # from its metrics.json


def test_model_config_refuses_wrong_types_and_huge_networks_before_allocating():
    for fields, reason in [
        ({"latent_dim": 2.5}, "latent_dim must be a whole number"),
        ({"latent_dim": True}, "latent_dim must be a whole number"),
        ({"hidden_dims": "512"}, "hidden_dims must be a list"),
        ({"hidden_dims": [512, 2.0]}, "each of hidden_dims must be a whole number"),
        ({"kind": None}, "kind must be a string"),
        ({"beta": float("inf")}, "beta must be a finite number"),
        ({"hidden_dims": [100000, 100000]}, "the cap is 50,000,000"),
        ({"data_shape": [1, 100000, 100000]}, "beyond the 50,000,000-parameter cap"),
        ({"latent_dim": 10**12}, "beyond the 50,000,000-parameter cap"),
        ({"hidden_dims": [8] * 40}, "at most 16 hidden layers"),
    ]:
        with pytest.raises(ValueError, match=reason):
            ModelConfig(**fields)
    # The count is exact: the 784-512-256-2 VAE's weights, as built.
    assert ModelConfig().parameter_count() == 1_068_820


def test_metrics_schema_checks_types_ranges_and_parts_reported_together():
    vae = ModelConfig()
    good = json.loads((SHIPPED / "mnist-vae-2d" / "metrics.json").read_text())
    assert check_metrics(good, vae) is good
    assert check_metrics({}, vae) == {}  # a model saved without metrics: "no test metrics"
    for change, reason in [
        ({"test_kl": "5"}, "'test_kl' must be a finite number"),
        ({"active_units": 3}, "at most the latent size 2"),
        ({"iwae_k": 0}, "'iwae_k' must be >= 1"),
        ({"binarized": "no"}, "'binarized' must be true or false"),
        ({"corruption": {"noise": "mask", "level": "high"}}, "'corruption'"),
        ({"history": [{"epoch": 1, "train_loss": 1.0}]}, "'history'"),
        ({"mean_variance_per_dim": [1.0, -0.5]}, "'mean_variance_per_dim' [1] must be >= 0"),
    ]:
        with pytest.raises(CheckpointError, match=reason.replace("[", r"\[")):
            check_metrics({**good, **change}, vae)
    with pytest.raises(CheckpointError, match="'test_iwae_nll' is reported without iwae_k"):
        check_metrics({k: v for k, v in good.items() if k != "iwae_k"}, vae)


def test_config_schema_names_the_file_and_field():
    raw = json.loads((SHIPPED / "mnist-cvae-2d" / "config.json").read_text())
    config = check_config(raw)
    assert config.dataset == "mnist" and config.model.conditional and config.training["epochs"] == 30
    with pytest.raises(CheckpointError, match=r"x/config.json: 'training' must be an object"):
        check_config({**raw, "training": [1]}, "x/config.json")


def test_a_symlinked_checkpoint_is_followed_and_a_dangling_link_is_listed_as_broken(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    copy_shipped(elsewhere, "mnist-ae-2d")
    root = tmp_path / "checkpoints"
    root.mkdir()
    os.symlink(elsewhere / "mnist-ae-2d", root / "linked-ae")
    os.symlink(tmp_path / "gone", root / "dangling")
    os.symlink(SHIPPED / "mnist-ae-2d" / "config.json", root / "to-a-file")
    infos = {info.name: info for info in list_checkpoints(root)}
    assert infos["linked-ae"].error is None and infos["linked-ae"].model_config.kind == "ae"
    assert "which is not a folder" in infos["dangling"].error
    assert "which is not a folder" in infos["to-a-file"].error


def test_a_checkpoint_whose_replacement_was_killed_is_listed_again_under_its_name(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)  # a process that has exited: its leftovers may be recovered
    copy_shipped(tmp_path, "mnist-ae-2d")
    # Killed between its two renames: the old checkpoint was moved aside, the new one not yet in.
    os.rename(tmp_path / "mnist-ae-2d", tmp_path / f".mnist-ae-2d.old-{pid}-0a1b2c3d")
    infos = list_checkpoints(tmp_path)
    assert [i.name for i in infos] == ["mnist-ae-2d"] and infos[0].error is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist-ae-2d"]


def test_metric_lines_read_the_headline_metrics_once_for_every_place_that_shows_them():
    vae = json.loads((SHIPPED / "mnist-vae-2d" / "metrics.json").read_text())
    assert [str(line) for line in metric_lines(vae)] == [
        f"test −ELBO {vae['test_negative_elbo']:.2f} nats (recon {vae['test_recon_nll']:.2f} + KL "
        f"{vae['test_kl']:.2f})",
        f"IWAE NLL (K = 1000) {vae['test_iwae_nll']:.2f} nats ({vae['test_iwae_bits_per_dim']:.4f} bits/dim)",
        "active units 2 / 2 (Var(E[z]) > 0.01)"]
    dae = json.loads((SHIPPED / "mnist-dae-2d" / "metrics.json").read_text())
    assert [line.label for line in metric_lines(dae)] == ["test reconstruction NLL", "from corrupted inputs"]
    assert metric_lines(dae)[1].detail == "mask noise, level 0.3"
    assert metric_lines({}) == [] and headline({}) == "no test metrics"


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_the_parameter_count_from_sizes_matches_the_network_torch_builds(arch):
    """ModelConfig counts weights without torch (train/config.py); the count must be what
    train.models builds, for every kind, likelihood and latent size."""
    import itertools

    import torch

    from train.config import LIKELIHOODS, MODEL_KIND_NAMES
    from train.models import build_model

    hidden = [(512, 256), (64, 32, 16)] if arch == "mlp" else [(32, 64, 128), (8, 16, 24)]
    sizes = itertools.product(MODEL_KIND_NAMES, LIKELIHOODS, (1, 2, 16), hidden)
    for kind, likelihood, latent_dim, hidden_dims in sizes:
        config = ModelConfig(kind=kind, arch=arch, likelihood=likelihood, latent_dim=latent_dim,
                             hidden_dims=hidden_dims, n_classes=7)
        with torch.device("meta"):
            built = build_model(config)
        assert config.parameter_count() == sum(p.numel() for p in built.parameters()), config


def test_reading_and_checking_checkpoints_does_not_import_torch():
    """The explorer's model list reads every checkpoint's JSON through train.schema: that must not
    wait for torch (~1.5 s to import), and neither must `from train import ...` of the config names."""
    import subprocess
    import sys

    code = ("import sys; from train import CheckpointError, ModelConfig, read_config; "
            "from train.schema import read_metadata; from explorer.catalogue import list_checkpoints; "
            f"assert list_checkpoints({str(SHIPPED)!r}); print(sorted(m for m in ('torch', 'torchvision') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=SHIPPED.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
