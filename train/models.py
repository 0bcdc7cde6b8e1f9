"""One encoder / decoder family shared by every model kind, and the likelihoods p(x|z).

Kinds (``ModelConfig.kind``):

- ``ae``: deterministic autoencoder, z = encoder(x);
- ``dae``: denoising autoencoder (Vincent et al. 2008): trained to reconstruct the clean x from a
  corrupted copy (masking or additive Gaussian noise, drawn per batch on the fly);
- ``vae``: variational autoencoder (Kingma & Welling 2014, AEVB) with q(z|x) = N(mu, diag(sigma^2))
  and prior p(z) = N(0, I); ``beta`` != 1 weights the KL term in training (beta-VAE, Higgins et
  al. 2017);
- ``cvae``: conditional VAE (Sohn et al. 2015): the one-hot label y is concatenated to the encoder
  input and to z, giving q(z|x, y) and p(x|z, y).

Architectures (``arch``): ``mlp`` (widths ``hidden_dims``, decoder mirrored) or ``conv`` (two
stride-2 3x3 convolutions, a dense layer and their transposes, as in the Keras 2-D VAE example;
``hidden_dims`` = (channels 1, channels 2, dense width)).

Every model has the same API, so the explorer never branches on the kind:

- ``encode(x, y=None)``: x float32 [N, *data_shape] -> latent locations float32 [N, d]
  (for the VAE family, the posterior mean);
- ``decode(z, y=None)``: z float32 [N, d] -> the mean of p(x|z), float32 [N, *data_shape]
  (in [0, 1] for the Bernoulli likelihoods);
- ``forward(x, y=None)`` -> ``ModelOutput``; ``objective(x, y=None, n_samples=1)`` -> ``LossTerms``
  per input in nats.

The VAE family adds ``posterior(x, y=None)`` -> (mu, logvar), each [N, d]. Labels y (int64 [N]) are
required by the CVAE and ignored by the other kinds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .config import (  # noqa: F401 (re-exported: train.models has always offered them)
    ARCHS,
    IMAGE_SHAPE,
    LIKELIHOOD_OUTPUTS,
    LIKELIHOODS,
    MAX_LATENT_DIM,
    MAX_LAYERS,
    MAX_PARAMETERS,
    MODEL_KIND_NAMES,
    NOISES,
    ModelConfig,
)
from .objectives import (
    bernoulli_nll,
    continuous_bernoulli_mean,
    continuous_bernoulli_nll,
    gaussian_kl,
    gaussian_nll,
    reparameterize,
)

# Bounds of the learned Gaussian decoder's log-variance: sigma in [0.01, e] (for stability).
LOGVAR_MIN, LOGVAR_MAX = 2 * math.log(0.01), 2.0


@dataclass
class ModelOutput:
    """What ``forward`` returns, for every model kind.

    decoder_out: float [N, k * C, ...] the decoder's raw output, the parameters of p(x|z): logits
        (k = 1) for the Bernoulli likelihoods, the mean (k = 1) or mean and raw log-variance
        (k = 2, stacked on dim 1) for the Gaussian ones
    z: float [N, d] the latent that was decoded (a sample from q(z|x) for the VAE family in
       training mode, its mean in eval mode)
    mu, logvar: float [N, d] posterior parameters (None for the AE and DAE)
    """

    decoder_out: torch.Tensor
    z: torch.Tensor
    mu: torch.Tensor | None = None
    logvar: torch.Tensor | None = None


@dataclass
class LossTerms:
    """Per-input objective in nats: ``loss = recon + kl`` (kl is zero for the AE and DAE).

    loss, recon, kl: float [N]. For the VAE family ``loss`` is the negative ELBO, whatever beta is;
    ``training_loss(weight)`` gives the beta-weighted loss that is minimised.
    """

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        if self.kl is None:
            self.kl = torch.zeros_like(self.recon)

    def training_loss(self, kl_weight: float) -> torch.Tensor:
        """recon + kl_weight * kl, float [N] (kl_weight = beta, times a warm-up factor)."""
        return self.recon + kl_weight * self.kl if kl_weight != 1 else self.loss


@dataclass
class Reconstruction:
    """p(x|z) at given latents, scored against given targets (``LatentModel.reconstruction``).

    nll: float [N] (or [S, N] for S latents per input) -log p(x|z) summed over x's values, in nats;
    params: the decoder's output, the parameters of p(x|z), [N or S*N, k * C, ...].
    ``mean`` is E[x|z], float [N or S, N, *data_shape] (in [0, 1] for the Bernoulli likelihoods),
    computed only when asked for.
    """

    nll: torch.Tensor
    params: torch.Tensor
    likelihood: Likelihood

    @property
    def mean(self) -> torch.Tensor:
        mean = self.likelihood.mean(self.params)
        return mean.view(*self.nll.shape, *mean.shape[1:])


# --- Likelihoods p(x|z): how the decoder's output parameterises the distribution of x.


class Likelihood:
    """p(x|z) given the decoder's output. ``n_params`` outputs per input value; ``support``, the
    values x may take, (low, high), or None for any real number."""

    n_params = 1
    support: tuple[float, float] | None = None

    @classmethod
    def from_config(cls, config: ModelConfig) -> Likelihood:
        """The likelihood with the settings of ``config`` (e.g. the fixed Gaussian's sigma)."""
        return cls()

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """out: decoder output [N, k * C, ...]; x: [N, C, ...]. returns: [N] -log p(x|z) in nats."""
        raise NotImplementedError

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """E[x|z], float [N, C, ...]."""
        raise NotImplementedError

    def sample(self, out: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw x ~ p(x|z) per input, float [N, C, ...]."""
        raise NotImplementedError


class Bernoulli(Likelihood):
    """Independent Bernoulli pixels with probabilities sigmoid(logits); the mean is sigmoid(logits)."""

    support = (0.0, 1.0)

    def nll(self, out, x):
        return bernoulli_nll(out, x)

    def mean(self, out):
        return torch.sigmoid(out)

    def sample(self, out, generator=None):
        return torch.bernoulli(torch.sigmoid(out), generator=generator)


class ContinuousBernoulli(Likelihood):
    """The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019): a proper density on [0, 1]."""

    support = (0.0, 1.0)

    def nll(self, out, x):
        return continuous_bernoulli_nll(out, x)

    def mean(self, out):
        return continuous_bernoulli_mean(out)

    def sample(self, out, generator=None):
        """Inverse CDF: x = log(1 + u (e^l - 1)) / l for u ~ U(0, 1) (x = u at l = 0)."""
        u = torch.rand(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        small = out.abs() < 1e-4
        safe = torch.where(small, torch.ones_like(out), out)
        return torch.where(small, u, torch.log1p(u * torch.expm1(safe)) / safe).clamp(0.0, 1.0)


class FixedGaussian(Likelihood):
    """N(x; mean, sigma^2 I) with a fixed sigma.

    -log p = |x - mean|^2 / (2 sigma^2) + D/2 log(2 pi sigma^2): a log-density, not a bare MSE.
    """

    def __init__(self, sigma: float):
        self.logvar = 2.0 * math.log(sigma)

    @classmethod
    def from_config(cls, config: ModelConfig) -> FixedGaussian:
        return cls(config.sigma)

    def nll(self, out, x):
        return gaussian_nll(out, self.logvar, x)

    def mean(self, out):
        return out

    def sample(self, out, generator=None):
        noise = torch.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        return out + math.exp(0.5 * self.logvar) * noise


class LearnedGaussian(Likelihood):
    """N(x; mean(z), diag(sigma(z)^2)) with a bounded learned variance.

    log sigma^2 = LOGVAR_MIN + (LOGVAR_MAX - LOGVAR_MIN) * sigmoid(raw), so sigma is in [0.01, e].
    """

    n_params = 2

    @staticmethod
    def split(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """decoder output [N, 2C, ...] -> (mean, bounded logvar), each [N, C, ...]."""
        mean, raw = out.chunk(2, dim=1)
        return mean, LOGVAR_MIN + (LOGVAR_MAX - LOGVAR_MIN) * torch.sigmoid(raw)

    def nll(self, out, x):
        mean, logvar = self.split(out)
        return gaussian_nll(mean, logvar, x)

    def mean(self, out):
        return self.split(out)[0]

    def sample(self, out, generator=None):
        mean, logvar = self.split(out)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + torch.exp(0.5 * logvar) * noise


LIKELIHOOD_TYPES: dict[str, type[Likelihood]] = {
    "bernoulli": Bernoulli, "continuous-bernoulli": ContinuousBernoulli, "gaussian": FixedGaussian,
    "gaussian-learned": LearnedGaussian,
}
assert tuple(LIKELIHOOD_TYPES) == LIKELIHOODS
assert all(LIKELIHOOD_TYPES[name].n_params == k for name, k in LIKELIHOOD_OUTPUTS.items())


def make_likelihood(config: ModelConfig) -> Likelihood:
    """The likelihood p(x|z) that ``config.likelihood`` names."""
    return LIKELIHOOD_TYPES[config.likelihood].from_config(config)


# --- Encoders and decoders.


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """x float [N, *data_shape] (+ condition c [N, n_c]) -> features float [N, out_dim]."""

    def __init__(self, config: ModelConfig, out_dim: int, cond_dim: int = 0):
        super().__init__()
        self.net = mlp([math.prod(config.data_shape) + cond_dim, *config.hidden_dims, out_dim])

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(start_dim=1)  # [N, D]
        if c is not None:
            h = torch.cat([h, c], dim=1)  # [N, D + n_c]
        return self.net(h)


class MLPDecoder(nn.Module):
    """z float [N, d] (+ condition c) -> decoder output float [N, k * C, ...] (mirrored MLP)."""

    def __init__(self, config: ModelConfig, n_params: int, cond_dim: int = 0):
        super().__init__()
        self.out_shape = (n_params * config.data_shape[0], *config.data_shape[1:])
        widths = [config.latent_dim + cond_dim, *reversed(config.hidden_dims), math.prod(self.out_shape)]
        self.net = mlp(widths)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if c is not None:
            z = torch.cat([z, c], dim=1)  # [N, d + n_c]
        return self.net(z).view(-1, *self.out_shape)


class ConvEncoder(nn.Module):
    """x [N, C, H, W] -> two 3x3 stride-2 convolutions -> flatten (+ c) -> dense -> [N, out_dim]."""

    def __init__(self, config: ModelConfig, out_dim: int, cond_dim: int = 0):
        super().__init__()
        c1, c2, dense = config.hidden_dims
        channels, height, width = config.data_shape
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, c1, 3, stride=2, padding=1), nn.ReLU(),  # [N, c1, H/2, W/2]
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),  # [N, c2, H/4, W/4]
            nn.Flatten(),
        )
        self.head = mlp([c2 * (height // 4) * (width // 4) + cond_dim, dense, out_dim])

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.trunk(x)
        if c is not None:
            h = torch.cat([h, c], dim=1)
        return self.head(h)


class ConvDecoder(nn.Module):
    """z [N, d] (+ c) -> dense -> [N, c2, H/4, W/4] -> two stride-2 transposed convs -> [N, k*C, H, W]."""

    def __init__(self, config: ModelConfig, n_params: int, cond_dim: int = 0):
        super().__init__()
        c1, c2, _ = config.hidden_dims
        channels, height, width = config.data_shape
        self.grid = (c2, height // 4, width // 4)
        self.dense = nn.Sequential(nn.Linear(config.latent_dim + cond_dim, math.prod(self.grid)), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(c2, c2, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # H/2
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # H
            nn.ConvTranspose2d(c1, n_params * channels, 3, stride=1, padding=1),
        )

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if c is not None:
            z = torch.cat([z, c], dim=1)
        return self.net(self.dense(z).view(-1, *self.grid))


def make_encoder(config: ModelConfig, out_dim: int, cond_dim: int = 0) -> nn.Module:
    return (ConvEncoder if config.arch == "conv" else MLPEncoder)(config, out_dim, cond_dim)


def make_decoder(config: ModelConfig, n_params: int, cond_dim: int = 0) -> nn.Module:
    return (ConvDecoder if config.arch == "conv" else MLPDecoder)(config, n_params, cond_dim)


# --- Models.


class LatentModel(nn.Module):
    """Shared base: the decoder, the likelihood, and the methods every kind has."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.likelihood = make_likelihood(config)
        cond_dim = config.n_classes if config.conditional else 0
        self.decoder = make_decoder(config, self.likelihood.n_params, cond_dim)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def condition(self, y: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """The one-hot label [n, n_classes] for a conditional model, else None.

        y: int64 [n] labels in [0, n_classes), or a float [n, n_classes] one-hot / mixture.
        Raises ValueError if a conditional model gets no labels or labels out of range.
        """
        if not self.config.conditional:
            return None
        if y is None:
            raise ValueError("the conditional VAE needs labels y: encode(x, y), decode(z, y)")
        if y.is_floating_point():
            if y.shape != (n, self.config.n_classes):
                raise ValueError(f"a float condition must be [{n}, {self.config.n_classes}], "
                                 f"got {list(y.shape)}")
            return y
        y = y.reshape(-1)
        if y.shape[0] != n or int(y.min()) < 0 or int(y.max()) >= self.config.n_classes:
            raise ValueError(f"labels y must be {n} values in 0..{self.config.n_classes - 1}")
        return F.one_hot(y, self.config.n_classes).to(torch.get_default_dtype())

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x: float32 [N, *data_shape] -> latent locations float32 [N, d]."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z: float32 [N, d] -> E[x|z] float32 [N, *data_shape] (in [0, 1] for Bernoulli likelihoods)."""
        return self.likelihood.mean(self.decoder(z, self.condition(y, z.shape[0])))

    def sample_x(self, z: torch.Tensor, y: torch.Tensor | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """z: float32 [N, d] -> one draw x ~ p(x|z) each, float32 [N, *data_shape]."""
        return self.likelihood.sample(self.decoder(z, self.condition(y, z.shape[0])), generator)

    def reconstruction(self, z: torch.Tensor, x: torch.Tensor,
                       y: torch.Tensor | None = None) -> Reconstruction:
        """p(x|z) at the latents z, scored against the targets x: E[x|z] and -log p(x|z) in nats.

        z: float32 [N, d], or [S, N, d] for S latents per input (e.g. samples from q(z|x)), all
        scored against the same target; x: float32 [N, *data_shape] targets; y: int64 [N] labels
        (the CVAE's condition, shared by the S latents of an input), else None.
        returns: Reconstruction with nll float32 [N] (or [S, N]) and its mean E[x|z] on demand.
        Raises ValueError if a conditional model gets no labels.
        """
        n = x.shape[0]
        c = self.condition(y, n)
        if z.dim() == 2:
            params = self.decoder(z, c)
            return Reconstruction(self.likelihood.nll(params, x), params, self.likelihood)
        s = z.shape[0]  # S latents per input, decoded as one batch of S * N
        params = self.decoder(z.reshape(s * n, -1), None if c is None else c.repeat(s, 1))
        x_rep = x.expand(s, *x.shape).reshape(s * n, *x.shape[1:])
        return Reconstruction(self.likelihood.nll(params, x_rep).view(s, n), params, self.likelihood)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None,
                    target: torch.Tensor | None = None) -> Reconstruction:
        """x through the model: z = encode(x) (the posterior mean for the VAE family), then p(x|z),
        scored against ``target`` (default x itself; e.g. the clean digit when x is corrupted).

        x, target: float32 [N, *data_shape]; y: int64 [N] (the CVAE). returns: Reconstruction with
        mean [N, *data_shape] and nll [N] in nats.
        """
        return self.reconstruction(self.encode(x, y), x if target is None else target, y)

    def objective(self, x: torch.Tensor, y: torch.Tensor | None = None, n_samples: int = 1) -> LossTerms:
        """Per-input objective in nats for x float32 [N, *data_shape].

        n_samples: z samples per input for the VAE family (ignored by deterministic models).
        """
        raise NotImplementedError


class AutoEncoder(LatentModel):
    """Deterministic autoencoder: z = encoder(x), trained on -log p(x|z) (summed BCE for Bernoulli)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.encoder = make_encoder(config, config.latent_dim)

    def encode(self, x, y=None):
        return self.encoder(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> ModelOutput:
        z = self.encoder(x)
        return ModelOutput(decoder_out=self.decoder(z), z=z)

    def objective(self, x, y=None, n_samples=1):
        """returns LossTerms with loss = recon = -log p(x | z = encoder(x)), [N] nats; kl = 0."""
        recon = self.reconstruction(self.encoder(x), x).nll
        return LossTerms(loss=recon, recon=recon)


def corrupt(x: torch.Tensor, noise: str, level: float, generator: torch.Generator | None = None,
            clip: bool = True) -> torch.Tensor:
    """A corrupted copy of x float [N, ...]: the DAE's training noise (Vincent et al. 2008).

    noise "mask": each value set to 0 with probability ``level`` (in [0, 1)); "gaussian":
    x + level * eps, eps ~ N(0, 1), clipped to [0, 1] if ``clip``. Raises ValueError otherwise.
    """
    if noise == "mask" and 0 <= level < 1:
        keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) >= level
        return x * keep
    if noise == "gaussian" and level >= 0:
        noisy = x + level * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return noisy.clamp(0.0, 1.0) if clip else noisy
    raise ValueError(f"unknown noise {noise!r} or level {level} out of range (mask: [0, 1); gaussian: >= 0)")


class DenoisingAutoEncoder(AutoEncoder):
    """Denoising AE (Vincent et al. 2008): in training mode, encodes a corrupted copy of x and is
    scored on reconstructing the clean x. In eval mode it behaves like the AE (clean inputs)."""

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A corrupted copy of x float [N, ...], drawn fresh on every call.

        mask: each value set to 0 with probability noise_level; gaussian: x + noise_level * eps,
        clipped to [0, 1] for images (data_shape of 3 dims). returns: float, the shape of x.
        """
        return corrupt(x, self.config.noise, self.config.noise_level, generator,
                       clip=len(self.config.data_shape) == 3)

    def objective(self, x, y=None, n_samples=1):
        """-log p(x | z = encoder(corrupt(x))) in training mode, -log p(x | encoder(x)) in eval mode."""
        source = self.corrupt(x) if self.training else x
        recon = self.reconstruction(self.encoder(source), x).nll
        return LossTerms(loss=recon, recon=recon)


class VAE(LatentModel):
    """Variational autoencoder (AEVB): Gaussian q(z|x), prior N(0, I), p(x|z) from ``likelihood``."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        cond_dim = config.n_classes if config.conditional else 0
        # One network predicts [mu, logvar] side by side: [N, 2d].
        self.encoder = make_encoder(config, 2 * config.latent_dim, cond_dim)

    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: float32 [N, *data_shape] -> (mu, logvar) of q(z|x) (q(z|x, y) for the CVAE), each [N, d]."""
        mu, logvar = self.encoder(x, self.condition(y, x.shape[0])).chunk(2, dim=-1)
        return mu, logvar

    def encode(self, x, y=None):
        """The posterior mean E_q[z] = mu, float32 [N, d]."""
        return self.posterior(x, y)[0]

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> ModelOutput:
        """Samples z ~ q(z|x) by reparameterization in training mode; uses z = mu in eval mode."""
        c = self.condition(y, x.shape[0])
        mu, logvar = self.encoder(x, c).chunk(2, dim=-1)
        z = reparameterize(mu, logvar) if self.training else mu
        return ModelOutput(decoder_out=self.decoder(z, c), z=z, mu=mu, logvar=logvar)

    def objective(self, x, y=None, n_samples=1):
        """Negative ELBO per input, [N] nats, with ``n_samples`` draws of z ~ q(z|x) (AEVB eq. 10).

        loss = E_q[-log p(x|z)] (Monte Carlo over n_samples reparameterized draws, averaged)
             + KL(q(z|x) || N(0, I)) (closed form, AEVB appendix B).
        Always samples z, also in eval mode, so the value is an ELBO estimate. beta only enters
        through ``LossTerms.training_loss``.
        """
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        mu, logvar = self.posterior(x, y)  # [N, d] each
        size = (n_samples, *mu.shape)
        z = reparameterize(mu.expand(size), logvar.expand(size))  # [S, N, d]
        recon = self.reconstruction(z[0] if n_samples == 1 else z, x, y).nll  # [N] or [S, N]
        if n_samples > 1:
            recon = recon.mean(dim=0)
        kl = gaussian_kl(mu, logvar)
        return LossTerms(loss=recon + kl, recon=recon, kl=kl)


class ConditionalVAE(VAE):
    """Conditional VAE (Sohn et al. 2015): one-hot y concatenated to the encoder input and to z."""


MODEL_KINDS: dict[str, type[LatentModel]] = {
    "ae": AutoEncoder, "dae": DenoisingAutoEncoder, "vae": VAE, "cvae": ConditionalVAE,
}
assert tuple(MODEL_KINDS) == tuple(MODEL_KIND_NAMES)


def build_model(config: ModelConfig) -> LatentModel:
    """A freshly initialised model of ``config.kind``."""
    return MODEL_KINDS[config.kind](config)
