"""Retrain every shipped checkpoint from scratch with fixed seeds.

``python -m train.retrain`` (or ``latent-explorer-retrain``) writes ``checkpoints/<name>/`` for each
entry of ``SHIPPED`` and prints each run's test metrics and the total wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from .data import DATA_ROOT_ENV, DatasetUnavailableError, load_mnist
from .trainer import TrainConfig, train

# The recipes behind the checkpoints that ship in the repo. Change one, rerun, commit the folder.
SHIPPED: dict[str, TrainConfig] = {
    "mnist-ae-2d": TrainConfig(kind="ae", latent_dim=2, hidden_dims=(512, 256), epochs=30,
                               batch_size=128, lr=1e-3, lr_final=1e-5, seed=0),
    "mnist-vae-2d": TrainConfig(kind="vae", latent_dim=2, hidden_dims=(512, 256), epochs=30,
                                batch_size=128, lr=1e-3, lr_final=1e-5, seed=0),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.retrain", description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default="checkpoints", help="where the folders go (default: %(default)s)")
    p.add_argument("--data-root", default=None, help=f"MNIST data root (default: ${DATA_ROOT_ENV} or ./data)")
    p.add_argument("--device", default="auto", help="default: %(default)s")
    p.add_argument("--only", nargs="+", choices=sorted(SHIPPED), help="retrain only these checkpoints")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_args(argv)

    start = time.perf_counter()
    try:
        data = load_mnist(args.data_root)
    except DatasetUnavailableError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"MNIST from {data.source}")
    for name in args.only or SHIPPED:
        config = replace(SHIPPED[name], out=str(Path(args.out_dir) / name), device=args.device,
                         progress=not args.no_progress)
        result = train(config, data=data)
        m = result.metrics
        headline = (f"test negative ELBO {m['test_negative_elbo']:.2f} nats (recon {m['test_recon_nll']:.2f}"
                    f" + KL {m['test_kl']:.2f})" if "test_negative_elbo" in m
                    else f"test BCE {m['test_bce']:.2f} nats")
        print(f"{name}: {headline}; {m['wall_time_s']:.0f} s on {m['device']} -> {result.checkpoint}")
    print(f"total wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
