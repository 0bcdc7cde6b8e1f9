"""The test split, encoded: ``codes.safetensors`` beside a checkpoint's weights, so that a latent map
can be drawn from disk, without torch (the explorer's first page then never waits ~1.5 s for it).

With N test inputs and latent size d, the file holds:

    codes    float32 [N, d]  the final model's ``encode(x, y)`` of each test input, in eval mode, fp32:
                             the posterior mean E[q(z|x)] for the VAE family, the style code
                             E[q(z|x, y)] given each input's own label for the CVAE, encoder(x) for
                             the AE and DAE
    labels   int64 [N]       the test labels, in the same order

and, in the header's metadata (str -> str): ``format`` ("latent-explorer-codes/1"), ``dataset`` (the
name of the data in config.json, e.g. "mnist"), ``split`` ("test") and ``weights_sha256``: the hex
SHA-256 of the bytes of the model.safetensors beside it, so codes of replaced weights are never
taken for theirs. The inputs are the test split as ``train.data.load_dataset`` gives it
(intensities byte / 255 for images, never binarized: the images the explorer shows), in its order.

The trainer writes the file with every checkpoint (``save_checkpoint(..., codes=...)``: the same
temporary folder and rename as the weights); ``write_codes(folder)``, or
``python -m train.codes FOLDER...``, adds it to a checkpoint saved without it. ``read_codes(folder)``
reads it with safetensors' NumPy reader (this module imports torch only inside the functions that
encode) and returns None when it is absent or stale.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save as save_arrays

from .checkpoint import (
    CHECKPOINT_FILES,
    CODES_FILE,
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    _fsync,
    _is_plain_file,
    _not_a_checkpoint,
    _process_alive,
    _recover_saves_of,
    _save_lock,
    load_checkpoint,
)
from .schema import read_checkpoint_config

if TYPE_CHECKING:  # torch only where the model encodes: reading codes never imports it
    import torch

    from .data import Dataset
    from .models import LatentModel

FORMAT = "latent-explorer-codes/1"
SPLIT = "test"
ENCODE_BATCH = 2500  # test inputs per forward pass
TENSORS = ("codes", "labels")
REWRITE = "python -m train.codes"  # the command that writes the file again
# A temporary file of write_codes, in the checkpoint folder: ".codes.safetensors.tmp-<pid>-<tag>".
_TEMPORARY = re.compile(rf"^\.{re.escape(CODES_FILE)}\.tmp-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Codes:
    """A test split encoded by one model (see the module docstring).

    codes: float32 [N, d], finite; labels: int64 [N]; dataset: the data's name, e.g. "mnist".
    weights_sha256: hex SHA-256 of the model.safetensors these codes were encoded with; None for
    codes not saved yet (``save_checkpoint`` records the digest of the weights it writes with them).
    Raises ValueError (at construction) naming what is wrong: a dtype, a shape (N >= 1, d >= 1, the
    same N in both), a code that is NaN or infinite, an empty dataset name, a malformed digest.
    """

    codes: np.ndarray
    labels: np.ndarray
    dataset: str
    weights_sha256: str | None = None

    def __post_init__(self):
        codes, labels = self.codes, self.labels
        if not isinstance(codes, np.ndarray) or codes.dtype != np.float32 or codes.ndim != 2:
            raise ValueError(f"'codes' must be float32 [N, d], got {_described(codes)}")
        if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.ndim != 1:
            raise ValueError(f"'labels' must be int64 [N], got {_described(labels)}")
        if min(codes.shape) < 1 or labels.shape[0] != codes.shape[0]:
            raise ValueError(f"'codes' [N, d] and 'labels' [N] must hold the same N >= 1 inputs and d >= 1, "
                             f"got codes {list(codes.shape)} and labels {list(labels.shape)}")
        if not np.isfinite(codes).all():
            bad = int(np.count_nonzero(~np.isfinite(codes).all(axis=1)))
            raise ValueError(f"'codes' must be finite; {bad} of {codes.shape[0]} rows hold NaN or infinity")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"the dataset must be named, got {self.dataset!r}")
        if self.weights_sha256 is not None and not (isinstance(self.weights_sha256, str)
                                                    and _SHA256.match(self.weights_sha256)):
            raise ValueError(f"weights_sha256 must be 64 lowercase hex digits, got {self.weights_sha256!r}")

    @property
    def latent_dim(self) -> int:
        return self.codes.shape[1]

    def to_bytes(self) -> bytes:
        """The codes as a codes.safetensors file (tensors and metadata of the module docstring).
        Raises ValueError for codes without a weights_sha256 (they belong to no weights yet)."""
        if self.weights_sha256 is None:
            raise ValueError("codes without a weights_sha256 belong to no weights; save them with "
                             "save_checkpoint(..., codes=...), which records the weights' digest")
        metadata = {"format": FORMAT, "dataset": self.dataset, "split": SPLIT,
                    "weights_sha256": self.weights_sha256}
        return save_arrays({"codes": np.ascontiguousarray(self.codes),
                            "labels": np.ascontiguousarray(self.labels)}, metadata=metadata)


def weights_digest(folder: str | os.PathLike) -> str:
    """The hex SHA-256 of the bytes of ``folder``/model.safetensors (what a codes file records).

    Raises CheckpointError naming the file if it is missing or cannot be read.
    """
    path = Path(folder) / WEIGHTS_FILE
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except FileNotFoundError as e:
        raise CheckpointError(f"checkpoint {Path(folder)} has no {WEIGHTS_FILE}") from e
    except OSError as e:
        raise CheckpointError(f"cannot read {path} to take its digest: {e}") from e
    return digest.hexdigest()


def read_codes(folder: str | os.PathLike) -> Codes | None:
    """The codes of a checkpoint folder's test split, read from its codes.safetensors and checked,
    without torch.

    returns: Codes (numpy arrays, weights_sha256 set); None if the folder has no codes.safetensors,
    or if it is stale: it records another digest than the model.safetensors beside it has
    (``weights_digest``: the weights were retrained or replaced since).
    Raises CheckpointError naming the file and what is wrong if it is not a readable safetensors
    file (truncated, garbled, a pickle: never unpickled), not of this format (``FORMAT``), lacks a
    metadata field or a tensor, holds a tensor of the wrong dtype or shape or a code that is not
    finite (see ``Codes``); and if model.safetensors cannot be read.
    """
    folder = Path(folder)
    path = folder / CODES_FILE
    if not os.path.lexists(path):
        return None
    fix = f"write it again with `{REWRITE} {folder}`"
    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = dict(f.metadata() or {})
            tensors = {name: f.get_tensor(name) for name in f.keys() if name in TENSORS}
    except (SafetensorError, OSError, ValueError, TypeError) as e:  # TypeError: a dtype numpy lacks
        reason = " ".join(str(e).split())[:200]
        raise CheckpointError(f"{path} is not a readable safetensors file ({reason}); {fix}") from e
    found = metadata.get("format")
    if found != FORMAT:
        what = ("a version this code does not read" if str(found).startswith(FORMAT.split("/")[0] + "/")
                else "not a codes file")
        raise CheckpointError(f"{path} has format {found!r} in its metadata, not {FORMAT!r}: {what}; {fix}")
    missing = [key for key in ("dataset", "split", "weights_sha256") if key not in metadata]
    missing += [f"the tensor {name!r}" for name in TENSORS if name not in tensors]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}; {fix}")
    if metadata["split"] != SPLIT:
        raise CheckpointError(f"{path} encodes the {metadata['split']!r} split; codes are of the {SPLIT!r} "
                              f"split; {fix}")
    try:
        codes = Codes(codes=tensors["codes"], labels=tensors["labels"], dataset=metadata["dataset"],
                      weights_sha256=metadata["weights_sha256"])
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}; {fix}") from e
    if codes.weights_sha256 != weights_digest(folder):
        return None
    return codes


def encode_codes(model: LatentModel, images: torch.Tensor, labels: torch.Tensor,
                 batch: int = ENCODE_BATCH) -> np.ndarray:
    """Latent locations of many inputs: ``model.encode(x, y)`` in eval mode under
    ``torch.inference_mode``, fp32 (no autocast), ``batch`` inputs at a time on the model's device.

    images: float [N, *data_shape] (any device); labels: int64 [N], given to the model only if it
    is conditional (the CVAE: each input's own class). The model is put back in the mode it was in;
    no random number is drawn, no weight changes.
    returns: float32 [N, d] on the CPU.
    Raises ValueError for N = 0, a batch < 1, or labels not one per input.
    """
    import torch  # noqa: PLC0415 (see the imports)

    n = images.shape[0]
    if n < 1 or batch < 1 or tuple(labels.shape) != (n,):
        raise ValueError(f"need N >= 1 images, batch >= 1 and labels [N], got {n} images, batch {batch} "
                         f"and labels {list(labels.shape)}")
    device = next(model.parameters()).device
    y_all = torch.as_tensor(labels, dtype=torch.int64) if model.config.conditional else None
    fp32 = contextlib.nullcontext()
    if _autocasting(device.type):  # fp32 even if called inside an autocast region (bf16 training steps)
        fp32 = torch.autocast(device.type, enabled=False)
    was_training = model.training
    model.eval()
    parts = []
    try:
        with torch.inference_mode(), fp32:
            for start in range(0, n, batch):
                x = images[start : start + batch].to(device=device, dtype=torch.float32)
                y = None if y_all is None else y_all[start : start + batch].to(device)
                parts.append(model.encode(x, y).float().cpu())  # [batch, d]
    finally:
        model.train(was_training)
    return torch.cat(parts).numpy()


def _autocasting(device_type: str) -> bool:
    import torch  # noqa: PLC0415 (see the imports)

    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # a torch before 2.4 takes no device type
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


def encode_test_split(model: LatentModel, data: Dataset, batch: int = ENCODE_BATCH) -> Codes:
    """``data``'s test split encoded by ``model`` (``encode_codes`` of test_x, with test_y) as Codes
    without a weights_sha256: give them to ``save_checkpoint(..., codes=...)`` with that model."""
    return Codes(codes=encode_codes(model, data.test_x, data.test_y, batch),
                 labels=data.test_y.cpu().numpy().astype(np.int64), dataset=data.name)


def write_codes(folder: str | os.PathLike, *, data_root: str | os.PathLike | None = None,
                data: Dataset | None = None) -> Path:
    """Add codes.safetensors to an existing checkpoint (one saved before checkpoints had it), or
    write it again: load the model, encode its dataset's test split, write the file.

    data_root: where the data is (default: ``$LATENT_EXPLORER_DATA`` or data/); it is read with
    ``train.data.load_dataset(..., download=False)``. data: the dataset, if already loaded (its
    name must be the checkpoint's).
    The file is written to a temporary file in the folder, flushed (fsync) and renamed over
    codes.safetensors, while holding the save lock of the folder's parent (``save_checkpoint``'s),
    so a save of the same folder waits, and a reader sees the old file or the new one. Nothing but
    codes.safetensors is written or replaced; the only thing deleted is a temporary file of an
    earlier ``write_codes`` that was killed (``.codes.safetensors.tmp-<pid>-<tag>``).
    returns: the path of the file written.
    Raises CheckpointError naming the folder if it is not a checkpoint (missing, a link, a file, a
    folder holding anything but checkpoint files, no config.json with a format_version, no
    weights) or its weights cannot be loaded or change while it encodes; DatasetUnavailableError if
    the data cannot be read; ValueError if ``data`` is of another dataset; OSError if writing fails.
    """
    def load(name: str) -> Dataset:
        if data is not None:
            if data.name != name:
                raise ValueError(f"{folder} was trained on {name!r}; the data given is {data.name!r}")
            return data
        from .data import load_dataset  # noqa: PLC0415 (torch: see the imports)

        return load_dataset(name, data_root, download=False)

    return _write_codes(_resolved(folder), load)


def _write_codes(folder: Path, load: Callable[[str], Dataset]) -> Path:
    """``write_codes``, with ``load(dataset name)`` giving the data."""
    with _save_lock(folder.parent, wait=True) as held:  # save_checkpoint's: saves of the folder wait
        _recover_saves_of(folder.parent, folder.name, held=held)
        _remove_interrupted_writes(folder, held)
        data = load(_dataset_of(folder))
        digest = weights_digest(folder)
        codes = encode_test_split(load_checkpoint(folder), data)
        if weights_digest(folder) != digest:
            raise CheckpointError(f"{folder / WEIGHTS_FILE} changed while its codes were computed; run "
                                  f"`{REWRITE} {folder}` again")
        target = folder / CODES_FILE
        _replace_file(target, dataclasses.replace(codes, weights_sha256=digest).to_bytes())
    return target


def _resolved(folder: str | os.PathLike) -> Path:
    """``folder`` as a Path; "." or ".." made absolute, so that it has a name and a parent."""
    folder = Path(folder)
    return folder.resolve() if folder.name in ("", ".", "..") else folder


def _dataset_of(folder: Path) -> str:
    """The dataset name of the checkpoint ``folder``; CheckpointError naming it if it is not one."""
    if folder.is_symlink():
        raise CheckpointError(f"{folder} is a symbolic link; give the checkpoint folder it points to")
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise CheckpointError(f"{folder} {what}; give a checkpoint folder, e.g. checkpoints/mnist-vae-2d")
    try:
        problem = _not_a_checkpoint(folder) or (None if os.listdir(folder) else "it is empty")
    except OSError as e:
        raise CheckpointError(f"cannot read {folder} to check it is a checkpoint: {e}") from e
    if problem:
        raise CheckpointError(f"{folder} is not a checkpoint folder ({problem}); nothing was written")
    if not _is_plain_file(folder / WEIGHTS_FILE):
        raise CheckpointError(f"checkpoint {folder} has no {WEIGHTS_FILE}")
    return read_checkpoint_config(folder).dataset


def _remove_interrupted_writes(folder: Path, held: bool | None) -> None:
    """Delete the temporary files that a killed ``write_codes`` left in the checkpoint ``folder``
    (which they keep from being taken for a checkpoint): any, while this process holds the save
    lock (held True: no other write is in progress); without locks (None), those of processes that
    are gone. Only in a real folder that holds nothing else but checkpoint files and a config.json."""
    try:
        if folder.is_symlink() or not folder.is_dir():
            return
        entries = os.listdir(folder)
    except OSError:
        return
    ours = [e for e in entries if (m := _TEMPORARY.match(e)) and _is_plain_file(folder / e)
            and (held or not _process_alive(int(m["pid"])))]
    if ours and CONFIG_FILE in entries and all(e in CHECKPOINT_FILES or e in ours for e in entries):
        for entry in ours:
            (folder / entry).unlink(missing_ok=True)


def _replace_file(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``target``, flush it, rename it over ``target``."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.tmp-{os.getpid()}-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync(target.parent)


def _described(value) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype.name} {list(value.shape)}"
    return type(value).__name__


def main(argv: list[str] | None = None) -> int:
    """``python -m train.codes CHECKPOINT...``: write each checkpoint's codes.safetensors. One line
    per folder (what was written, or why not); returns 1 if any failed, else 0."""
    from .data import DATA_ROOT_ENV, DatasetUnavailableError, load_dataset  # noqa: PLC0415

    p = argparse.ArgumentParser(prog=REWRITE, description="Encode each checkpoint's test split with its "
                                "model and write it beside the weights as codes.safetensors.")
    p.add_argument("folders", nargs="+", metavar="CHECKPOINT", help="checkpoint folders, e.g. checkpoints/*")
    p.add_argument("--data-root", default=None, help=f"data root (default: ${DATA_ROOT_ENV} or ./data)")
    args = p.parse_args(argv)
    datasets: dict[str, Dataset] = {}  # each loaded once

    def load(name: str) -> Dataset:
        if name not in datasets:
            datasets[name] = load_dataset(name, args.data_root, download=False)
        return datasets[name]

    failed = 0
    for given in args.folders:
        try:
            path = _write_codes(_resolved(given), load)
            codes = read_codes(given)
            assert codes is not None, "the codes just written are stale"
            print(f"{given}: wrote {path.name}: {codes.codes.shape[0]} x {codes.latent_dim} codes of the "
                  f"{codes.dataset} test split, {path.stat().st_size:,} bytes", flush=True)
        except (CheckpointError, DatasetUnavailableError, ValueError, OSError) as e:
            print(f"error: {given}: {'; '.join(line.strip() for line in str(e).splitlines())}",
                  file=sys.stderr, flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
