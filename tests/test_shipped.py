"""The checkpoints that ship in the repo: present, loadable, matching their recipes and metrics."""

import json
from pathlib import Path

import pytest
import torch

from explorer.testdata import load_test_set
from train import load_checkpoint, read_config, read_metrics
from train.evaluate import mean_objective
from train.retrain import SHIPPED

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def test_the_checkpoint_folder_holds_every_shipped_model_and_stays_small():
    names = {p.name for p in CHECKPOINTS.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert names == set(SHIPPED)
    size = sum(f.stat().st_size for f in CHECKPOINTS.rglob("*") if f.is_file())
    assert size < 40e6


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_matches_its_recipe_and_has_full_metrics(name):
    recipe = SHIPPED[name]
    config, metrics = read_config(CHECKPOINTS / name), read_metrics(CHECKPOINTS / name)
    model = config["model"]
    wanted = recipe.model
    assert (model["kind"], model["latent_dim"], model["likelihood"]) == (wanted.kind, wanted.latent_dim,
                                                                         wanted.likelihood)
    assert model["beta"] == recipe.model.beta and config["dataset"]["name"] == recipe.dataset
    assert config["training"]["seed"] == recipe.seed and len(metrics["history"]) == recipe.epochs
    if recipe.model.variational:
        assert metrics["iwae_k"] == 1000 and metrics["elbo_samples"] == 10
        # The IWAE bound is at least the ELBO: its NLL is at most the negative ELBO.
        assert metrics["test_iwae_nll"] <= metrics["test_negative_elbo"]
        assert metrics["test_negative_elbo"] == pytest.approx(metrics["test_recon_nll"] + metrics["test_kl"])
        assert 0 < metrics["active_units"] <= recipe.model.latent_dim
    else:
        assert "test_recon_nll" in metrics
    load_checkpoint(CHECKPOINTS / name)  # weights match the config


def test_the_2d_mnist_vae_meets_its_target_and_its_weights_give_its_metrics():
    metrics = json.loads((CHECKPOINTS / "mnist-vae-2d" / "metrics.json").read_text())
    assert metrics["test_negative_elbo"] <= 140.0
    # Re-estimate the ELBO on the first 2,000 test digits (which ship with the explorer).
    model = load_checkpoint(CHECKPOINTS / "mnist-vae-2d")
    images, _ = load_test_set()
    torch.manual_seed(0)
    estimate = mean_objective(model, images[:2000], n_samples=10)["loss"]
    assert estimate == pytest.approx(metrics["test_negative_elbo"], abs=3.0)
