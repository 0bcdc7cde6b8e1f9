"""A checkpoint with its test set's codes (``ExplorerModel``), the unit every page works with. No
streamlit; torch only when the network itself is needed.

The codes come from the checkpoint's ``codes.safetensors`` (``train.codes``: written by the trainer
with the weights) when it is there, matches the weights beside it (their SHA-256) and has the same
test labels as the explorer's copy of the test set: a latent map then needs no torch at all, and
the first page renders without waiting ~1.5 s for it to import; the torch model is then loaded on
first use of ``ExplorerModel.model``. Otherwise the model is loaded and the test set encoded at once
(``explorer.inference.load_explorer_model``).
"""

from __future__ import annotations

import math
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError, safe_open

from train import CheckpointError, ModelConfig
from train.checkpoint import WEIGHTS_FILE
from train.codes import read_codes
from train.schema import CheckpointMetadata

from .testdata import class_names

if TYPE_CHECKING:
    from train.models import LatentModel


class ExplorerModel:
    """A checkpoint of an image model with its test set encoded.

    name: the checkpoint folder's name, e.g. "mnist-vae-2d"; folder: its path.
    config: its ``ModelConfig``; metrics: its parsed metrics.json.
    codes: float32 [N_test, d] latent locations of the test digits (posterior means E[q(z|x)] for
    the VAE family; the CVAE's style codes given each digit's own class).
    dataset: the name of the data it was trained on, whose test set ``codes`` encode.
    model: the network, in eval mode on the CPU: loaded (with torch) on first use unless given,
    once even if several sessions ask at the same time; raises train.CheckpointError if the weights
    cannot be loaded.
    """

    def __init__(self, name: str, folder: Path, config: ModelConfig, metrics: dict, codes: np.ndarray,
                 dataset: str, model: LatentModel | None = None):
        self.name, self.folder, self.config, self.metrics = name, Path(folder), config, metrics
        self.codes, self.dataset = codes, dataset
        self._model = model
        self._lock = threading.Lock()

    @property
    def model(self) -> LatentModel:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from train import load_checkpoint  # noqa: PLC0415 (torch: see the module docstring)

                    self._model = load_checkpoint(self.folder, config=self.config)
        return self._model

    @property
    def class_names(self) -> tuple[str, ...]:
        return class_names(self.dataset)

    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def label(self) -> str:
        """Short display name, e.g. "VAE"."""
        return self.config.label

    def __repr__(self) -> str:
        return f"ExplorerModel({self.name!r}, codes {list(self.codes.shape)})"


def check_image_model(meta: CheckpointMetadata) -> None:
    """Raise ValueError unless the checkpoint ``meta`` models 28x28 images (what the pages show)."""
    shape = tuple(meta.config.model.data_shape)
    if shape != (1, 28, 28):
        raise ValueError(f"{meta.folder.name} models {shape} data, not 28x28 images")


def weights_fit_config(folder: Path, config: ModelConfig) -> bool:
    """Whether the checkpoint's model.safetensors holds as many weights as ``config`` describes
    (``ModelConfig.parameter_count``), read from its header alone (no torch, no weights loaded):
    a config edited to another kind or size no longer passes for the network beside it. False if
    the file cannot be read."""
    try:
        with safe_open(str(Path(folder) / WEIGHTS_FILE), framework="numpy") as f:
            count = sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())
    except (SafetensorError, OSError, ValueError, TypeError):
        return False
    return count == config.parameter_count()


def from_codes_file(meta: CheckpointMetadata, test_labels: np.ndarray) -> ExplorerModel | None:
    """The model of ``meta`` with the codes its checkpoint stores, without torch; None if it has none
    that can be used: no codes.safetensors, codes of other weights (stale), of another dataset or
    of a test set whose labels differ from ``test_labels`` (int [N]); or weights that do not fit
    config.json (``weights_fit_config``), so that loading them, with torch, reports why at once. A
    damaged codes file is reported on stderr and also gives None: the codes are then computed again,
    nothing is lost.

    Raises ValueError if the checkpoint does not model 28x28 images.
    """
    check_image_model(meta)
    try:
        stored = read_codes(meta.folder)
    except CheckpointError as e:
        print(f"latent-explorer: {meta.folder.name}: {' '.join(str(e).split())}; encoding the test set "
              "instead", file=sys.stderr, flush=True)
        return None
    config = meta.config.model
    if (stored is None or stored.dataset != meta.config.dataset
            or stored.codes.shape[1] != config.latent_dim or not np.array_equal(stored.labels, test_labels)
            or not weights_fit_config(meta.folder, config)):
        return None
    return ExplorerModel(meta.folder.name, meta.folder, config, meta.metrics, stored.codes,
                         meta.config.dataset)
