"""Training objectives, per image, in nats.

The VAE maximises the evidence lower bound (ELBO) of Kingma & Welling (2014), "Auto-Encoding
Variational Bayes" (AEVB), eq. 10:

    ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z))

with posterior q(z|x) = N(mu, diag(sigma^2)), prior p(z) = N(0, I) and a Bernoulli likelihood
p(x|z) whose decoder emits logits. We minimise the negative ELBO = reconstruction + KL, where the
reconstruction term is the binary cross-entropy summed over the 784 pixels, with pixel targets the
grey-level intensities in [0, 1] (the common PyTorch recipe; strictly a Bernoulli log-likelihood
only for binary pixels, see Loaiza-Ganem & Cunningham 2019).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed-form KL(N(mu, diag(exp(logvar))) || N(0, I)) (AEVB, appendix B).

    KL = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)

    mu, logvar: float [N, d] posterior mean and log-variance.
    returns: float [N] KL divergence in nats, >= 0.
    """
    return -0.5 * torch.sum(1.0 + logvar - mu.square() - logvar.exp(), dim=-1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Negative Bernoulli log-likelihood -log p(x|z), summed over pixels.

    logits: float [N, ...] decoder outputs (pre-sigmoid).
    x: float [N, ...] same shape, targets in [0, 1].
    returns: float [N] binary cross-entropy in nats per image.
    """
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return bce.flatten(start_dim=1).sum(dim=1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Draw z ~ q(z|x) as z = mu + sigma * eps, eps ~ N(0, I) (AEVB, section 2.4).

    mu, logvar: float [N, d]. returns: float [N, d], differentiable in mu and logvar.
    """
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
