"""Command line: ``python -m train [options]`` trains one model and writes its checkpoint.

Examples::

    python -m train --kind vae --latent-dim 2 --epochs 30 --out checkpoints/my-vae
    python -m train --kind cvae --arch conv --hidden-dims 32 64 16 --out checkpoints/my-conv-cvae
    python -m train --kind vae --latent-dim 50 --binarize --out checkpoints/my-binarized-vae
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing

from .checkpoint import CheckpointError, check_output_folder
from .data import DatasetUnavailableError
from .evaluate import format_metrics
from .models import ModelConfig
from .trainer import TrainConfig, train


def build_parser() -> argparse.ArgumentParser:
    """The command line, generated from the fields of ModelConfig and TrainConfig: each field is a
    flag (``latent_dim`` -> ``--latent-dim``) with its type, default, choices and help from the
    field's metadata, so an option is added in one place, the dataclass."""
    p = argparse.ArgumentParser(prog="python -m train",
                                description="Train an autoencoder or VAE and write a checkpoint folder.")
    model = p.add_argument_group("model (ModelConfig)")
    run = p.add_argument_group("training (TrainConfig)")
    for group, cls in ((model, ModelConfig), (run, TrainConfig)):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.metadata.get("from_data") or f.metadata.get("cli") is False or f.name == "model":
                continue
            _add_flag(group, f, hints[f.name])
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return p


def _add_flag(group, f: dataclasses.Field, hint) -> None:
    """One flag for the dataclass field ``f`` of type ``hint``."""
    flag = "--" + f.name.replace("_", "-")
    default = f.default
    help_text = f.metadata.get("help", "")
    if hint is bool:
        group.add_argument(flag, action="store_true", help=help_text)
        return
    args = [t for t in typing.get_args(hint) if t is not type(None)]
    if typing.get_origin(hint) is tuple:  # tuple[int, ...]: one or more values
        group.add_argument(flag, type=args[0], nargs="+", default=list(default),
                           help=f"{help_text} (default: %(default)s)")
        return
    kind = args[0] if args else hint  # X | None: an X, or left out
    choices = f.metadata.get("choices")
    shown = "" if default is None else " (default: %(default)s)"
    group.add_argument(flag, type=kind, default=default, choices=list(choices) if choices else None,
                       help=help_text + shown)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k != "no_progress"}
    try:
        config = TrainConfig.of(**options, progress=not args.no_progress)  # checks the settings
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
