import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from train.models import VAE, AutoEncoder, ModelConfig, build_model
from train.objectives import bernoulli_nll, gaussian_kl, reparameterize


@pytest.fixture(params=["ae", "vae"])
def model(request):
    torch.manual_seed(0)
    return build_model(ModelConfig(kind=request.param, latent_dim=3, hidden_dims=(32, 16)))


def test_api_shapes_and_ranges(model):
    x = torch.rand(5, 1, 28, 28)
    z = model.encode(x)
    assert z.shape == (5, 3) and z.dtype == torch.float32
    images = model.decode(z)
    assert images.shape == (5, 1, 28, 28)
    assert images.min() >= 0 and images.max() <= 1
    out = model(x)
    assert out.recon_logits.shape == (5, 1, 28, 28) and out.z.shape == (5, 3)
    terms = model.objective(x)
    for t in (terms.loss, terms.recon, terms.kl):
        assert t.shape == (5,) and torch.isfinite(t).all()
    torch.testing.assert_close(terms.loss, terms.recon + terms.kl)


def test_kinds_build_the_right_class():
    assert isinstance(build_model(ModelConfig(kind="ae")), AutoEncoder)
    assert isinstance(build_model(ModelConfig(kind="vae")), VAE)


def test_vae_posterior_and_eval_mode_is_deterministic():
    vae = build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(16,))).eval()
    x = torch.rand(4, 1, 28, 28)
    mu, logvar = vae.posterior(x)
    assert mu.shape == logvar.shape == (4, 2)
    torch.testing.assert_close(vae.encode(x), mu)
    torch.testing.assert_close(vae(x).z, mu)  # eval mode decodes the posterior mean
    vae.train()
    assert not torch.equal(vae(x).z, mu)  # training mode samples z ~ q(z|x)


def test_ae_kl_is_zero():
    ae = build_model(ModelConfig(kind="ae", hidden_dims=(16,)))
    assert torch.equal(ae.objective(torch.rand(3, 1, 28, 28)).kl, torch.zeros(3))


def test_gaussian_kl_matches_hand_computed_value():
    # mu = (1, 0), sigma^2 = (1, 4): KL = 1/2 * [(1 + 1 - 1 - 0) + (4 + 0 - 1 - log 4)]
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    expected = 0.5 * ((1 + 1 - 1 - 0) + (4 + 0 - 1 - math.log(4.0)))
    assert gaussian_kl(mu, logvar).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.3068528, rel=1e-6)


def test_gaussian_kl_matches_torch_distributions():
    torch.manual_seed(1)
    mu, logvar = torch.randn(6, 4), torch.randn(6, 4)
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(gaussian_kl(mu, logvar), kl_divergence(q, p).sum(-1))
    assert (gaussian_kl(mu, logvar) >= 0).all()
    assert gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0


def test_bernoulli_nll_matches_torch_distributions():
    torch.manual_seed(2)
    logits = torch.randn(3, 1, 28, 28)
    x = torch.randint(0, 2, (3, 1, 28, 28)).float()
    expected = -Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_nll(logits, x), expected)


def test_reparameterize_has_the_right_moments_and_gradients():
    torch.manual_seed(3)
    mu = torch.full((20000, 1), 2.0, requires_grad=True)
    logvar = torch.full((20000, 1), math.log(0.25), requires_grad=True)
    z = reparameterize(mu, logvar)
    assert z.mean().item() == pytest.approx(2.0, abs=0.02)
    assert z.std().item() == pytest.approx(0.5, abs=0.02)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None


def test_gradient_steps_lower_the_loss(model):
    torch.manual_seed(4)
    x = (torch.rand(16, 1, 28, 28) > 0.7).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    before = model.objective(x).loss.mean().item()
    for _ in range(30):
        loss = model.objective(x).loss.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.objective(x).loss.mean().item() < before - 50


@pytest.mark.parametrize("bad", [dict(kind="gan"), dict(latent_dim=0), dict(hidden_dims=()),
                                 dict(likelihood="gaussian")])
def test_invalid_config_is_refused(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)
