"""The checkpoint catalogue: every folder under checkpoints/, read from its JSON files and checked
against ``train.schema`` (no weights are loaded), and what the explorer says about each. No streamlit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from train import CheckpointError, ModelConfig
from train.checkpoint import recover_interrupted_saves
from train.schema import CheckpointMetadata, read_metadata

REPO_ROOT = Path(__file__).resolve().parent.parent


CHECKPOINT_DIR = REPO_ROOT / "checkpoints"


RETRAIN_COMMAND = "python -m train.retrain"


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint folder says about itself, read from its JSON files and checked against
    ``train.schema`` once, without loading weights.

    meta: the checked config.json and metrics.json (None if the folder failed);
    error: why the folder cannot be used (None if it can). Nothing of a failed folder is shown but
    its name and this reason.
    """

    name: str
    folder: Path
    meta: CheckpointMetadata | None = None
    error: str | None = None

    @property
    def model_config(self) -> ModelConfig | None:
        return self.meta.config.model if self.meta else None

    @property
    def dataset(self) -> str | None:
        """The name of the data the model was trained on (None for a broken folder)."""
        return self.meta.config.dataset if self.meta else None

    @property
    def metrics(self) -> dict:
        """The checked metrics.json ({} for a broken folder)."""
        return self.meta.metrics if self.meta else {}


