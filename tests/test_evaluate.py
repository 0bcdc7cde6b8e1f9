import json
import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal

from train import build_model, load_checkpoint
from train.data import MNIST_CLASSES, ImageSplits, images_dataset
from train.evaluate import (
    evaluate_checkpoint,
    evaluate_model,
    iwae_log_likelihood,
    log_importance_weights,
    main,
    posterior_statistics,
)
from train.models import ModelConfig
from train.trainer import TrainConfig, train

from .conftest import fake_digits


@pytest.fixture(scope="module")
def trained_vae(tmp_path_factory):
    """A tiny VAE trained for a few epochs on fabricated digits, saved as a checkpoint."""
    train_x, train_y = fake_digits(256, seed=1)
    test_x, test_y = fake_digits(64, seed=2)
    splits = ImageSplits(torch.from_numpy(train_x), torch.from_numpy(train_y), torch.from_numpy(test_x),
                         torch.from_numpy(test_y), source="fabricated")
    data = images_dataset("mnist", splits, MNIST_CLASSES)
    out = tmp_path_factory.mktemp("ckpt") / "vae"
    config = TrainConfig.of(kind="vae", latent_dim=2, hidden_dims=(64,), epochs=8, batch_size=32, lr=3e-3,
                            iwae_samples=0, progress=False, device="cpu", out=str(out))
    return train(config, data=data), data


def test_iwae_with_one_sample_is_the_elbo_on_the_same_draw():
    torch.manual_seed(0)
    vae = build_model(ModelConfig(kind="vae", latent_dim=3, hidden_dims=(32,))).eval()
    x = (torch.rand(6, 1, 28, 28) > 0.5).float()
    eps = torch.randn(1, 6, 3)
    log_w = log_importance_weights(vae, x, None, eps)[0]
    # The single-sample ELBO estimate, computed independently with torch.distributions:
    # log p(x|z) + log p(z) - log q(z|x) at z = mu + sigma * eps.
    mu, logvar = vae.posterior(x)
    z = mu + torch.exp(0.5 * logvar) * eps[0]
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    likelihood = Independent(Bernoulli(logits=vae.decoder(z)), 3)
    elbo = likelihood.log_prob(x) + p.log_prob(z) - q.log_prob(z)
    torch.testing.assert_close(log_w, elbo.detach(), rtol=1e-5, atol=1e-3)


def test_iwae_bound_with_k_1_averages_to_the_closed_form_elbo():
    torch.manual_seed(1)
    vae = build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(16,))).eval()
    x = torch.rand(4, 1, 28, 28)
    single = torch.stack([iwae_log_likelihood(vae, x, k=1, seed=s) for s in range(400)]).mean(0)
    torch.manual_seed(2)
    closed_form = -vae.objective(x, n_samples=400).loss.detach().double()
    torch.testing.assert_close(single, closed_form, rtol=0, atol=0.5)


def test_iwae_is_at_least_the_elbo_and_grows_with_k(trained_vae):
    result, data = trained_vae
    model, x = result.model, data.test_x
    torch.manual_seed(3)
    elbo = -model.objective(x, n_samples=200).loss.detach().double().mean().item()
    bounds = {k: iwae_log_likelihood(model, x, k=k, seed=4).mean().item() for k in (1, 10, 100)}
    assert bounds[1] == pytest.approx(elbo, abs=1.0)
    assert bounds[10] > elbo and bounds[100] > bounds[10]


def test_iwae_does_not_depend_on_the_chunking(trained_vae, monkeypatch):
    import train.evaluate as evaluate_module

    result, data = trained_vae
    x = data.test_x[:5]
    full = iwae_log_likelihood(result.model, x, k=64, seed=0)
    monkeypatch.setattr(evaluate_module, "SAMPLES_PER_FORWARD", 8)  # 1 input per forward pass
    small = iwae_log_likelihood(result.model, x, k=64, seed=0)
    torch.testing.assert_close(small, full, rtol=0, atol=2.0)  # different draws, same estimate
    assert torch.isfinite(small).all()


def test_active_units_count_dimensions_whose_mean_varies():
    torch.manual_seed(0)
    vae = build_model(ModelConfig(kind="vae", latent_dim=3, hidden_dims=(8,))).eval()

    def posterior(x, y=None):  # dimension 0 varies with x, dimensions 1 and 2 do not
        mu = torch.zeros(x.shape[0], 3)
        mu[:, 0] = x.flatten(1).mean(1) * 10
        return mu, torch.zeros_like(mu)

    vae.posterior = posterior
    stats = posterior_statistics(vae, torch.rand(500, 1, 28, 28))
    assert stats["active_units"] == 1 and len(stats["kl_per_dim"]) == 3
    assert stats["kl_per_dim"][1] == pytest.approx(0.0)


