import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, ContinuousBernoulli, Independent, Normal, kl_divergence

from train.models import (
    ARCHS,
    LIKELIHOODS,
    MODEL_KINDS,
    VAE,
    AutoEncoder,
    ConditionalVAE,
    DenoisingAutoEncoder,
    ModelConfig,
    build_model,
)
from train.objectives import (
    bernoulli_nll,
    continuous_bernoulli_log_norm,
    continuous_bernoulli_mean,
    continuous_bernoulli_nll,
    diagonal_normal_log_density,
    gaussian_kl,
    gaussian_nll,
    reparameterize,
    standard_normal_log_density,
)

# Every kind x architecture x likelihood, small enough to run in milliseconds.
COMBINATIONS = [(k, a, lik) for k in MODEL_KINDS for a in ARCHS for lik in LIKELIHOODS]


def small_config(kind="vae", arch="mlp", likelihood="bernoulli", latent_dim=3, **kw) -> ModelConfig:
    hidden = (4, 8, 16) if arch == "conv" else (32, 16)
    return ModelConfig(kind=kind, arch=arch, likelihood=likelihood, latent_dim=latent_dim, hidden_dims=hidden,
                       **kw)


@pytest.fixture(params=["ae", "vae"])
def model(request):
    torch.manual_seed(0)
    return build_model(ModelConfig(kind=request.param, latent_dim=3, hidden_dims=(32, 16)))


@pytest.mark.parametrize("kind,arch,likelihood", COMBINATIONS)
def test_every_combination_has_the_shared_api(kind, arch, likelihood):
    torch.manual_seed(0)
    model = build_model(small_config(kind, arch, likelihood))
    x, y = torch.rand(5, 1, 28, 28), torch.randint(0, 10, (5,))
    z = model.encode(x, y)
    assert z.shape == (5, 3) and z.dtype == torch.float32
    images = model.decode(z, y)
    assert images.shape == (5, 1, 28, 28) and torch.isfinite(images).all()
    if "bernoulli" in likelihood:
        assert images.min() >= 0 and images.max() <= 1
    out = model(x, y)
    n_params = 2 if likelihood == "gaussian-learned" else 1
    assert out.decoder_out.shape == (5, n_params, 28, 28) and out.z.shape == (5, 3)
    for n_samples in (1, 3):
        terms = model.train().objective(x, y, n_samples=n_samples)
        for t in (terms.loss, terms.recon, terms.kl):
            assert t.shape == (5,) and torch.isfinite(t).all()
        torch.testing.assert_close(terms.loss, terms.recon + terms.kl)
    assert (terms.kl > 0).all() if model.config.variational else torch.equal(terms.kl, torch.zeros(5))


@pytest.mark.parametrize("kind,arch,likelihood", COMBINATIONS)
def test_a_few_gradient_steps_lower_the_loss_on_a_tiny_batch(kind, arch, likelihood):
    torch.manual_seed(4)
    model = build_model(small_config(kind, arch, likelihood, noise_level=0.2)).train()
    x, y = (torch.rand(16, 1, 28, 28) > 0.7).float(), torch.randint(0, 10, (16,))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss() -> torch.Tensor:
        torch.manual_seed(5)  # the same noise draws before and after, so only the weights differ
        return model.objective(x, y, n_samples=2).loss.mean()

    before = loss().item()
    for _ in range(15):
        value = model.objective(x, y).loss.mean()
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    assert loss().item() < before


def test_kinds_build_the_right_class():
    assert isinstance(build_model(ModelConfig(kind="ae")), AutoEncoder)
    assert isinstance(build_model(ModelConfig(kind="dae")), DenoisingAutoEncoder)
    assert isinstance(build_model(ModelConfig(kind="vae")), VAE)
    assert isinstance(build_model(ModelConfig(kind="cvae")), ConditionalVAE)


def test_cvae_needs_labels_and_uses_them():
    torch.manual_seed(0)
    cvae = build_model(small_config("cvae")).eval()
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="needs labels"):
        cvae.decode(z)
    with pytest.raises(ValueError, match="labels y must be"):
        cvae.decode(z, torch.tensor([0, 10]))
    a, b = cvae.decode(z, torch.tensor([3, 3])), cvae.decode(z, torch.tensor([3, 7]))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])  # same z, different class
    onehot = torch.nn.functional.one_hot(torch.tensor([3, 7]), 10).float()
    torch.testing.assert_close(cvae.decode(z, onehot), b)


