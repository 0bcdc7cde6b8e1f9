"""Frames of a training run: the latent codes of a fixed set of test inputs, recorded at log-spaced
optimisation steps from the untrained network (step 0) to the final one, with the loss parts, the
KL per dimension and a small decoded manifold at each step (``python -m train --frames N``).

Nothing is interpolated: every frame is the network as it was after ``step`` optimisation steps.
Recording runs in eval mode under ``torch.no_grad``, in fp32, with the global random number
generators forked and restored (``torch.random.fork_rng``), and puts the model back in the mode it
was in, so a run with frames gives the same weights, byte for byte, as the same run without.

The frames are stored beside the weights as ``frames.safetensors``, written by
``train.checkpoint.save_checkpoint`` into the same temporary folder as the weights and renamed into
place with them, and read back with ``read_frames(folder)`` (safetensors: plain tensors, never
pickle). With F frames, M inputs, latent size d and K manifold points, the file holds (``TENSORS``):

    step            int64 [F]             optimisation steps taken, strictly increasing; 0 = untrained
    epoch           float32 [F]           step / steps per epoch (fractional epochs done)
    codes           float16|32 [F, M, d]  the M inputs' latent locations at each frame
    index           int64 [M]             their indices in the dataset's test split
    label           int64 [M]             their class labels
    train_loss, train_recon, train_kl   float32 [F]  nats per input: see ``TRAIN_PARTS``
    test_loss, test_recon, test_kl      float32 [F]  nats per input on the M inputs: see ``TEST_PARTS``
    kl_per_dim      float32 [F, d]        VAE family: mean KL(q(z_i|x) || N(0, 1)) over the M inputs
    kl_weight       float32 [F]           VAE family: the KL weight (beta times warm-up) at the step
    manifold_z      float32 [F, K, d]     the latents decoded for the manifold (d <= 2, z alone)
    manifold_images uint8 [F, K, H, W]    images: round(255 * E[x|z]) of each manifold_z
    manifold_points float32 [F, K, D]     points (the toy data): E[x|z] of each manifold_z

and, in the safetensors metadata header (strings), ``format`` ("latent-explorer frames"),
``format_version``, the sizes, and what each tensor, the inputs, the parts and the manifold spacing
mean (``tensors`` is a JSON object name -> description).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as save_arrays

from .checkpoint import FRAMES_FILE, CheckpointError
from .config import ModelConfig

if TYPE_CHECKING:  # torch only to record (FrameRecorder): reading frames (the explorer) needs none
    import torch

    from .models import LatentModel, LossTerms

FORMAT_NAME = "latent-explorer frames"
FORMAT_VERSION = 1
DEFAULT_FRAMES = 40  # recorded by default for latent sizes <= MAX_DEFAULT_LATENT
MAX_DEFAULT_LATENT = 2
FRAME_INPUTS = 2000  # M: test inputs whose codes are recorded, class-balanced
SUBSET_SEED = 0  # the same M inputs for every model, whatever its training seed
MAX_FRAMES_BYTES = 3_000_000  # a frames file is at most 3 MB
MANIFOLD_TILES = 36  # images: a 6 x 6 grid of 28 x 28 tiles for a 2-D latent (6 in a row for 1-D)
MANIFOLD_POINTS = 64  # points: 64 on a line for a 1-D latent (an 8 x 8 grid for 2-D)
PRIOR_QUANTILES = (0.05, 0.95)  # "prior" spacing: quantiles of N(0, 1) per axis (AEVB, Fig. 4)
DATA_QUANTILES = (0.01, 0.99)  # "data" spacing: quantiles of the frame's own codes per axis

TRAIN_PARTS = ("mean, over the optimisation steps since the previous frame, of each training batch's "
               "mean loss, recon (-log p(x|z)) and KL, as trained (z sampled, DAE inputs corrupted, "
               "bf16 where used); loss = recon + KL, not beta-weighted; NaN at step 0 (no step yet)")
TEST_PARTS = ("mean over the M inputs in eval mode, fp32: -log p(x|z) and KL with one z ~ q(z|x) per "
              "input for the VAE family (the same draws at every frame), -log p(x | encoder(x)) for "
              "the AE and DAE (clean inputs)")


@dataclass(frozen=True)
class TensorSpec:
    """What a tensor of a frames file must be: numpy dtype names, its shape in named sizes (F frames,
    M inputs, d latent size, K manifold points, H, W image size, D point size), what it means."""

    dtypes: tuple[str, ...]
    dims: tuple[str, ...]
    meaning: str


TENSORS: dict[str, TensorSpec] = {
    "step": TensorSpec(("int64",), ("F",), "optimisation steps taken before the frame, strictly "
                                           "increasing, log-spaced; 0 = the untrained network"),
    "epoch": TensorSpec(("float32",), ("F",), "step / steps per epoch"),
    "codes": TensorSpec(("float16", "float32"), ("F", "M", "d"),
                        "latent locations of the M inputs: the posterior mean E[q(z|x)] for the VAE "
                        "family (E[q(z|x, y)] with the true labels for the CVAE), encoder(x) for the "
                        "AE and DAE; the last frame is the saved model's"),
    "index": TensorSpec(("int64",), ("M",), "indices of the M inputs in the dataset's test split"),
    "label": TensorSpec(("int64",), ("M",), "class labels of the M inputs"),
    "train_loss": TensorSpec(("float32",), ("F",), "training loss (recon + KL), nats per input: "
                                                   + TRAIN_PARTS),
    "train_recon": TensorSpec(("float32",), ("F",), "training -log p(x|z), nats per input"),
    "train_kl": TensorSpec(("float32",), ("F",), "training KL(q(z|x) || p(z)), nats per input (0: AE)"),
    "test_loss": TensorSpec(("float32",), ("F",), "test loss (recon + KL), nats per input: " + TEST_PARTS),
    "test_recon": TensorSpec(("float32",), ("F",), "test -log p(x|z), nats per input"),
    "test_kl": TensorSpec(("float32",), ("F",), "test KL(q(z|x) || p(z)), nats per input (0: AE)"),
    "kl_per_dim": TensorSpec(("float32",), ("F", "d"), "VAE family: mean over the M inputs of "
                                                       "KL(q(z_i|x) || N(0, 1)) per latent dimension, nats"),
    "kl_weight": TensorSpec(("float32",), ("F",), "VAE family: weight of the KL term in the training "
                                                  "loss at the step (beta times the warm-up factor)"),
    "manifold_z": TensorSpec(("float32",), ("F", "K", "d"), "latents decoded for the manifold; for d = 2 a "
                                                            "grid, top row first, z_1 varying fastest"),
    "manifold_images": TensorSpec(("uint8",), ("F", "K", "H", "W"),
                                  "round(255 * E[x|z]) of each manifold_z, clipped to [0, 255]"),
    "manifold_points": TensorSpec(("float32",), ("F", "K", "D"), "E[x|z] of each manifold_z"),
}
REQUIRED = ("step", "codes", "index")


# --- Which steps, which inputs, which latents.


def frame_steps(total_steps: int, n_frames: int) -> np.ndarray:
    """The optimisation steps to record: 0 (the untrained network), then ``n_frames - 1`` steps
    log-spaced from 1 to ``total_steps``, rounded to whole steps and pushed apart where rounding
    made two equal (so the first few are consecutive).

    returns: int64 [min(n_frames, total_steps + 1)], strictly increasing, first 0, last total_steps.
    Raises ValueError for total_steps < 1 or n_frames < 2.
    """
    if total_steps < 1 or n_frames < 2:
        raise ValueError(f"need total_steps >= 1 and n_frames >= 2, got {total_steps} and {n_frames}")
    if n_frames >= total_steps + 1:
        return np.arange(total_steps + 1, dtype=np.int64)
    steps = np.rint(np.geomspace(1, total_steps, n_frames - 1)).astype(np.int64)
    for i in range(1, len(steps)):  # forward: at least one more than the one before
        steps[i] = max(steps[i], steps[i - 1] + 1)
    steps[-1] = total_steps
    for i in range(len(steps) - 2, -1, -1):  # backward: leave room for the ones after
        steps[i] = min(steps[i], steps[i + 1] - 1)
    return np.concatenate([np.zeros(1, dtype=np.int64), steps])


def frame_subset(labels: np.ndarray | torch.Tensor, n_inputs: int = FRAME_INPUTS,
                 seed: int = SUBSET_SEED) -> np.ndarray:
    """A fixed class-balanced subset of a test split: each class's indices shuffled (numpy
    generator seeded with ``seed``; no global state is used), then taken in turn, one of each class,
    until ``n_inputs`` are taken (n_inputs / C of each of C classes when every class has that many).

    labels: int [N] the test split's class labels. returns: int64 [min(n_inputs, N)] indices, sorted.
    Raises ValueError for n_inputs < 1 or an empty split.
    """
    labels = np.asarray(labels)
    if n_inputs < 1 or labels.size == 0:
        raise ValueError(f"need n_inputs >= 1 and a non-empty split, got {n_inputs} and {labels.size} labels")
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    longest = max(len(indices) for indices in per_class)
    taken = np.array([indices[i] for i in range(longest) for indices in per_class if i < len(indices)])
    return np.sort(taken[:n_inputs]).astype(np.int64)


def manifold_kind(config: ModelConfig) -> str | None:
    """What the manifold of a model decodes to: "images" (one-channel images), "points" (vectors,
    the toy data), or None (no manifold: a latent of more than 2 dimensions, or the CVAE, whose
    decoder needs a class y as well as z)."""
    if config.latent_dim > 2 or config.conditional:
        return None
    if len(config.data_shape) == 3 and config.data_shape[0] == 1:
        return "images"
    return "points" if len(config.data_shape) == 1 else None


def manifold_spacing(config: ModelConfig) -> str:
    """"prior" for the VAE family (the same prior-quantile grid at every frame), "data" for the AE
    and DAE, whose codes have no prior (a grid over each frame's own codes)."""
    return "prior" if config.variational else "data"


def manifold_grid(latent_dim: int, n_points: int, spacing: str,
                  codes: np.ndarray | None = None) -> np.ndarray:
    """The latents decoded for a manifold: n per axis, n = round(n_points ** (1 / latent_dim)).

    spacing "prior": z = Phi^-1(p), p evenly spaced over ``PRIOR_QUANTILES`` (AEVB, Fig. 4, as the
    explorer's Latent map); "data": evenly over ``DATA_QUANTILES`` of ``codes`` float [M, d] per axis.
    returns: float32 [n ** d, d]; for d = 2 rows run from high z_2 (top) to low, z_1 fastest.
    Raises ValueError for latent_dim not 1 or 2, an unknown spacing, or "data" without codes.
    """
    if latent_dim not in (1, 2):
        raise ValueError(f"a manifold needs a latent of 1 or 2 dimensions, got {latent_dim}")
    n = max(2, round(n_points ** (1 / latent_dim)))
    if spacing == "prior":
        q = np.array([NormalDist().inv_cdf(p) for p in np.linspace(*PRIOR_QUANTILES, n)])
        axes = [q] * latent_dim
    elif spacing == "data" and codes is not None:
        low, high = np.nanquantile(np.asarray(codes, dtype=np.float64), DATA_QUANTILES, axis=0)
        axes = [np.linspace(lo, hi, n) for lo, hi in zip(low, high, strict=True)]
    else:
        raise ValueError(f"unknown spacing {spacing!r} (or 'data' without codes); expected prior or data")
    if latent_dim == 1:
        return axes[0][:, None].astype(np.float32)
    xs, ys = np.meshgrid(axes[0], axes[1][::-1])
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def _manifold_size(config: ModelConfig) -> tuple[int, int]:
    """(K manifold points, bytes of one decoded point) for ``config``; (0, 0) without a manifold."""
    kind = manifold_kind(config)
    if kind is None:
        return 0, 0
    n_points = MANIFOLD_TILES if kind == "images" else MANIFOLD_POINTS
    k = max(2, round(n_points ** (1 / config.latent_dim))) ** config.latent_dim
    return k, (math.prod(config.data_shape) if kind == "images" else 4 * math.prod(config.data_shape))


def frames_size_bound(n_frames: int, n_inputs: int, config: ModelConfig) -> int:
    """An upper bound on the bytes of a frames file of ``n_frames`` frames of ``n_inputs`` inputs of
    a model of ``config`` (codes counted as float32, header as 16 kB), known before training."""
    d = config.latent_dim
    k, point_bytes = _manifold_size(config)
    per_frame = 4 * n_inputs * d + 8 + 4 * 8 + 4 * (d + 1) + k * (4 * d + point_bytes)
    return n_frames * per_frame + 16 * n_inputs + 16_384


def check_frames_budget(n_frames: int, n_inputs: int, config: ModelConfig) -> None:
    """Raise ValueError, before any training, if ``n_frames`` frames could exceed ``MAX_FRAMES_BYTES``;
    the message says how many fit."""
    if n_frames and frames_size_bound(n_frames, n_inputs, config) > MAX_FRAMES_BYTES:
        fit = n_frames
        while fit > 2 and frames_size_bound(fit, n_inputs, config) > MAX_FRAMES_BYTES:
            fit -= 1
        hint = f"use --frames {fit} or fewer" if fit > 2 else "this latent is too large to record"
        raise ValueError(f"--frames {n_frames} would write up to "
                         f"{frames_size_bound(n_frames, n_inputs, config) / 1e6:.1f} MB of frames for "
                         f"{n_inputs} inputs of a {config.latent_dim}-D latent; the cap is "
                         f"{MAX_FRAMES_BYTES / 1e6:g} MB: {hint}")


# --- The frames themselves.


@dataclass(frozen=True)
class Frames:
    """A training run's frames (see the module docstring and ``TENSORS``), as numpy arrays.

    step, codes, index are always there; the others are None when a file does not hold them (the
    VAE-only ones for the AE and DAE, the manifold for the CVAE and latents over 2-D).
    metadata: the file's metadata header, str -> str.
    Raises ValueError (at construction) naming the first tensor of the wrong dtype or shape, steps
    that do not increase strictly, or indices that are negative or repeated.
    """

    step: np.ndarray
    codes: np.ndarray
    index: np.ndarray
    epoch: np.ndarray | None = None
    label: np.ndarray | None = None
    train_loss: np.ndarray | None = None
    train_recon: np.ndarray | None = None
    train_kl: np.ndarray | None = None
    test_loss: np.ndarray | None = None
    test_recon: np.ndarray | None = None
    test_kl: np.ndarray | None = None
    kl_per_dim: np.ndarray | None = None
    kl_weight: np.ndarray | None = None
    manifold_z: np.ndarray | None = None
    manifold_images: np.ndarray | None = None
    manifold_points: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        sizes: dict[str, int] = {}
        for name, spec in TENSORS.items():
            value = getattr(self, name)
            if value is None:
                if name in REQUIRED:
                    raise ValueError(f"the tensor {name!r} is missing")
                continue
            if not isinstance(value, np.ndarray) or value.dtype.name not in spec.dtypes:
                dtype = value.dtype.name if isinstance(value, np.ndarray) else type(value).__name__
                raise ValueError(f"{name!r} must be {' or '.join(spec.dtypes)}, got {dtype}")
            if value.ndim != len(spec.dims):
                raise ValueError(f"{name!r} must be [{', '.join(spec.dims)}], got shape {list(value.shape)}")
            for dim, size in zip(spec.dims, value.shape, strict=True):
                if sizes.setdefault(dim, size) != size:
                    raise ValueError(f"{name!r} has {dim} = {size} where the tensors before it have "
                                     f"{dim} = {sizes[dim]} (shape {list(value.shape)})")
        if min(self.codes.shape) < 1:
            raise ValueError(f"'codes' must hold at least one frame, input and dimension, got "
                             f"{list(self.codes.shape)}")
        if self.step[0] < 0 or np.any(np.diff(self.step) <= 0):
            raise ValueError(f"'step' must be >= 0 and strictly increasing, got {self.step[:8].tolist()}...")
        if self.index.min() < 0 or len(np.unique(self.index)) != len(self.index):
            raise ValueError("'index' must hold distinct test-set indices >= 0")
        if (self.manifold_z is None) != (self.manifold_images is None and self.manifold_points is None):
            raise ValueError("'manifold_z' comes with exactly one of 'manifold_images' and 'manifold_points'")
        if self.manifold_images is not None and self.manifold_points is not None:
            raise ValueError("'manifold_z' comes with exactly one of 'manifold_images' and 'manifold_points'")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.metadata.items()):
            raise ValueError("metadata must map strings to strings")

    @property
    def n_frames(self) -> int:
        return self.codes.shape[0]

    @property
    def n_inputs(self) -> int:
        return self.codes.shape[1]

    @property
    def latent_dim(self) -> int:
        return self.codes.shape[2]

    def tensors(self) -> dict[str, np.ndarray]:
        """The tensors this holds, name -> array (the absent ones left out)."""
        return {name: getattr(self, name) for name in TENSORS if getattr(self, name) is not None}

    def to_bytes(self) -> bytes:
        """The frames as a safetensors file: the tensors, and ``metadata`` with the format's name and
        version, the sizes and the meaning of each tensor (``TENSORS``) in the header.
        Raises ValueError if the file would exceed ``MAX_FRAMES_BYTES``."""
        tensors = self.tensors()
        header = {**self.metadata, "format": FORMAT_NAME, "format_version": str(FORMAT_VERSION),
                  "n_frames": str(self.n_frames), "n_inputs": str(self.n_inputs),
                  "latent_dim": str(self.latent_dim),
                  "tensors": json.dumps({name: f"{' or '.join(TENSORS[name].dtypes)} "
                                               f"[{', '.join(TENSORS[name].dims)}]: {TENSORS[name].meaning}"
                                         for name in tensors})}
        data = save_arrays({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=header)
        if len(data) > MAX_FRAMES_BYTES:
            raise ValueError(f"the frames take {len(data) / 1e6:.1f} MB; the cap is "
                             f"{MAX_FRAMES_BYTES / 1e6:g} MB")
        return data


assert {f.name for f in fields(Frames)} == {*TENSORS, "metadata"}


def read_frames(folder: str | os.PathLike) -> Frames:
    """The frames of a checkpoint folder, read from its frames.safetensors and checked.

    returns: Frames (numpy arrays; see the module docstring).
    Raises CheckpointError naming the file and what is wrong if it is missing, larger than
    ``MAX_FRAMES_BYTES``, not a safetensors file (e.g. truncated, garbled, or a pickle: it is never
    unpickled), of another format or version, or holds a tensor of the wrong dtype or shape,
    steps that do not increase or indices that repeat. The checkpoint's model loads either way.
    """
    path = Path(folder) / FRAMES_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint {Path(folder)} has no {FRAMES_FILE}; record frames by training "
                              f"with --frames N")
    size = path.stat().st_size
    if size > MAX_FRAMES_BYTES:
        raise CheckpointError(f"{path} is {size / 1e6:.1f} MB; frames files are at most "
                              f"{MAX_FRAMES_BYTES / 1e6:g} MB")
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            tensors = {name: f.get_tensor(name) for name in f.keys() if name in TENSORS}
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        reason = " ".join(str(e).split())[:200]
        raise CheckpointError(f"{path} is not a readable safetensors file: {reason}") from e
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is not a frames file (its metadata has format "
                              f"{metadata.get('format')!r}, not {FORMAT_NAME!r})")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(f"{path} has format_version {metadata.get('format_version')!r}; this code "
                              f"reads version {FORMAT_VERSION}. Retrain the checkpoint or update "
                              f"latent-explorer.")
    try:
        return Frames(**{name: tensors.get(name) for name in TENSORS}, metadata=metadata)
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from e


