"""Honest evaluation of a trained model: ELBO, importance-sampled log-likelihood, active units.

``python -m train.evaluate CHECKPOINT [--k 1000]`` evaluates a checkpoint folder on its dataset's
test split and writes the results into its metrics.json, together with the settings (K, ELBO
samples, seed, binarization) needed to reproduce them. The trainer runs the
same evaluation at the end of training.

Estimators (all per test input, in nats, averaged over the test split):

- negative ELBO = E_q[-log p(x|z)] + KL(q(z|x) || p(z)), with ``elbo_samples`` draws of z per input
  (Kingma & Welling 2014, eq. 10);
- importance-weighted estimate of log p(x) with K samples (Burda, Grosse & Salakhutdinov 2016,
  eq. 8): log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x). It is a lower bound on log p(x)
  that tightens as K grows and equals the single-sample ELBO estimate for K = 1. Reported as NLL
  = -estimate in nats and in bits per dimension (NLL / (D ln 2));
- active units (Burda et al. 2016, section 5.2): dimension i is active if Var_x(E_q[z_i]) > 0.01;
- AE / DAE: the test reconstruction NLL -log p(x | encoder(x)), and for the DAE the same from
  corrupted test inputs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_checkpoint, read_metrics, write_metrics
from .data import DATA_ROOT_ENV, Dataset, DatasetUnavailableError, binarize, load_dataset
from .models import LatentModel
from .objectives import diagonal_normal_log_density, gaussian_kl, standard_normal_log_density
from .schema import metric_lines, read_checkpoint_config

EVAL_BATCH = 2000
ACTIVE_UNIT_THRESHOLD = 0.01
DEFAULT_K = 1000
DEFAULT_ELBO_SAMPLES = 10
SAMPLES_PER_FORWARD = 4096  # decoder inputs per forward pass in the IWAE estimate (bounds memory)


@torch.no_grad()
def mean_objective(model: LatentModel, x: torch.Tensor, y: torch.Tensor | None = None,
                   n_samples: int = 1, batch: int = EVAL_BATCH) -> dict:
    """Mean per-input objective over x float32 [N, *data_shape], in nats.

    For the VAE family, ``loss`` is the negative ELBO estimated with ``n_samples`` z per input, with
    its ``recon`` (-log p(x|z)) and ``kl`` parts; for the AE and DAE (clean inputs), ``loss`` =
    ``recon`` = -log p(x | encoder(x)) and ``kl`` = 0. y: int64 [N] labels (needed by the CVAE).
    returns: {"loss": float, "recon": float, "kl": float}, nats per input.
    """
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64)
    for start in range(0, x.shape[0], batch):
        yb = None if y is None else y[start : start + batch]
        terms = model.objective(x[start : start + batch], yb, n_samples=n_samples)
        totals += torch.stack([terms.loss.sum(), terms.recon.sum(), terms.kl.sum()]).double().cpu()
    model.train(was_training)
    loss, recon, kl = (totals / x.shape[0]).tolist()
    return {"loss": loss, "recon": recon, "kl": kl}


@torch.no_grad()
def log_importance_weights(model: LatentModel, x: torch.Tensor, y: torch.Tensor | None,
                           eps: torch.Tensor) -> torch.Tensor:
    """log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x), with z_k = mu + sigma * eps_k.

    x: float32 [N, *data_shape]; y: int64 [N] or None; eps: float32 [K, N, d] standard normal draws.
    returns: float32 [K, N] log importance weights in nats (Burda et al. 2016, eq. 8).
    Raises ValueError for a model without a posterior (AE, DAE).
    """
    if not model.config.variational:
        raise ValueError(f"{model.config.kind!r} has no posterior q(z|x); importance sampling needs a VAE")
    mu, logvar = model.posterior(x, y)  # [N, d]
    z = mu + torch.exp(0.5 * logvar) * eps  # [K, N, d]
    log_px_z = -model.reconstruction(z, x, y).nll  # [K, N]
    return log_px_z + standard_normal_log_density(z) - diagonal_normal_log_density(z, mu, logvar)


@torch.no_grad()
def iwae_log_likelihood(model: LatentModel, x: torch.Tensor, y: torch.Tensor | None = None, *,
                        k: int = DEFAULT_K, seed: int = 0, progress: bool = False) -> torch.Tensor:
    """Importance-sampled estimate of log p(x) with K samples per input (Burda et al. 2016, eq. 8).

    log p(x) ~= logsumexp_k(log w_k) - log K, computed in chunks of samples so memory stays bounded
    (about SAMPLES_PER_FORWARD decoder inputs at a time) whatever K is.
    x: float32 [N, *data_shape]; y: int64 [N] labels for the CVAE (log p(x|y)), else None.
    returns: float64 [N] estimates in nats (a stochastic lower bound on log p(x)).
    Raises ValueError if k < 1 or the model has no posterior.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    model.eval()
    device = x.device
    generator = torch.Generator(device=device).manual_seed(seed)
    k_chunk = min(k, 256)
    batch = max(1, SAMPLES_PER_FORWARD // k_chunk)
    out = torch.empty(x.shape[0], dtype=torch.float64)
    starts = range(0, x.shape[0], batch)
    for start in tqdm(starts, desc=f"IWAE K={k}", unit="batch", disable=not progress, leave=False):
        xb = x[start : start + batch]
        yb = None if y is None else y[start : start + batch]
        total = torch.full((xb.shape[0],), -math.inf, dtype=torch.float64, device=device)
        for k0 in range(0, k, k_chunk):
            kc = min(k_chunk, k - k0)
            eps = torch.randn((kc, xb.shape[0], model.latent_dim), generator=generator, device=device)
            log_w = log_importance_weights(model, xb, yb, eps).double()
            total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
        out[start : start + xb.shape[0]] = (total - math.log(k)).cpu()
    return out


@torch.no_grad()
def posterior_statistics(model: LatentModel, x: torch.Tensor, y: torch.Tensor | None = None,
                         batch: int = EVAL_BATCH) -> dict:
    """Active units and the KL per latent dimension over x, for the VAE family.

    returns: {"active_units": int, "mean_variance_per_dim": [d] Var_x(E_q[z_i]),
              "kl_per_dim": [d] mean over x of KL(q(z_i|x) || N(0, 1)) in nats}
    """
    mus, kls = [], []
    for start in range(0, x.shape[0], batch):
        yb = None if y is None else y[start : start + batch]
        mu, logvar = model.posterior(x[start : start + batch], yb)
        mus.append(mu.double())
        kls.append(gaussian_kl(mu.unsqueeze(-1), logvar.unsqueeze(-1)).double())  # [n, d] per dim
    mu = torch.cat(mus)
    variance = mu.var(dim=0, unbiased=True)
    return {"active_units": int((variance > ACTIVE_UNIT_THRESHOLD).sum()),
            "active_unit_threshold": ACTIVE_UNIT_THRESHOLD,
            "mean_variance_per_dim": variance.tolist(),
            "kl_per_dim": torch.cat(kls).mean(dim=0).tolist()}


def evaluation_inputs(dataset: Dataset, binarized: bool, seed: int) -> torch.Tensor:
    """The test inputs that metrics are computed on: fixed-seed binarized if the model was trained
    on dynamically binarized data, else the intensities as they are."""
    if not binarized:
        return dataset.test_x
    return binarize(dataset.test_x, torch.Generator().manual_seed(seed))


def evaluate_model(model: LatentModel, x: torch.Tensor, y: torch.Tensor | None = None, *,
                   k: int = DEFAULT_K, elbo_samples: int = DEFAULT_ELBO_SAMPLES, seed: int = 0,
                   progress: bool = False) -> dict:
    """All test metrics of one model, in nats per input, with the settings that produced them.

    x: float32 [N, *data_shape] test inputs (already binarized if that applies); y: int64 [N].
    k: IWAE samples (0 skips the estimate). Seeds every random draw from ``seed``.
    """
    model.eval()
    start = time.perf_counter()
    dims = math.prod(x.shape[1:])
    y = y if model.config.conditional else None
    metrics: dict = {"units": "nats per test input", "n_test": int(x.shape[0]), "seed": seed}
    torch.manual_seed(seed)
    if model.config.variational:
        elbo = mean_objective(model, x, y, n_samples=elbo_samples)
        metrics.update({"test_negative_elbo": elbo["loss"], "test_recon_nll": elbo["recon"],
                        "test_kl": elbo["kl"], "elbo_samples": elbo_samples})
        if k > 0:
            nll = -iwae_log_likelihood(model, x, y, k=k, seed=seed, progress=progress).mean().item()
            metrics.update({"test_iwae_nll": nll, "test_iwae_bits_per_dim": nll / (dims * math.log(2)),
                            "iwae_k": k})
        metrics.update(posterior_statistics(model, x, y))
    else:
        recon = mean_objective(model, x)["recon"]
        metrics.update({"test_recon_nll": recon, "test_recon_bits_per_dim": recon / (dims * math.log(2))})
        if model.config.kind == "dae":
            generator = torch.Generator(device=x.device).manual_seed(seed)
            noisy = torch.cat([model.corrupt(x[i : i + EVAL_BATCH], generator)
                               for i in range(0, x.shape[0], EVAL_BATCH)])
            with torch.no_grad():
                batches = [slice(i, i + EVAL_BATCH) for i in range(0, x.shape[0], EVAL_BATCH)]
                nll = torch.cat([model.reconstruct(noisy[b], target=x[b]).nll for b in batches])
                metrics["test_corrupted_recon_nll"] = nll.double().mean().item()
            metrics["corruption"] = {"noise": model.config.noise, "level": model.config.noise_level}
    metrics["evaluation_seconds"] = round(time.perf_counter() - start, 1)
    return metrics


def evaluate_checkpoint(folder: str | Path, *, k: int = DEFAULT_K, elbo_samples: int = DEFAULT_ELBO_SAMPLES,
                        seed: int = 0, data_root: str | None = None, device: str = "cpu",
                        write: bool = True, progress: bool = True) -> dict:
    """Evaluate a checkpoint folder on its dataset's test split; optionally update its metrics.json.

    The dataset and binarization are read from config.json (checked by ``train.schema``; its
    metrics.json need not pass, since this rewrites it). Raises CheckpointError for a bad folder
    and DatasetUnavailableError if the dataset cannot be loaded.
    """
    folder = Path(folder)
    config = read_checkpoint_config(folder)
    stored = read_metrics(folder) if write else {}  # before the long work: it is updated, not replaced
    model = load_checkpoint(folder, device)
    info = config.dataset_info
    dataset = load_dataset(config.dataset, data_root)
    binarized = bool(info.get("binarized", False))
    x = evaluation_inputs(dataset, binarized, int(info.get("test_binarization_seed", 0))).to(device)
    metrics = evaluate_model(model, x, dataset.test_y.to(device), k=k, elbo_samples=elbo_samples,
                             seed=seed, progress=progress)
    metrics["binarized"] = binarized
    if binarized:
        metrics["test_binarization_seed"] = int(info.get("test_binarization_seed", 0))
    if write:
        stored.update(metrics)
        write_metrics(folder, stored)
    return metrics


def format_metrics(metrics: dict) -> str:
    """The headline numbers (``train.schema.metric_lines``) as one line of text."""
    return "; ".join(map(str, metric_lines(metrics))) or "no test metrics"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+", help="checkpoint folders, e.g. checkpoints/mnist-vae-2d")
    p.add_argument("--k", type=int, default=DEFAULT_K,
                   help="importance samples for log p(x) (Burda et al. 2016); 0 skips (default: %(default)s)")
    p.add_argument("--elbo-samples", type=int, default=DEFAULT_ELBO_SAMPLES,
                   help="z samples per input for the ELBO (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    p.add_argument("--data-root", default=None, help=f"data root (default: ${DATA_ROOT_ENV} or ./data)")
    p.add_argument("--device", default="cpu", help="default: %(default)s")
    p.add_argument("--no-write", action="store_true", help="print only; leave metrics.json unchanged")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_args(argv)
    if args.k < 0 or args.elbo_samples < 1:
        p.error("--k must be >= 0 and --elbo-samples >= 1")
    status = 0
    for folder in args.checkpoints:
        try:
            metrics = evaluate_checkpoint(folder, k=args.k, elbo_samples=args.elbo_samples, seed=args.seed,
                                          data_root=args.data_root, device=args.device,
                                          write=not args.no_write, progress=not args.no_progress)
        except (CheckpointError, DatasetUnavailableError, ValueError, OSError, RuntimeError) as e:
            # one line per bad folder, then the next
            print(f"error: {folder}: {' '.join(str(e).split())[:500]}", file=sys.stderr)
            status = 2
            continue
        print(f"{folder}: {format_metrics(metrics)} [{metrics['evaluation_seconds']:.0f} s]")
        if args.no_write:
            print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, list)}, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
