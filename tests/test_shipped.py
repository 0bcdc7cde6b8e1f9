"""The checkpoints that ship in the repo: present, loadable, matching their recipes and metrics."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.testdata import load_test_set
from train import load_checkpoint, read_config, read_metrics
from train.checkpoint import FRAMES_FILE
from train.data import toy_gaussians
from train.evaluate import mean_objective
from train.frames import FRAME_INPUTS, MAX_FRAMES_BYTES, read_frames
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


FRAMED = sorted(name for name, recipe in SHIPPED.items() if recipe.frames_to_record())


def test_frames_ship_for_the_2d_mnist_ae_dae_vae_beta_vae_and_the_toy_models():
    assert FRAMED == ["mnist-ae-2d", "mnist-betavae-2d", "mnist-dae-2d", "mnist-vae-2d", "toy-ae-1d",
                      "toy-vae-1d"]
    assert {name for name in SHIPPED if (CHECKPOINTS / name / FRAMES_FILE).exists()} == set(FRAMED)


@pytest.mark.parametrize("name", FRAMED)
def test_shipped_frames_end_with_the_shipped_models_codes_of_their_digits(name):
    recipe, folder = SHIPPED[name], CHECKPOINTS / name
    assert (folder / FRAMES_FILE).stat().st_size <= MAX_FRAMES_BYTES
    frames = read_frames(folder)
    config, metrics = read_config(folder), read_metrics(folder)
    steps = metrics["epochs"] * math.ceil(config["dataset"]["n_train"] / recipe.batch_size)
    assert frames.n_frames == recipe.frames_to_record() and frames.step[0] == 0 and frames.step[-1] == steps
    assert frames.n_inputs == FRAME_INPUTS
    if recipe.dataset == "toy-gaussians":
        data = toy_gaussians()
        inputs, labels = data.test_x, data.test_y.numpy()
    else:
        inputs, labels = load_test_set(recipe.dataset)
    assert np.array_equal(frames.label, labels[frames.index])
    assert len(set(np.bincount(frames.label).tolist())) == 1  # class-balanced
    with torch.no_grad():
        codes = load_checkpoint(folder).encode(inputs[frames.index]).numpy()
    np.testing.assert_allclose(frames.codes[-1].astype(np.float32), codes, rtol=2**-11, atol=1e-6)