def test_dae_corrupts_in_training_only():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 28, 28) * 0.9 + 0.1
    dae = build_model(small_config("dae", noise="mask", noise_level=0.3))
    masked = dae.corrupt(x)
    assert (masked == 0).float().mean().item() == pytest.approx(0.3, abs=0.02)
    assert torch.equal(masked[masked != 0], x[masked != 0])
    gauss = build_model(small_config("dae", noise="gaussian", noise_level=0.2)).corrupt(x)
    assert gauss.min() >= 0 and gauss.max() <= 1 and not torch.equal(gauss, x)
    # Eval mode scores clean inputs, exactly like the plain AE path.
    dae.eval()
    clean = dae.reconstruct(x).nll
    torch.testing.assert_close(dae.objective(x).loss, clean)
    dae.train()
    assert not torch.equal(dae.objective(x).loss, clean)


@pytest.mark.parametrize("kind", ["ae", "cvae"])
def test_reconstruction_scores_several_latents_per_input_like_one_at_a_time(kind):
    torch.manual_seed(0)
    model = build_model(small_config(kind)).eval()
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 3, 9, 3, 1])
    z = torch.randn(4, 5, model.latent_dim)  # S = 4 latents for each of the N = 5 inputs
    many = model.reconstruction(z, x, y)
    assert many.nll.shape == (4, 5) and many.mean.shape == (4, 5, 1, 28, 28)
    for s in range(4):
        one = model.reconstruction(z[s], x, y)
        torch.testing.assert_close(many.nll[s], one.nll)
        torch.testing.assert_close(many.mean[s], model.decode(z[s], y))
    # reconstruct: through the encoder's location, scored against x or another target.
    through = model.reconstruct(x, y)
    torch.testing.assert_close(through.mean, model.decode(model.encode(x, y), y))
    target = torch.rand(5, 1, 28, 28)
    assert not torch.allclose(model.reconstruct(x, y, target=target).nll, through.nll)


def test_beta_only_weights_the_training_loss():
    torch.manual_seed(0)
    vae = build_model(small_config("vae", beta=4.0))
    torch.manual_seed(1)
    terms = vae.objective(torch.rand(4, 1, 28, 28))
    torch.testing.assert_close(terms.loss, terms.recon + terms.kl)  # the ELBO, whatever beta is
    torch.testing.assert_close(terms.training_loss(4.0), terms.recon + 4.0 * terms.kl)
    assert vae.config.describe().startswith("β-VAE (β = 4), mlp, d = 3")
    assert vae.config.label == "β-VAE (β = 4)"
    assert [small_config(k).label for k in ("ae", "dae", "vae", "cvae")] == ["AE", "DAE", "VAE", "CVAE"]
    assert small_config("dae").describe().startswith("denoising autoencoder, mlp")


