"""Self-describing checkpoints: one folder per model, never pickle.

    <folder>/config.json        model kind and sizes, dataset, format version, training settings
    <folder>/model.safetensors  weights (safetensors: plain tensors, no code execution on load)
    <folder>/metrics.json       test metrics in nats, wall time, device, per-epoch history

A checkpoint is written into a temporary sibling folder and renamed into place, so an interrupted
run never leaves a partial checkpoint under the final name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .models import LatentModel, ModelConfig, build_model

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"


class CheckpointError(ValueError):
    """A checkpoint folder is missing, partial, corrupt or of an unknown format version."""


def save_checkpoint(
    model: LatentModel,
    folder: str | os.PathLike,
    *,
    dataset: dict | None = None,
    training: dict | None = None,
    metrics: dict | None = None,
) -> Path:
    """Write ``model`` as a checkpoint folder, atomically replacing any folder already there.

    dataset, training: JSON-serialisable descriptions stored in config.json.
    metrics: JSON-serialisable metrics stored as metrics.json.
    returns: the folder's path.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "dataset": dataset or {},
        "training": training or {},
    }
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    try:
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format_version": str(FORMAT_VERSION)})
        _write_json(tmp / CONFIG_FILE, config)
        _write_json(tmp / METRICS_FILE, metrics or {})
        os.chmod(tmp, 0o755)
        for path in tmp.iterdir():
            os.chmod(path, 0o644)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_checkpoint(folder: str | os.PathLike, device: str | torch.device = "cpu") -> LatentModel:
    """Read config.json, build the model, load model.safetensors; return the model in eval mode.

    Raises CheckpointError (a ValueError) naming the folder if it is missing, lacks a file, holds
    an unknown format version, or its weights are not a safetensors file matching the config
    (e.g. a pickle in place of the weights: it is refused, never unpickled).
    """
    folder = Path(folder)
    config = read_config(folder)
    try:
        model_config = ModelConfig(**config["model"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{folder / CONFIG_FILE} has an invalid model section: {e}") from e
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"checkpoint {folder} has no {WEIGHTS_FILE}")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{weights} is not a readable safetensors file: {e}") from e
    model = build_model(model_config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{weights} does not match {CONFIG_FILE}: {e}") from e
    return model.to(device).eval()


def read_config(folder: str | os.PathLike) -> dict:
    """The parsed config.json of a checkpoint folder, checked for a known format version.

    Raises CheckpointError if the folder or file is missing, unparsable, or of another version.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    config = _read_json(folder / CONFIG_FILE)
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{folder / CONFIG_FILE} has format_version {version!r}; this code reads version "
            f"{FORMAT_VERSION}. Retrain the checkpoint or update latent-explorer."
        )
    return config


def read_metrics(folder: str | os.PathLike) -> dict:
    """The parsed metrics.json of a checkpoint folder. Raises CheckpointError if missing or bad."""
    return _read_json(Path(folder) / METRICS_FILE)


def write_metrics(folder: str | os.PathLike, metrics: dict) -> None:
    """Replace a checkpoint's metrics.json atomically (temporary file, then rename)."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        raise CheckpointError(f"{folder} is not a checkpoint folder (no {CONFIG_FILE})")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{METRICS_FILE}.")
    os.close(fd)
    try:
        _write_json(Path(tmp), metrics)
        os.chmod(tmp, 0o644)
        os.replace(tmp, folder / METRICS_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path.parent} has no {path.name}")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} does not hold a JSON object")
    return value


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n", encoding="utf-8")
