"""An MLP encoder and decoder shared by a plain autoencoder and a VAE.

Both models expose the same API, so the explorer never branches on the kind:

- ``encode(x)``: x float32 [N, 1, 28, 28] in [0, 1] -> latent locations float32 [N, d]
  (for the VAE, the posterior mean);
- ``decode(z)``: z float32 [N, d] -> pixel means float32 [N, 1, 28, 28] in [0, 1];
- ``forward(x)`` -> ``ModelOutput``; ``objective(x)`` -> ``LossTerms`` per image in nats.

The VAE adds ``posterior(x)`` -> (mu, logvar), each [N, d]: q(z|x) = N(mu, diag(exp(logvar))).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from .objectives import bernoulli_nll, gaussian_kl, reparameterize

IMAGE_SHAPE = (1, 28, 28)
N_PIXELS = 28 * 28


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; stored in a checkpoint's config.json."""

    kind: str = "vae"  # "ae" or "vae"
    latent_dim: int = 2  # size d of the latent z
    hidden_dims: tuple[int, ...] = (512, 256)  # encoder widths; the decoder mirrors them
    likelihood: str = "bernoulli"  # p(x|z); the decoder emits Bernoulli logits

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; expected one of {list(MODEL_KINDS)}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if not self.hidden_dims or min(self.hidden_dims) < 1:
            raise ValueError(f"hidden_dims must be positive widths, got {self.hidden_dims}")
        if self.likelihood != "bernoulli":
            raise ValueError(f"unsupported likelihood {self.likelihood!r}; expected 'bernoulli'")
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden_dims": list(self.hidden_dims)}


@dataclass
class ModelOutput:
    """What ``forward`` returns, for every model kind.

    recon_logits: float [N, 1, 28, 28] Bernoulli logits of p(x|z)
    z: float [N, d] the latent that was decoded (a sample from q(z|x) for the VAE in training mode,
       its mean in eval mode)
    mu, logvar: float [N, d] posterior parameters (None for the AE)
    """

    recon_logits: torch.Tensor
    z: torch.Tensor
    mu: torch.Tensor | None = None
    logvar: torch.Tensor | None = None


@dataclass
class LossTerms:
    """Per-image objective in nats: ``loss = recon + kl`` (kl is zero for the AE).

    loss, recon, kl: float [N].
    """

    loss: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor = field(default=None)  # type: ignore[assignment]

    def __post_init__(self):
        if self.kl is None:
            self.kl = torch.zeros_like(self.recon)


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """x float [N, 1, 28, 28] -> features float [N, out_dim] through an MLP."""

    def __init__(self, hidden_dims: tuple[int, ...], out_dim: int):
        super().__init__()
        self.net = mlp([N_PIXELS, *hidden_dims, out_dim])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(start_dim=1))  # [N, 784] -> [N, out_dim]


class Decoder(nn.Module):
    """z float [N, d] -> Bernoulli logits float [N, 1, 28, 28] through the mirrored MLP."""

    def __init__(self, hidden_dims: tuple[int, ...], latent_dim: int):
        super().__init__()
        self.net = mlp([latent_dim, *reversed(hidden_dims), N_PIXELS])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *IMAGE_SHAPE)  # [N, 784] -> [N, 1, 28, 28]


class LatentModel(nn.Module):
    """Shared base: the decoder and the methods every kind has."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.decoder = Decoder(config.hidden_dims, config.latent_dim)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: float32 [N, 1, 28, 28] in [0, 1] -> latent locations float32 [N, d]."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: float32 [N, d] -> pixel means (Bernoulli probabilities) float32 [N, 1, 28, 28] in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x: float32 [N, 1, 28, 28] in [0, 1] -> decode(encode(x)), same shape, in [0, 1]."""
        return self.decode(self.encode(x))

    def objective(self, x: torch.Tensor, n_samples: int = 1) -> LossTerms:
        """Per-image training objective in nats for x float32 [N, 1, 28, 28] in [0, 1].

        n_samples: z samples per image for stochastic models (ignored by deterministic ones).
        """
        raise NotImplementedError


class AutoEncoder(LatentModel):
    """Deterministic autoencoder: z = encoder(x); trained on the summed pixel BCE."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.encoder = Encoder(config.hidden_dims, config.latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        z = self.encoder(x)
        return ModelOutput(recon_logits=self.decoder(z), z=z)

    def objective(self, x: torch.Tensor, n_samples: int = 1) -> LossTerms:
        """returns LossTerms with recon = loss = BCE summed over pixels, [N] nats; kl = 0.

        The AE is deterministic, so n_samples is ignored.
        """
        recon = bernoulli_nll(self.forward(x).recon_logits, x)
        return LossTerms(loss=recon, recon=recon)


class VAE(LatentModel):
    """Variational autoencoder (AEVB): Gaussian posterior q(z|x), prior N(0, I), Bernoulli p(x|z)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        # One MLP predicts [mu, logvar] side by side: [N, 2d].
        self.encoder = Encoder(config.hidden_dims, 2 * config.latent_dim)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: float32 [N, 1, 28, 28] in [0, 1] -> (mu, logvar) of q(z|x), each float32 [N, d]."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean E_q[z] = mu, float32 [N, d]."""
        return self.posterior(x)[0]

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """Samples z ~ q(z|x) by reparameterization in training mode; uses z = mu in eval mode."""
        mu, logvar = self.posterior(x)
        z = reparameterize(mu, logvar) if self.training else mu
        return ModelOutput(recon_logits=self.decoder(z), z=z, mu=mu, logvar=logvar)

    def objective(self, x: torch.Tensor, n_samples: int = 1) -> LossTerms:
        """Negative ELBO per image, [N] nats, estimated with ``n_samples`` draws of z ~ q(z|x).

        loss = E_q[-log p(x|z)] (Monte Carlo) + KL(q(z|x) || N(0, I)) (closed form, AEVB eq. 10).
        Always samples z, also in eval mode, so that the value is an ELBO estimate.
        """
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        mu, logvar = self.posterior(x)
        recon = sum(bernoulli_nll(self.decoder(reparameterize(mu, logvar)), x)
                    for _ in range(n_samples)) / n_samples
        kl = gaussian_kl(mu, logvar)
        return LossTerms(loss=recon + kl, recon=recon, kl=kl)


MODEL_KINDS: dict[str, type[LatentModel]] = {"ae": AutoEncoder, "vae": VAE}


def build_model(config: ModelConfig) -> LatentModel:
    """A freshly initialised model of ``config.kind``."""
    return MODEL_KINDS[config.kind](config)