def test_toy_data_shape_models():
    torch.manual_seed(0)
    for kind in MODEL_KINDS:
        model = build_model(ModelConfig(kind=kind, latent_dim=1, hidden_dims=(8,), data_shape=(2,),
                                        likelihood="gaussian-learned", n_classes=2))
        x, y = torch.randn(6, 2), torch.randint(0, 2, (6,))
        assert model.encode(x, y).shape == (6, 1) and model.decode(torch.zeros(6, 1), y).shape == (6, 2)
        assert torch.isfinite(model.objective(x, y).loss).all()


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
    # Our max(l, 0) - x l + log(1 + e^-|l|) matches PyTorch's BCE, also for grey-level targets and
    # large logits, and its hand-written gradient sigmoid(l) - x matches finite differences.
    logits = torch.cat([torch.randn(3, 780) * 6, torch.tensor([[-90.0, -20.0, 30.0, 0.0]] * 3)], dim=1)
    x = torch.rand(3, 784)
    reference = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    torch.testing.assert_close(bernoulli_nll(logits, x), reference, rtol=1e-5, atol=2e-3)
    logits64 = (torch.randn(4, 30, dtype=torch.float64) * 3).requires_grad_(True)
    x64 = torch.rand(4, 30, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(bernoulli_nll, (logits64, x64))
    bf16 = bernoulli_nll(logits.bfloat16(), x)  # autocast hands over bf16 logits: computed in fp32
    assert bf16.dtype == torch.float32


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


def test_continuous_bernoulli_matches_torch_distributions():
    torch.manual_seed(6)
    logits = torch.cat([torch.randn(3, 200) * 4, torch.full((3, 1), 1e-4), torch.zeros(3, 1)], dim=1)
    x = torch.rand(3, 202)
    expected = -Independent(ContinuousBernoulli(logits=logits), 1).log_prob(x)
    torch.testing.assert_close(continuous_bernoulli_nll(logits, x), expected, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(continuous_bernoulli_mean(logits), ContinuousBernoulli(logits=logits).mean,
                               rtol=1e-4, atol=1e-4)


def test_continuous_bernoulli_normaliser_is_stable_near_one_half():
    # log C(lambda) is log 2 at lambda = 1/2 and smooth around it: no cancellation blow-up.
    logits = torch.tensor([-2e-2, -1e-2, -1e-3, -1e-6, 0.0, 1e-6, 1e-3, 1e-2, 2e-2])
    log_c = continuous_bernoulli_log_norm(logits)
    assert torch.isfinite(log_c).all()
    exact = torch.log(logits.double() / torch.tanh(logits.double() / 2)).float()
    exact[4] = math.log(2.0)
    torch.testing.assert_close(log_c, exact, atol=1e-6, rtol=0)
    # It integrates to one: the density on a fine grid of [0, 1] sums to 1.
    grid = (torch.arange(20000) + 0.5) / 20000
    for lam in (0.05, 0.3, 0.5 + 1e-5, 0.9):
        logit = torch.full_like(grid, math.log(lam / (1 - lam)))
        density = torch.exp(-continuous_bernoulli_nll(logit[:, None], grid[:, None]))
        assert density.mean().item() == pytest.approx(1.0, abs=1e-3)


def test_gaussian_log_densities_match_torch_distributions():
    torch.manual_seed(7)
    mean, logvar, x = torch.randn(4, 1, 5, 5), torch.randn(4, 1, 5, 5), torch.randn(4, 1, 5, 5)
    expected = -Normal(mean, torch.exp(0.5 * logvar)).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_nll(mean, logvar, x), expected)
    sigma = 0.1  # fixed sigma: a true density with the D/2 log(2 pi sigma^2) constant, not an MSE
    expected = -Normal(mean, sigma).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_nll(mean, 2 * math.log(sigma), x), expected)
    z, mu, lv = torch.randn(6, 3), torch.randn(6, 3), torch.randn(6, 3)
    torch.testing.assert_close(diagonal_normal_log_density(z, mu, lv),
                               Normal(mu, torch.exp(0.5 * lv)).log_prob(z).sum(-1))
    torch.testing.assert_close(standard_normal_log_density(z), Normal(0.0, 1.0).log_prob(z).sum(-1))


@pytest.mark.parametrize("bad", [dict(kind="gan"), dict(latent_dim=0), dict(hidden_dims=()),
                                 dict(likelihood="poisson"), dict(arch="transformer"),
                                 dict(arch="conv", hidden_dims=(8, 8)), dict(sigma=0.0), dict(beta=-1.0),
                                 dict(noise="salt"), dict(noise="mask", noise_level=1.0),
                                 dict(arch="conv", hidden_dims=(4, 8, 16), data_shape=(2,))])
def test_invalid_config_is_refused(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_samples_of_p_x_given_z_average_to_its_mean(likelihood):
    torch.manual_seed(8)
    model = build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(8,), data_shape=(6,),
                                    likelihood=likelihood, sigma=0.3)).eval()
    z = torch.randn(3, 2).repeat_interleave(4000, dim=0)  # 3 latents, 4000 draws each
    with torch.no_grad():
        draws = model.sample_x(z, generator=torch.Generator().manual_seed(0)).view(3, 4000, 6)
        mean = model.decode(z).view(3, 4000, 6)[:, 0]
    torch.testing.assert_close(draws.mean(1), mean, atol=0.05, rtol=0)
    if "bernoulli" in likelihood:
        assert draws.min() >= 0 and draws.max() <= 1