# --- Recording during training.


class FrameRecorder:
    """Records frames while a model trains (``train.trainer.train`` drives it).

    model: the model being trained; x_test: float32 [N, *data_shape] the test inputs the metrics use
    (already binarized if the run binarizes); y_test: int64 [N] their labels; n_frames: frames to
    record (``frame_steps``); total_steps: optimisation steps planned; steps_per_epoch: for
    ``epoch``; seed: seeds the VAE's z draws of the test parts (the same draws at every frame).

    Per step, ``add_train(terms)`` accumulates the batch's loss parts; when ``due(step)``,
    ``record(step, kl_weight)`` takes a frame; ``finish(step, kl_weight)`` takes the last one if a
    run stopped early; ``frames(metadata)`` returns them. ``seconds`` is the time spent recording.
    """

    def __init__(self, model: LatentModel, x_test: torch.Tensor, y_test: torch.Tensor, *, n_frames: int,
                 total_steps: int, steps_per_epoch: int, seed: int = 0, n_inputs: int = FRAME_INPUTS):
        import torch  # noqa: PLC0415 (see the imports)

        self.model = model
        self.config = model.config
        self.index = frame_subset(y_test.cpu(), n_inputs)
        chosen = torch.as_tensor(self.index, device=x_test.device)
        self.x = x_test[chosen]
        self.label = y_test[chosen].cpu().numpy().astype(np.int64)
        self.y = y_test[chosen].to(x_test.device) if self.config.conditional else None
        self.device = x_test.device
        self.planned = frame_steps(total_steps, n_frames)
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed
        self.spacing = manifold_spacing(self.config)
        self.rows: list[dict] = []
        self.train_sums = torch.zeros(3, device=self.device)  # loss, recon, kl (float32: MPS has no float64)
        self.train_count = 0
        self.seconds = 0.0
        self._next = 0  # position in planned of the next frame

    def add_train(self, terms: LossTerms) -> None:
        """Add one training batch's mean loss, recon and KL (nats per input) to the running sums."""
        import torch  # noqa: PLC0415 (see the imports)

        parts = torch.stack([terms.loss.detach().float().mean(), terms.recon.detach().float().mean(),
                             terms.kl.detach().float().mean()])
        self.train_sums += parts
        self.train_count += 1

    def due(self, step: int) -> bool:
        """Whether a frame is planned after ``step`` optimisation steps."""
        return self._next < len(self.planned) and step == self.planned[self._next]

    def finish(self, step: int, kl_weight: float) -> None:
        """Record the final model (after ``step`` steps) unless that step was recorded already."""
        if not self.rows or self.rows[-1]["step"] != step:
            self.record(step, kl_weight)

    def record(self, step: int, kl_weight: float) -> None:
        """Take one frame of the model as it is after ``step`` optimisation steps."""
        import torch  # noqa: PLC0415 (see the imports)

        from .evaluate import mean_objective  # noqa: PLC0415
        from .objectives import gaussian_kl  # noqa: PLC0415

        start = time.perf_counter()
        model, config = self.model, self.config
        was_training = model.training
        model.eval()
        try:
            with _forked_rng(self.device), torch.no_grad():
                torch.manual_seed(self.seed)
                test = mean_objective(model, self.x, self.y)
                row = {"step": step, "epoch": step / self.steps_per_epoch,
                       "test": [test["loss"], test["recon"], test["kl"]], "kl_weight": kl_weight}
                if config.variational:
                    mu, logvar = model.posterior(self.x, self.y)  # [M, d] each
                    codes = mu
                    row["kl_per_dim"] = gaussian_kl(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(dim=0)
                else:
                    codes = model.encode(self.x, self.y)
                row["codes"] = codes.float().cpu().numpy()
                kind = manifold_kind(config)
                if kind is not None:
                    n_points = MANIFOLD_TILES if kind == "images" else MANIFOLD_POINTS
                    z = manifold_grid(config.latent_dim, n_points, self.spacing, row["codes"])
                    decoded = model.decode(torch.from_numpy(z).to(self.device)).float()
                    if kind == "images":  # [K, 1, H, W] in [0, 1] -> uint8 [K, H, W]
                        decoded = torch.nan_to_num(decoded[:, 0], nan=0.0).clamp(0, 1).mul(255).round()
                        row["manifold_images"] = decoded.to(torch.uint8).cpu().numpy()
                    else:
                        row["manifold_points"] = decoded.cpu().numpy()
                    row["manifold_z"] = z
        finally:
            model.train(was_training)
        if "kl_per_dim" in row:
            row["kl_per_dim"] = row["kl_per_dim"].float().cpu().numpy()
        count = self.train_count
        row["train"] = (self.train_sums.cpu().double() / count).tolist() if count else [math.nan] * 3
        self.train_sums.zero_()
        self.train_count = 0
        self.rows.append(row)
        while self._next < len(self.planned) and self.planned[self._next] <= step:
            self._next += 1
        self.seconds += time.perf_counter() - start

    def frames(self, metadata: dict[str, str] | None = None) -> Frames:
        """The frames recorded so far, checked (``Frames``), with ``metadata`` added to the header's
        description of the inputs, parts and manifold. Raises ValueError if none was recorded."""
        if not self.rows:
            raise ValueError("no frame was recorded")
        rows = self.rows
        codes = np.stack([r["codes"] for r in rows])  # [F, M, d]
        fits_half = bool(np.all(~np.isfinite(codes) | (np.abs(codes) <= np.finfo(np.float16).max)))
        per_frame = {name: np.array([r[part][i] for r in rows], dtype=np.float32)
                     for part, names in (("train", ("train_loss", "train_recon", "train_kl")),
                                         ("test", ("test_loss", "test_recon", "test_kl")))
                     for i, name in enumerate(names)}
        variational = self.config.variational
        manifold = {name: np.stack([r[name] for r in rows]) for name in
                    ("manifold_z", "manifold_images", "manifold_points") if name in rows[0]}
        n_classes = len(np.unique(self.label))
        header = {
            "inputs": f"{len(self.index)} test inputs, class-balanced over {n_classes} classes "
                      f"(train.frames.frame_subset, seed {SUBSET_SEED}), as the test metrics see them",
            "train_parts": TRAIN_PARTS, "test_parts": f"{TEST_PARTS} (seed {self.seed})",
            "codes_dtype": "float16" if fits_half else "float32 (a code beyond float16's range)",
            **({"manifold_spacing": self.spacing, "manifold": _MANIFOLD_TEXT[self.spacing]}
               if manifold else {}),
            **(metadata or {}),
        }
        return Frames(
            step=np.array([r["step"] for r in rows], dtype=np.int64),
            epoch=np.array([r["epoch"] for r in rows], dtype=np.float32),
            codes=codes.astype(np.float16 if fits_half else np.float32),
            index=self.index, label=self.label, **per_frame,
            kl_per_dim=np.stack([r["kl_per_dim"] for r in rows]).astype(np.float32) if variational else None,
            kl_weight=np.array([r["kl_weight"] for r in rows], dtype=np.float32) if variational else None,
            **manifold, metadata=header)


_MANIFOLD_TEXT = {
    "prior": f"z_i = Phi^-1(p), p evenly spaced over {list(PRIOR_QUANTILES)} on each axis (quantiles of "
             f"the prior N(0, 1)), the same at every frame",
    "data": f"evenly spaced over the {list(DATA_QUANTILES)} quantiles of the frame's own codes on each axis",
}


def _forked_rng(device: torch.device):
    """A context in which the global random number generators (the CPU's, and the accelerator's of
    ``device``) may be reseeded and used: their states are restored when it exits."""
    import torch  # noqa: PLC0415 (see the imports)

    if device.type == "cpu":
        return torch.random.fork_rng(devices=[])
    count = torch.get_device_module(device.type).device_count()
    return torch.random.fork_rng(devices=list(range(count)), device_type=device.type)
