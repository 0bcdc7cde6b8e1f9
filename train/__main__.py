"""Command line: ``python -m train [options]`` trains one model and writes its checkpoint.

Example: ``python -m train --kind vae --latent-dim 2 --epochs 30 --out checkpoints/mnist-vae-2d``
"""

from __future__ import annotations

import argparse
import json
import sys

from .data import DATA_ROOT_ENV, DatasetUnavailableError
from .trainer import TrainConfig, train


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m train", description="Train an AE or VAE on MNIST.")
    p.add_argument("--kind", choices=["ae", "vae"], default=d.kind, help="model kind (default: %(default)s)")
    p.add_argument("--latent-dim", type=int, default=d.latent_dim, help="size of z (default: %(default)s)")
    p.add_argument("--hidden-dims", type=int, nargs="+", default=list(d.hidden_dims),
                   help="encoder MLP widths; the decoder mirrors them (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="default: %(default)s")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="default: %(default)s")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (default: %(default)s)")
    p.add_argument("--lr-final", type=float, default=d.lr_final,
                   help="cosine-decay the learning rate to this value by the last epoch (default: constant)")
    p.add_argument("--seed", type=int, default=d.seed, help="default: %(default)s")
    p.add_argument("--device", default=d.device,
                   help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, mps (default: %(default)s)")
    p.add_argument("--out", default=None, help="checkpoint folder to write, e.g. checkpoints/my-vae")
    p.add_argument("--data-root", default=None,
                   help=f"MNIST data root (default: ${DATA_ROOT_ENV} or ./data)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = TrainConfig(
            kind=args.kind, latent_dim=args.latent_dim, hidden_dims=tuple(args.hidden_dims),
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_final=args.lr_final,
            seed=args.seed, device=args.device, out=args.out, data_root=args.data_root,
            progress=not args.no_progress,
        )
        result = train(config)
    except (DatasetUnavailableError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: no checkpoint was written", file=sys.stderr)
        return 130
    summary = {k: v for k, v in result.metrics.items() if k != "history"}
    print(json.dumps(summary, indent=2))
    if result.checkpoint:
        print(f"checkpoint written to {result.checkpoint}")
    else:
        print("no --out given: the model was not saved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