def test_evaluate_model_reports_elbo_iwae_and_bits_per_dim(trained_vae):
    result, data = trained_vae
    m = evaluate_model(result.model, data.test_x, data.test_y, k=50, elbo_samples=20, seed=0)
    assert m["test_negative_elbo"] == pytest.approx(m["test_recon_nll"] + m["test_kl"])
    assert m["test_iwae_nll"] < m["test_negative_elbo"]  # the IWAE bound is tighter
    assert m["test_iwae_bits_per_dim"] == pytest.approx(m["test_iwae_nll"] / (784 * math.log(2)))
    assert m["iwae_k"] == 50 and m["elbo_samples"] == 20 and m["seed"] == 0
    again = evaluate_model(result.model, data.test_x, data.test_y, k=50, elbo_samples=20, seed=0)
    assert again["test_iwae_nll"] == m["test_iwae_nll"]  # seeded: reproducible


def test_evaluate_command_updates_metrics_json(trained_vae, monkeypatch, capsys):
    import train.evaluate as evaluate_module

    result, data = trained_vae
    monkeypatch.setattr(evaluate_module, "load_dataset", lambda name, root=None: data)
    assert main([str(result.checkpoint), "--k", "20", "--elbo-samples", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "IWAE NLL (K = 20)" in out and "active units 2 / 2" in out
    metrics = json.loads((result.checkpoint / "metrics.json").read_text())
    assert metrics["iwae_k"] == 20 and metrics["elbo_samples"] == 3 and "history" in metrics
    assert metrics["binarized"] is False
    # --no-write leaves the file alone.
    before = (result.checkpoint / "metrics.json").read_text()
    assert main([str(result.checkpoint), "--k", "5", "--no-write", "--no-progress"]) == 0
    assert (result.checkpoint / "metrics.json").read_text() == before


def test_evaluate_checkpoint_of_an_autoencoder_and_a_bad_folder(tiny_dataset, tmp_path, monkeypatch, capsys):
    import train.evaluate as evaluate_module

    monkeypatch.setattr(evaluate_module, "load_dataset", lambda name, root=None: tiny_dataset)
    config = TrainConfig.of(kind="dae", hidden_dims=(32,), epochs=1, batch_size=64, progress=False,
                            device="cpu", out=str(tmp_path / "dae"))
    folder = train(config, data=tiny_dataset).checkpoint
    metrics = evaluate_checkpoint(folder, k=10, write=False, progress=False)
    assert "test_iwae_nll" not in metrics and metrics["test_corrupted_recon_nll"] > 0
    assert load_checkpoint(folder).config.kind == "dae"
    assert main([str(tmp_path / "missing"), "--no-progress"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_evaluate_cli_reports_each_bad_folder_on_one_line_and_evaluates_the_others(tmp_path, capsys):
    from tests.bad_checkpoints import BAD_CONFIG, BAD_METRICS, FAILS_LOAD, copy_shipped, write_bad_checkpoints
    from train.evaluate import main

    bad = write_bad_checkpoints(tmp_path, base="toy-vae-1d")
    copy_shipped(tmp_path, "toy-ae-1d", "toy-vae-1d")
    folders = [str(tmp_path / name) for name in ["toy-ae-1d", *bad, "toy-vae-1d"]]
    assert main([*folders, "--k", "2", "--elbo-samples", "1", "--no-write", "--no-progress"]) == 2
    out, err = capsys.readouterr()
    errors = err.strip().splitlines()
    failing = [name for name in bad if name in BAD_CONFIG or name in FAILS_LOAD]
    assert len(errors) == len(failing)
    for name, line in zip(failing, errors, strict=True):
        assert line.startswith(f"error: {tmp_path / name}: "), line
    for name, (_, reason) in BAD_CONFIG.items():
        assert any(name in line and reason in line for line in errors), name
    # The intact folders were evaluated, the one after the bad ones too, and so were the models
    # whose metrics.json is damaged (evaluating does not need it; with --no-write it is not read).
    assert f"{tmp_path / 'toy-ae-1d'}: test reconstruction NLL" in out
    assert f"{tmp_path / 'toy-vae-1d'}: test −ELBO" in out
    for name in BAD_METRICS:
        assert f"{tmp_path / name}: test −ELBO" in out
