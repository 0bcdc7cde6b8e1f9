"""Command line: ``python -m train [options]`` trains one model and writes its checkpoint.

Examples::

    python -m train --kind vae --latent-dim 2 --epochs 30 --out checkpoints/my-vae
    python -m train --kind cvae --arch conv --hidden-dims 32 64 16 --out checkpoints/my-conv-cvae
    python -m train --kind vae --latent-dim 50 --binarize --out checkpoints/my-binarized-vae
"""

from __future__ import annotations

import argparse
import json
import sys

from .checkpoint import CheckpointError, check_output_folder
from .data import DATA_ROOT_ENV, DATASETS, DatasetUnavailableError
from .evaluate import format_metrics
from .models import ARCHS, LIKELIHOODS, MODEL_KINDS, NOISES
from .trainer import PRECISIONS, TrainConfig, train


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m train",
                                description="Train an autoencoder or VAE and write a checkpoint folder.")
    p.add_argument("--kind", choices=list(MODEL_KINDS), default=d.kind,
                   help="ae, dae (denoising), vae, cvae (conditional) (default: %(default)s)")
    p.add_argument("--dataset", choices=list(DATASETS), default=d.dataset, help="default: %(default)s")
    p.add_argument("--latent-dim", type=int, default=d.latent_dim, help="size of z (default: %(default)s)")
    p.add_argument("--arch", choices=list(ARCHS), default=d.arch, help="default: %(default)s")
    p.add_argument("--hidden-dims", type=int, nargs="+", default=list(d.hidden_dims),
                   help="mlp: encoder widths, the decoder mirrors them; conv: channels1 channels2 dense "
                        "(default: %(default)s)")
    p.add_argument("--likelihood", choices=list(LIKELIHOODS), default=d.likelihood,
                   help="p(x|z) (default: %(default)s)")
    p.add_argument("--sigma", type=float, default=d.sigma,
                   help="std of the fixed 'gaussian' likelihood (default: %(default)s)")
    p.add_argument("--beta", type=float, default=d.beta, help="KL weight, beta-VAE (default: %(default)s)")
    p.add_argument("--kl-warmup-epochs", type=float, default=d.kl_warmup_epochs,
                   help="linear KL warm-up from 0 to beta over this many epochs (default: %(default)s)")
    p.add_argument("--noise", choices=list(NOISES), default=d.noise,
                   help="DAE corruption (default: %(default)s)")
    p.add_argument("--noise-level", type=float, default=d.noise_level,
                   help="DAE: masked fraction or Gaussian noise std (default: %(default)s)")
    p.add_argument("--n-samples", type=int, default=d.n_samples,
                   help="z samples per input in the training objective (default: %(default)s)")
    p.add_argument("--binarize", action="store_true",
                   help="dynamically binarize the images, x ~ Bernoulli(intensity), redrawn every epoch")
    p.add_argument("--epochs", type=int, default=d.epochs, help="default: %(default)s")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="default: %(default)s")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default: %(default)s)")
    p.add_argument("--lr-final", type=float, default=d.lr_final,
                   help="cosine-decay the learning rate to this value by the last epoch (default: constant)")
    p.add_argument("--precision", choices=list(PRECISIONS), default=d.precision,
                   help="bf16 autocasts the training steps (evaluation stays fp32); auto uses bf16 where the "
                        "device computes it natively (CUDA, CPUs with AVX512_BF16 or AMX), else fp32 "
                        "(default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="default: %(default)s")
    p.add_argument("--device", default=d.device,
                   help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, mps (default: %(default)s)")
    p.add_argument("--out", default=None,
                   help="checkpoint folder to write, e.g. checkpoints/my-vae: a new or empty folder, or a "
                        "checkpoint to replace (anything else is refused before training)")
    p.add_argument("--data-root", default=None, help=f"data root (default: ${DATA_ROOT_ENV} or ./data)")
    p.add_argument("--eval-samples", type=int, default=d.eval_samples,
                   help="z samples per test input for the final ELBO (default: %(default)s)")
    p.add_argument("--iwae-samples", type=int, default=d.iwae_samples,
                   help="K for the final importance-sampled log p(x); 0 skips it (default: %(default)s)")
    p.add_argument("--target-loss", type=float, default=None,
                   help="stop after the first epoch whose test loss (nats) is at or below this")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k != "no_progress"}
    options["hidden_dims"] = tuple(args.hidden_dims)
    try:
        config = TrainConfig(**options, progress=not args.no_progress)
        config.model_config()  # check the model settings before loading any data
        if config.out:
            try:
                check_output_folder(config.out)
            except CheckpointError as e:
                raise CheckpointError(f"--out {config.out}: {e}") from None
        result = train(config)
    except (DatasetUnavailableError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: no checkpoint was written", file=sys.stderr)
        return 130
    print(format_metrics(result.metrics))
    summary = {k: v for k, v in result.metrics.items() if k != "history"}
    print(json.dumps(summary, indent=2))
    if result.checkpoint:
        print(f"checkpoint written to {result.checkpoint}")
    else:
        print("no --out given: the model was not saved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
