"""The one schema of a checkpoint's metadata: config.json and metrics.json, checked once, on read.

Everything that shows or uses a checkpoint's metadata (the explorer's model list and model card,
``python -m train.evaluate``) reads it through ``read_checkpoint_config`` / ``read_metadata``, so a
value is never formatted or used before its type and range have been checked. A folder that fails
gets one ``CheckpointError`` whose message names the file, the field and what is wrong; the caller
lists it as broken and carries on with the others.

- config.json: ``format_version`` (checked by ``read_config``); ``model``, the fields of
  ``ModelConfig`` (types, ranges and a parameter cap are checked there, before anything is
  allocated); ``dataset``, an object whose ``name`` is one of ``train.data.DATASETS``; ``training``,
  an object (free text for a model card).
- metrics.json: every key of ``METRIC_TYPES`` that is present has its type and range; keys that are
  reported together (a negative ELBO and its parts) are present together; unknown keys are kept
  but never shown.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoint import CONFIG_FILE, METRICS_FILE, CheckpointError, read_config, read_metrics
from .config import DATASETS, ModelConfig

Check = Callable[[object, ModelConfig], str | None]  # a value -> None if it fits, else what is wrong


def _finite(value) -> bool:
    """A JSON number that is finite as a float (a 400-digit integer is not: float() overflows)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _shown(value) -> str:
    """A value for a message, cut short (a bad file may hold a huge one)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _number(low: float = -math.inf) -> Check:
    def check(value, _config):
        if not _finite(value):
            return f"must be a finite number, got {_shown(value)}"
        return None if value >= low else f"must be >= {low:g}, got {value!r}"
    return check


def _whole(low: int = 0) -> Check:
    def check(value, _config):
        if isinstance(value, bool) or not isinstance(value, int) or not _finite(value):
            return f"must be a whole number, got {_shown(value)}"
        return None if value >= low else f"must be >= {low}, got {value!r}"
    return check


def _text(value, _config):
    return None if isinstance(value, str) else f"must be a string, got {value!r}"


def _flag(value, _config):
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def _per_dimension(low: float = -math.inf) -> Check:
    """A list of one finite number per latent dimension."""
    number = _number(low)

    def check(value, config):
        if not isinstance(value, list) or len(value) != config.latent_dim:
            return f"must be a list of {config.latent_dim} numbers (one per latent dimension), got {value!r}"
        return next((f"[{i}] {problem}" for i, v in enumerate(value) if (problem := number(v, config))), None)
    return check


def _active_units(value, config):
    problem = _whole()(value, config)
    if problem is None and value > config.latent_dim:
        return f"must be at most the latent size {config.latent_dim}, got {value}"
    return problem


def _corruption(value, config):
    if not isinstance(value, dict):
        return f"must be an object {{noise, level}}, got {value!r}"
    return _text(value.get("noise"), config) or _number(0)(value.get("level"), config)


HISTORY_NUMBERS = ("train_loss", "test_loss", "test_recon", "test_kl", "seconds")


def _history(value, config):
    """Per-epoch rows {"epoch": int, "train_loss": nats, "test_loss": nats, ...}."""
    if not isinstance(value, list):
        return f"must be a list of per-epoch rows, got {type(value).__name__}"
    for i, row in enumerate(value):
        if not isinstance(row, dict) or "train_loss" not in row or "test_loss" not in row:
            return f"[{i}] must be an object with epoch, train_loss and test_loss, got {row!r}"
        problem = _whole(1)(row.get("epoch"), config) or next(
            (f"{key} {p}" for key in HISTORY_NUMBERS
             if key in row and (p := _number()(row[key], config))), None)
        if problem:
            return f"[{i}] {problem}"
    return None


# Every metric the evaluator and trainer write (train/evaluate.py, train/trainer.py), in nats per test
# input unless the name says otherwise.
METRIC_TYPES: dict[str, Check] = {
    "test_negative_elbo": _number(), "test_recon_nll": _number(), "test_kl": _number(),
    "test_iwae_nll": _number(), "test_iwae_bits_per_dim": _number(), "test_recon_bits_per_dim": _number(),
    "test_corrupted_recon_nll": _number(), "corruption": _corruption,
    "iwae_k": _whole(1), "elbo_samples": _whole(1), "n_test": _whole(), "seed": _whole(), "epochs": _whole(),
    "active_units": _active_units, "active_unit_threshold": _number(0),
    "kl_per_dim": _per_dimension(), "mean_variance_per_dim": _per_dimension(0),
    "evaluation_seconds": _number(0), "wall_time_s": _number(0), "frames_seconds": _number(0),
    "processes": _whole(1), "binarized": _flag,
    "units": _text, "device": _text, "device_name": _text, "torch": _text,
    "precision": _text, "precision_requested": _text, "cpu_capability": _text,
    "history": _history,
}
# A headline metric and the metrics that are always shown beside it.
REPORTED_WITH = {
    "test_negative_elbo": ("test_recon_nll", "test_kl", "active_units", "kl_per_dim",
                           "mean_variance_per_dim"),
    "test_iwae_nll": ("iwae_k", "test_iwae_bits_per_dim"),
    "test_corrupted_recon_nll": ("corruption",),
    "kl_per_dim": ("mean_variance_per_dim",),  # drawn together (active units are coloured)
}


@dataclass(frozen=True)
class CheckpointConfig:
    """A checked config.json.

    model: the model's settings; dataset: the name of the data it was trained on (one of
    ``train.data.DATASETS``); dataset_info, training: the rest of those sections, as written
    (free text for a model card: format their values with str(), never with a number format).
    """

    model: ModelConfig
    dataset: str
    dataset_info: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointMetadata:
    """A checkpoint folder's config.json and metrics.json, both checked. metrics: the parsed
    metrics.json, every key of ``METRIC_TYPES`` in it of the right type and range."""

    folder: Path
    config: CheckpointConfig
    metrics: dict

    @property
    def name(self) -> str:
        return self.folder.name


def check_config(raw: dict, where: str | os.PathLike = CONFIG_FILE) -> CheckpointConfig:
    """Check a parsed config.json (its format version already checked by ``read_config``).

    Raises CheckpointError naming ``where`` and the first field that is missing, of the wrong type
    or out of range (including a network over ``train.models.MAX_PARAMETERS`` parameters).
    """
    model = raw.get("model")
    if not isinstance(model, dict):
        raise CheckpointError(f"{where}: 'model' must be an object of model settings, got {model!r}")
    try:
        model_config = ModelConfig(**model)
    except TypeError as e:  # an unknown or missing field
        raise CheckpointError(f"{where}: 'model' has fields this version does not know: {e}") from e
    except ValueError as e:
        raise CheckpointError(f"{where}: 'model': {e}") from e
    dataset = raw.get("dataset")
    if not isinstance(dataset, dict):
        raise CheckpointError(f"{where}: 'dataset' must be an object with a 'name', got {dataset!r}")
    if dataset.get("name") not in DATASETS:
        raise CheckpointError(f"{where}: 'dataset.name' must be one of {list(DATASETS)}, "
                              f"got {dataset.get('name')!r}")
    training = raw.get("training", {})
    if not isinstance(training, dict):
        raise CheckpointError(f"{where}: 'training' must be an object, got {training!r}")
    return CheckpointConfig(model=model_config, dataset=dataset["name"], dataset_info=dataset,
                            training=training)


def check_metrics(metrics: dict, config: ModelConfig, where: str | os.PathLike = METRICS_FILE) -> dict:
    """Check a parsed metrics.json against ``METRIC_TYPES`` and ``REPORTED_WITH``; returns it.

    Raises CheckpointError naming ``where`` and the first metric of the wrong type or range, or a
    headline metric whose parts are missing.
    """
    for key, check in METRIC_TYPES.items():
        if key in metrics and (problem := check(metrics[key], config)):
            raise CheckpointError(f"{where}: '{key}' {problem}")
    for headline, parts in REPORTED_WITH.items():
        missing = [p for p in parts if headline in metrics and p not in metrics]
        if missing:
            raise CheckpointError(f"{where}: '{headline}' is reported without {', '.join(missing)}")
    return metrics


def read_checkpoint_config(folder: str | os.PathLike) -> CheckpointConfig:
    """The checked config.json of a checkpoint folder (see ``check_config``).

    Raises CheckpointError if the folder or file is missing, unparsable, of another format version,
    or fails the schema.
    """
    folder = Path(folder)
    return check_config(read_config(folder), folder / CONFIG_FILE)


def read_metadata(folder: str | os.PathLike) -> CheckpointMetadata:
    """A checkpoint folder's config.json and metrics.json, both checked, without loading weights.

    Raises CheckpointError (a ValueError) with the reason if either file is missing or fails.
    """
    folder = Path(folder)
    config = read_checkpoint_config(folder)
    metrics = check_metrics(read_metrics(folder), config.model, folder / METRICS_FILE)
    return CheckpointMetadata(folder=folder, config=config, metrics=metrics)


# --- How the headline metrics read: the one place their labels and formats are written.


@dataclass(frozen=True)
class MetricLine:
    """One headline test metric: ``label`` ("test −ELBO"), ``value`` ("138.76 nats") and ``detail``
    ("recon 131.84 + KL 6.92")."""

    label: str
    value: str
    detail: str

    def __str__(self) -> str:
        return f"{self.label} {self.value} ({self.detail})"


def metric_lines(metrics: dict) -> list[MetricLine]:
    """The headline metrics of a checked metrics.json (``check_metrics``), in nats per test input:
    the VAE family's −ELBO with its parts, IWAE NLL and active units; the AE's and DAE's
    reconstruction NLL (and the DAE's from corrupted inputs). [] if it has none."""
    if "test_negative_elbo" in metrics:
        lines = [MetricLine("test −ELBO", f"{metrics['test_negative_elbo']:.2f} nats",
                            f"recon {metrics['test_recon_nll']:.2f} + KL {metrics['test_kl']:.2f}")]
        if "test_iwae_nll" in metrics:
            lines.append(MetricLine(f"IWAE NLL (K = {metrics['iwae_k']})",
                                    f"{metrics['test_iwae_nll']:.2f} nats",
                                    f"{metrics['test_iwae_bits_per_dim']:.4f} bits/dim"))
        lines.append(MetricLine("active units", f"{metrics['active_units']} / {len(metrics['kl_per_dim'])}",
                                f"Var(E[z]) > {metrics.get('active_unit_threshold', 0.01):g}"))
        return lines
    if "test_recon_nll" not in metrics:
        return []
    lines = [MetricLine("test reconstruction NLL", f"{metrics['test_recon_nll']:.2f} nats",
                        "−log p(x | encoder(x))")]
    if "test_corrupted_recon_nll" in metrics:
        corruption = metrics["corruption"]
        lines.append(MetricLine("from corrupted inputs", f"{metrics['test_corrupted_recon_nll']:.2f} nats",
                                f"{corruption['noise']} noise, level {corruption['level']:g}"))
    return lines


def headline(metrics: dict) -> str:
    """The one metric that names a checkpoint in a list, e.g. "−ELBO 138.8 nats"."""
    if "test_negative_elbo" in metrics:
        return f"−ELBO {metrics['test_negative_elbo']:.1f} nats"
    if "test_recon_nll" in metrics:
        return f"recon NLL {metrics['test_recon_nll']:.1f} nats"
    return "no test metrics"