def list_checkpoints(root: str | Path = CHECKPOINT_DIR) -> list[CheckpointInfo]:
    """Every checkpoint folder under ``root``, sorted by name; hidden entries (a checkpoint being
    written) are skipped. A symbolic link to a folder is followed, wherever it points: the explorer
    only reads a checkpoint's JSON and safetensors files, never writes or runs them.

    A folder whose config.json or metrics.json is missing, unparsable or fails ``train.schema`` is
    listed with its ``error`` set, so the caller shows it as broken instead of failing; every
    other folder is unaffected. Adding a folder needs no code change.

    First puts right what a killed ``save_checkpoint`` left under ``root`` (see
    ``train.checkpoint.recover_interrupted_saves``: leftovers of dead processes only), so a
    checkpoint whose replacement was interrupted is listed again under its name.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    recover_interrupted_saves(root)
    found = []
    for folder in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if not folder.is_dir():
            if folder.is_symlink():  # a link whose target is gone or is not a folder
                found.append(CheckpointInfo(folder.name, folder, error=f"{folder} is a link to "
                                            f"{os.readlink(folder)}, which is not a folder"))
            continue
        try:
            found.append(CheckpointInfo(folder.name, folder, read_metadata(folder)))
        except CheckpointError as e:
            found.append(CheckpointInfo(folder.name, folder, error=str(e)))
        except Exception as e:  # noqa: BLE001 - a backstop: one folder must never take down the list
            found.append(CheckpointInfo(folder.name, folder, error=f"cannot be read ({type(e).__name__}: "
                                                                     f"{str(e)[:200]})"))
    return found


# --- Which page fits which model: one table.


def is_image_model(config: ModelConfig) -> bool:
    """A model of 28x28 one-channel images (MNIST, Fashion-MNIST)."""
    return tuple(config.data_shape) == (1, 28, 28)


def decodes_z_alone(config: ModelConfig) -> bool:
    """An image model whose decoder takes z alone (not the conditional VAE, which also needs y)."""
    return is_image_model(config) and not config.conditional


def has_plane(config: ModelConfig) -> bool:
    """An image model whose codes can be drawn on a plane: a latent of 2 dimensions or more (PCA
    above 2)."""
    return is_image_model(config) and config.latent_dim >= 2


def is_2d(config: ModelConfig) -> bool:
    """An image model with a 2-D latent whose decoder takes z alone: a plane to click."""
    return decodes_z_alone(config) and config.latent_dim == 2


@dataclass(frozen=True)
class Need:
    """What a page needs of the picked model: ``fits`` tells, ``text`` says it to the user."""

    fits: Callable[[ModelConfig], bool]
    text: str


Z_ALONE = Need(decodes_z_alone, "an image model whose decoder takes z alone")
Z_ALONE_PLANE = Need(lambda c: decodes_z_alone(c) and has_plane(c),
                     "an image model whose decoder takes z alone, with a latent of 2 dimensions or more")
NEEDS: dict[str, Need] = {  # page (its module in explorer/views) -> what it needs
    "latent_map": Need(has_plane, "a model of 28×28 images with a latent of 2 dimensions or more"),
    "decode": Need(is_2d, "a 2-D latent whose decoder takes z alone (the CVAE has its own page)"),
    "reconstructions": Z_ALONE,
    "interpolation": Z_ALONE_PLANE,
    "posterior": Need(lambda c: is_2d(c) and c.variational, "a VAE-family model with a 2-D latent"),
    "draw": Z_ALONE_PLANE,
    "prior": Z_ALONE_PLANE,
    "conditional": Need(lambda c: is_image_model(c) and c.conditional and c.latent_dim == 2,
                        "a conditional VAE with a 2-D latent"),
    "denoising": Need(decodes_z_alone, "an image model whose decoder takes z alone (a DAE shows denoising "
                      "best)"),
    "high_dim": Need(lambda c: decodes_z_alone(c) and c.latent_dim > 2,
                     "a latent with more than 2 dimensions (e.g. `mnist-vae-16d`)"),
    "toy": Need(lambda c: tuple(c.data_shape) == (2,), "a model of the 2-D `toy-gaussians` points (e.g. "
                "`toy-vae-1d`)"),
    "model_card": Need(lambda c: True, "any checkpoint"),
    "timelapse": Need(lambda c: True, "any checkpoint with recorded frames"),
    "workshop": Need(lambda c: True, "nothing: it trains a model of its own"),
    "audience": Need(is_2d, "a 2-D latent whose decoder takes z alone: the room's digits land on its plane"),
}


def partners(infos: list[CheckpointInfo], current: str, fits: Callable[[ModelConfig], bool]) -> list[str]:
    """Names of the other checkpoints in ``infos`` that fit and model the same data as ``current``,
    the opposite family first: for a VAE the AE of the same latent size, for an AE or DAE the VAE
    (the comparison a lecture makes); then plain kinds before β-VAEs and DAEs; then by name.
    Broken folders are never among them."""
    this = next((i for i in infos if i.name == current), None)
    fitting = {i.name: i for i in infos if i.model_config and fits(i.model_config)
               and (this is None or i.dataset == this.dataset)}
    fitting.pop(current, None)
    config = this.model_config if this else None
    if config is None:
        return list(fitting)

    def rank(name: str) -> tuple:
        other = fitting[name].model_config
        same_size = other.latent_dim == config.latent_dim
        opposite = other.variational != config.variational
        plain = other.kind in ("ae", "vae") and other.beta == 1
        return (not same_size, not opposite, not plain, name)

    return sorted(fitting, key=rank)


def lecture_trio(infos: list[CheckpointInfo], names: list[str]) -> list[str]:
    """The first plain DAE, AE and VAE among ``names`` (noisy | DAE | AE | VAE is the lecture's row)."""
    configs = {i.name: i.model_config for i in infos if i.model_config is not None}
    chosen = []
    for kind in ("dae", "ae", "vae"):
        chosen += [n for n in names if configs[n].kind == kind and configs[n].beta == 1][:1]
    return chosen


# --- A checkpoint's model card: what it says about itself, as rows of text.


def card_model_rows(model) -> dict[str, str]:
    """The model section of a card: only the settings that matter for this kind."""
    rows = {"kind": model.kind, "architecture": f"{model.arch} {list(model.hidden_dims)}",
            "latent size d": str(model.latent_dim), "likelihood p(x|z)": model.likelihood}
    if model.likelihood == "gaussian":
        rows["likelihood p(x|z)"] += f" (σ = {model.sigma:g})"
    if model.variational:
        rows["β (KL weight)"] = f"{model.beta:g}"
    if model.kind == "dae":
        rows["corruption"] = f"{model.noise}, level {model.noise_level:g}"
    if model.conditional:
        rows["classes"] = str(model.n_classes)
    return rows


def card_data_rows(data: dict) -> dict[str, str]:
    """The dataset section of a card, from config.json's ``dataset``."""
    binarized = (f"dynamically (training); test set once, seed {data.get('test_binarization_seed')}"
                 if data.get("binarized") else "no")
    sizes = f"{data.get('n_train', '?')} train / {data.get('n_test', '?')} test"
    return {"dataset": f"{data.get('name', '?')}: {sizes}",
            "source": str(data.get("source", "?")), "values": str(data.get("pixels", "?")),
            "binarized": binarized}


def card_training_rows(training: dict, metrics: dict) -> dict[str, str]:
    """The training and evaluation section of a card, from config.json and metrics.json."""
    lr = str(training.get("lr", "?"))
    if training.get("lr_final") is not None:
        lr += f" → {training['lr_final']} (cosine)"
    device = metrics.get("device_name") or metrics.get("device", "?")
    return {"epochs × batch": f"{metrics.get('epochs', '?')} × {training.get('batch_size', '?')}",
            "Adam learning rate": lr,
            "precision, seed": f"{training.get('precision', 'fp32')}, {training.get('seed', '?')}",
            "training time": f"{metrics.get('wall_time_s', '?')} s on {device}",
            "evaluation": f"{metrics.get('elbo_samples', '–')} ELBO samples, "
                          f"IWAE K = {metrics.get('iwae_k', '–')}, seed {metrics.get('seed', '–')}"}
