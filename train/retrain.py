"""Retrain every shipped checkpoint from scratch with fixed seeds.

``python -m train.retrain`` (or ``latent-explorer-retrain``) writes ``checkpoints/<name>/`` for each
entry of ``SHIPPED`` and prints each run's test metrics and the total wall time.
``python -m train.retrain --comparisons --out-dir DIR`` trains the binarized-MNIST models whose
log-likelihoods the README compares with published values (not shipped).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .checkpoint import CheckpointError, check_output_folder
from .data import DATA_ROOT_ENV, Dataset, DatasetUnavailableError, load_dataset
from .evaluate import format_metrics
from .trainer import PRECISIONS, TrainConfig, train

# Shared settings of the 28x28 image models: 784-512-256-d MLPs, batch 256, Adam 2e-3 with cosine
# decay to 2e-5; precision "auto": bf16 autocast for the training steps where the device computes
# bf16 natively, else fp32 (evaluation is always fp32).
_IMAGE = TrainConfig.of(hidden_dims=(512, 256), epochs=30, batch_size=256, lr=2e-3, lr_final=2e-5,
                        precision="auto", seed=0)
# The toy models: 2-64-64-1 MLPs on the two-Gaussians data.
_TOY = TrainConfig.of(dataset="toy-gaussians", latent_dim=1, hidden_dims=(64, 64), epochs=100, batch_size=256,
                      lr=3e-3, lr_final=1e-4, seed=0)

# The recipes behind the checkpoints that ship in the repo. Change one, rerun, commit the folder.
# Frames (train.frames) are recorded by default for latent sizes <= 2; they ship for the AE, DAE, VAE,
# beta-VAE and the toy models (about 1.5 MB each for MNIST), not for the CVAE and Fashion-MNIST VAE,
# which keeps checkpoints/ under the 40 MB that tests/test_shipped.py allows.
SHIPPED: dict[str, TrainConfig] = {
    "mnist-ae-2d": _IMAGE.replace(kind="ae", latent_dim=2),
    "mnist-dae-2d": _IMAGE.replace(kind="dae", latent_dim=2, noise="mask", noise_level=0.3),
    "mnist-vae-2d": _IMAGE.replace(kind="vae", latent_dim=2, epochs=40),
    "mnist-cvae-2d": _IMAGE.replace(kind="cvae", latent_dim=2, frames=0),
    "mnist-betavae-2d": _IMAGE.replace(kind="vae", latent_dim=2, beta=4.0, kl_warmup_epochs=5),
    "mnist-vae-16d": _IMAGE.replace(kind="vae", latent_dim=16),
    "fashion-vae-2d": _IMAGE.replace(kind="vae", dataset="fashion-mnist", latent_dim=2, frames=0),
    "toy-ae-1d": _TOY.replace(kind="ae", likelihood="gaussian", sigma=0.5),
    "toy-vae-1d": _TOY.replace(kind="vae", likelihood="gaussian-learned", kl_warmup_epochs=20),
}

# Not shipped: the settings in which published log-likelihoods are reported (dynamically binarized
# MNIST), for comparing with Davidson et al. 2018 (2-D) and Burda et al. 2016 (50-D).
COMPARISONS: dict[str, TrainConfig] = {
    "binarized-mnist-vae-2d": _IMAGE.replace(kind="vae", latent_dim=2, binarize=True),
    "binarized-mnist-vae-50d": _IMAGE.replace(kind="vae", latent_dim=50, binarize=True, epochs=100),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.retrain", description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default="checkpoints", help="where the folders go (default: %(default)s)")
    p.add_argument("--data-root", default=None, help=f"data root (default: ${DATA_ROOT_ENV} or ./data)")
    p.add_argument("--device", default="auto", help="default: %(default)s")
    p.add_argument("--precision", choices=list(PRECISIONS), default=None,
                   help="override the recipes' precision (default: theirs, auto)")
    p.add_argument("--only", nargs="+", choices=sorted(SHIPPED) + sorted(COMPARISONS),
                   help="retrain only these checkpoints")
    p.add_argument("--comparisons", action="store_true",
                   help=f"train the binarized-MNIST comparison models instead ({', '.join(COMPARISONS)})")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = p.parse_args(argv)

    recipes = {**SHIPPED, **COMPARISONS}
    names = args.only or list(COMPARISONS if args.comparisons else SHIPPED)
    outs = {name: Path(args.out_dir) / name for name in names}
    try:  # every output is checked before the first model trains
        for out in outs.values():
            check_output_folder(out)
    except CheckpointError as e:
        print(f"error: --out-dir {args.out_dir}: {e}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    datasets: dict[str, Dataset] = {}
    for name in names:
        recipe = recipes[name]
        try:
            if recipe.dataset not in datasets:
                datasets[recipe.dataset] = load_dataset(recipe.dataset, args.data_root)
                print(f"{recipe.dataset} from {datasets[recipe.dataset].source}")
        except DatasetUnavailableError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        config = recipe.replace(out=str(outs[name]), device=args.device, progress=not args.no_progress,
                         precision=args.precision or recipe.precision)
        try:
            result = train(config, data=datasets[recipe.dataset])
        except (ValueError, OSError) as e:
            print(f"error: {name}: {e}", file=sys.stderr)
            return 2
        m = result.metrics
        print(f"{name}: {format_metrics(m)}; trained in {m['wall_time_s']:.0f} s, evaluated in "
              f"{m['evaluation_seconds']:.0f} s on {m['device']} -> {result.checkpoint}", flush=True)
    print(f"total wall time {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
