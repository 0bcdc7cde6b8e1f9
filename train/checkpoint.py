"""Self-describing checkpoints: one folder per model, never pickle.

    <folder>/config.json        model kind and sizes, dataset, format version, training settings
    <folder>/model.safetensors  weights (safetensors: plain tensors, no code execution on load)
    <folder>/metrics.json       test metrics in nats, wall time, device, per-epoch history
    <folder>/frames.safetensors optional: codes, losses and a manifold recorded during training
                                (``train.frames``; read with ``train.frames.read_frames``)
    <folder>/codes.safetensors  the test split encoded by the model, with the weights' SHA-256
                                (``train.codes``; read without torch with ``train.codes.read_codes``)

Writing never loses data: ``save_checkpoint`` only ever replaces a folder that is itself a
checkpoint (``check_output_folder``), and swaps the new one in so that, whenever the process stops,
the folder's name holds either the complete old or the complete new checkpoint (see its docstring).
Leftovers of a save that was killed half-way are named ``.<name>.tmp-<pid>-<tag>`` (the new
checkpoint being written) and ``.<name>.old-<pid>-<tag>`` (the old one, moved aside for the swap);
``recover_interrupted_saves`` puts them right once no save is in progress (a save holds a lock,
``flock``, on the folder of checkpoints from start to end; where locks are not available, once
process <pid> is gone), and ``save_checkpoint`` and ``load_checkpoint`` run it for their own folder.
Two saves into the same folder of checkpoints take turns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

try:  # POSIX: a lock file marks a save in progress, whatever process or container makes it
    import fcntl
except ImportError:  # Windows: whether the writing process still runs decides instead
    fcntl = None

from safetensors import SafetensorError

from .config import ModelConfig

if TYPE_CHECKING:  # train.frames imports this module; torch is imported only to load or save weights,
    import torch  # so that reading a checkpoint's JSON (the explorer's model list) does not wait for it

    from .codes import Codes
    from .frames import Frames
    from .models import LatentModel

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
FRAMES_FILE = "frames.safetensors"  # optional: frames recorded during training (train.frames)
CODES_FILE = "codes.safetensors"  # the test split encoded by the model beside it (train.codes)
# The only files a checkpoint folder holds; a folder holding anything else is never replaced.
CHECKPOINT_FILES = frozenset({CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE, FRAMES_FILE, CODES_FILE})

# Leftovers of an interrupted save, beside the checkpoint folder <name>: ".<name>.tmp-<pid>-<tag>"
# (the new checkpoint being written), ".<name>.old-<pid>-<tag>" (the old one moved aside for the swap;
# the first version of this module wrote ".<name>.old-<pid>") and ".<name>.probe-<pid>-<tag>" (an
# empty file made by the write check). <pid> is the writing process.
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<stage>tmp|old|probe)-(?P<pid>\d+)(?:-(?P<tag>[A-Za-z0-9_]+))?$")

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint folder is missing, partial, corrupt or of an unknown format version, or a folder
    that is not a checkpoint was given as where to write one."""


def check_output_folder(folder: str | os.PathLike) -> Path:
    """Check, without writing anything that stays, that a checkpoint can be written to ``folder``.

    Allowed: a path that does not exist yet, an empty folder, or a checkpoint folder (a config.json
    with a ``format_version`` and nothing but the files of ``CHECKPOINT_FILES``). In every case the
    nearest existing parent must be a folder this process can create files in: a temporary file is
    made and removed there (a real test, also for root, to whom permission bits do not apply).
    returns: ``folder`` as a Path.
    Raises CheckpointError naming the folder and the reason for anything else: an existing file, a
    symbolic link, a folder holding other things (e.g. ``checkpoints/`` itself, or a home folder),
    a parent that is a file or cannot be written.
    """
    folder = Path(folder)
    if folder.name in ("", ".", ".."):
        raise CheckpointError(f"{str(folder)!r} does not name a checkpoint folder; give one, e.g. "
                              f"checkpoints/NAME")
    if folder.is_symlink():
        raise CheckpointError(f"{folder} is a symbolic link; refusing to replace it. Give the folder it "
                              f"points to, or a new folder such as checkpoints/NAME")
    if folder.exists():
        if os.path.ismount(folder):
            raise CheckpointError(f"{folder} is a mount point, which cannot be replaced; give a folder "
                                  f"inside it, such as {folder / 'NAME'}")
        if not folder.is_dir():
            raise CheckpointError(f"{folder} is a file, not a checkpoint folder; refusing to replace it. "
                                  f"Give a new folder such as checkpoints/NAME")
        try:
            problem = _not_a_checkpoint(folder)
        except OSError as e:
            raise CheckpointError(f"cannot read {folder} to check it is a checkpoint: {e}") from e
        if problem:
            raise CheckpointError(f"{folder} is not a checkpoint folder ({problem}); refusing to replace "
                                  f"it, as that would delete what it holds. Give a new folder such as "
                                  f"checkpoints/NAME, or an existing checkpoint")
    _check_writable(folder)
    return folder


def save_checkpoint(
    model: LatentModel,
    folder: str | os.PathLike,
    *,
    dataset: dict | None = None,
    training: dict | None = None,
    metrics: dict | None = None,
    frames: Frames | None = None,
    codes: Codes | None = None,
) -> Path:
    """Write ``model`` as a checkpoint folder, replacing the checkpoint already there, if any.

    dataset, training: JSON-serialisable descriptions stored in config.json.
    metrics: JSON-serialisable metrics stored as metrics.json.
    frames: the run's frames (``train.frames.Frames``), stored as frames.safetensors with the rest,
    through the same temporary folder and rename; None writes none (a replaced checkpoint's frames
    go with it: frames always belong to the weights beside them).
    codes: the test split encoded by ``model`` (``train.codes.Codes``, e.g. from
    ``train.codes.encode_test_split``), stored as codes.safetensors with the rest, recording the
    SHA-256 of the weights' bytes written beside them; None writes none (as for frames).
    returns: the folder's path.
    Raises CheckpointError (before writing anything) if ``folder`` is not a place a checkpoint may
    be written to (``check_output_folder``: an existing file or link, a folder that is not a
    checkpoint, a parent that cannot be written); ValueError (before writing anything) if the
    frames exceed their size cap, or if the codes name weights (a weights_sha256) other than
    ``model``'s; OSError if writing fails.

    Guarantees:
    - Nothing but a checkpoint is ever replaced or deleted: a folder holding any file that is not a
      checkpoint file is refused, as is a file or a link.
    - Whenever the process stops (an exception, Ctrl-C, SIGKILL), ``folder`` holds the complete old
      checkpoint or the complete new one, never a mix: the new one is written to
      ``.<name>.tmp-<pid>-<tag>`` and flushed to disk (fsync); the old one is
      renamed to ``.<name>.old-<pid>-<tag>``; the new one is renamed to ``<name>``; the old one is
      deleted. An exception puts the old one back before it propagates. After a kill between the
      two renames, ``<name>`` is briefly missing and the old checkpoint sits under its hidden name:
      the next ``save_checkpoint`` or ``load_checkpoint`` of this folder, or
      ``recover_interrupted_saves`` on its parent, renames it back once process <pid> is gone, and
      deletes the other leftovers.
    - A save holds a lock (``flock``) on ``folder``'s parent from start to end: saves there take
      turns, and leftovers are touched only while no save is in progress, whatever process or
      container made them (without locks, e.g. on Windows: only once process <pid> is gone).
    """
    folder = Path(folder)
    check_output_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _save_lock(folder.parent, wait=True) as held:  # one save at a time in a folder of checkpoints
        _recover_saves_of(folder.parent, folder.name, held=held)
        check_output_folder(folder)  # again: another save may have changed it while this one waited
        return _write_and_swap(model, folder, dataset, training, metrics, frames, codes)


def _write_and_swap(model: LatentModel, folder: Path, dataset: dict | None, training: dict | None,
                    metrics: dict | None, frames: Frames | None = None, codes: Codes | None = None) -> Path:
    """The body of ``save_checkpoint``, run while it holds the folder's save lock."""
    config = {
        "format_version": FORMAT_VERSION,
        "model": model.config.to_dict(),
        "dataset": dataset or {},
        "training": training or {},
    }
    # Every file's bytes first: what raises does so before anything is written.
    frames_data = frames.to_bytes() if frames is not None else None
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    weights_data = _weights_bytes(state)
    codes_data = None
    if codes is not None:  # the codes name the exact bytes of the weights written beside them
        digest = hashlib.sha256(weights_data).hexdigest()
        if codes.weights_sha256 not in (None, digest):
            raise ValueError(f"the codes given were encoded by weights of SHA-256 {codes.weights_sha256}, "
                             f"not by the model saved to {folder} ({digest})")
        codes_data = dataclasses.replace(codes, weights_sha256=digest).to_bytes()
    pid = os.getpid()
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-{pid}-"))
    old, swapped = None, False
    try:
        _write_weights(tmp / WEIGHTS_FILE, weights_data)
        if frames_data is not None:
            _write_frames(tmp / FRAMES_FILE, frames_data)
        if codes_data is not None:
            _write_codes(tmp / CODES_FILE, codes_data)
        _write_json(tmp / METRICS_FILE, metrics or {})
        _write_json(tmp / CONFIG_FILE, config)
        os.chmod(tmp, 0o755)
        for path in tmp.iterdir():
            os.chmod(path, 0o644)
            _fsync(path)
        _fsync(tmp)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{pid}-{secrets.token_hex(4)}")
            os.replace(folder, old)
        os.replace(tmp, folder)
        swapped = True
        _fsync(folder.parent)
    except BaseException:
        if swapped:  # the new checkpoint is in place: finish by deleting the old one
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        else:
            _roll_back(folder, tmp, old)
        raise
    if old is not None:
        try:
            shutil.rmtree(old)
        except OSError as e:  # the new checkpoint is in place; a later recovery deletes the rest
            log.warning("could not delete the replaced checkpoint %s: %s", old, e)
    return folder


def recover_interrupted_saves(parent: str | os.PathLike) -> list[str]:
    """Put right what interrupted saves left in ``parent``, a folder of checkpoint folders.

    Only while no save into ``parent`` is in progress (its lock is free; where there are no locks,
    for the leftovers of processes that are no longer running), for each leftover
    ``.<name>.tmp-<pid>-<tag>`` / ``.<name>.old-<pid>-<tag>`` (see ``save_checkpoint``): if
    ``<name>`` is missing, the newest complete old checkpoint is renamed back to it; an unfinished
    new checkpoint (tmp) is deleted (it was never put in place); an old one that was already
    replaced is deleted only if ``<name>`` is a checkpoint (else it is kept and reported). Entries
    of a save in progress, entries that do not match these names exactly, and leftovers that are
    not shaped like a checkpoint folder (a real folder holding only checkpoint files) are never
    touched.

    Cheap when there is nothing to do (one directory listing) and never raises: a missing
    ``parent`` gives ``[]``; a step that fails is reported and skipped.
    returns: one human-readable line per thing done or deliberately left alone, e.g.
        "restored checkpoints/mnist-vae-2d from .mnist-vae-2d.old-4242-1a2b3c4d (process 4242 was
        interrupted while replacing it)". Each line is also logged (logger ``train.checkpoint``).
    """
    parent = Path(parent)
    try:
        with os.scandir(parent) as entries:
            names = sorted({m["name"] for m in (_LEFTOVER.match(e.name) for e in entries) if m})
    except OSError:
        return []
    report = []
    for name in names:
        report += _recover_saves_of(parent, name)
    return report


def load_checkpoint(folder: str | os.PathLike, device: str | torch.device = "cpu",
                    config: ModelConfig | None = None) -> LatentModel:
    """Read config.json, build the model, load model.safetensors; return the model in eval mode.

    config: the model section of config.json if the caller has already read and checked it (e.g.
    with ``train.schema.read_metadata``), so the file is not read again.
    First recovers an interrupted save of this folder (see ``recover_interrupted_saves``).
    Raises CheckpointError (a ValueError) naming the folder if it is missing, lacks a file, holds
    an unknown format version, or its weights are not a safetensors file matching the config
    (e.g. a pickle in place of the weights: it is refused, never unpickled).
    """
    folder = Path(folder)
    if folder.name not in ("", ".", ".."):
        _recover_saves_of(folder.parent, folder.name)
    model_config = config
    if model_config is None:
        try:
            model_config = ModelConfig(**read_config(folder)["model"])
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(f"{folder / CONFIG_FILE} has an invalid model section: {e}") from e
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise CheckpointError(f"checkpoint {folder} has no {WEIGHTS_FILE}")
    try:
        from safetensors.torch import load_file  # noqa: PLC0415 (torch: see the imports)

        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{weights} is not a readable safetensors file: {e}") from e
    from .models import build_model  # noqa: PLC0415 (torch: see the imports)

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


# --- What may be replaced, and recovery after an interrupted save.


def _not_a_checkpoint(folder: Path) -> str | None:
    """None if ``folder`` (an existing folder) is empty or a checkpoint, else why it is not one."""
    entries = sorted(os.listdir(folder))
    if not entries:
        return None
    others = [e for e in entries if e not in CHECKPOINT_FILES or not _is_plain_file(folder / e)]
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        return f"it holds {shown}"
    try:
        version = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")).get("format_version")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        version = None
    if not isinstance(version, int) or isinstance(version, bool):
        return f"no {CONFIG_FILE} with a format_version"
    return None


def _is_plain_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _leftover_shaped(path: Path) -> bool:
    """True for a real folder (not a link) holding only plain checkpoint files, as our leftovers do."""
    try:
        if not stat.S_ISDIR(path.lstat().st_mode):
            return False
        return all(e in CHECKPOINT_FILES and _is_plain_file(path / e) for e in os.listdir(path))
    except OSError:
        return False


def _check_writable(folder: Path) -> None:
    """Make and remove a file in the nearest existing parent of ``folder``; raise CheckpointError if
    that parent is not a folder or cannot be written to."""
    parent = folder.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if parent.is_symlink() and not parent.exists():
        raise CheckpointError(f"cannot create {folder}: {parent} is a link to {os.readlink(parent)}, which "
                              f"does not exist")
    if not parent.is_dir():
        raise CheckpointError(f"cannot create {folder}: {parent} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{folder.name}.probe-{os.getpid()}-")
    except OSError as e:
        raise CheckpointError(f"cannot write {folder}: creating a file in {parent} failed "
                              f"({e.strerror or e}); choose a folder you can write to") from e
    os.close(fd)
    os.unlink(probe)


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` may still be running (True when unsure: then nothing is touched)."""
    if pid == os.getpid() or pid <= 0 or os.name == "nt":  # on Windows, signal 0 would be CTRL_C
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # PermissionError: it exists, as another user's process
        return True
    return True


@contextlib.contextmanager
def _save_lock(parent: Path, wait: bool):
    """The lock that a save into the folder ``parent`` holds from start to end: ``flock`` on the
    folder itself (nothing is written for it), released when the process ends, however it ends,
    and seen by every process on this machine, in any container that shares the folder.

    yields: True if this process now holds it; False if another one does (only with ``wait`` False:
    else this waits for it); None where locks cannot be had (no fcntl), and then whether the
    writing process still runs decides instead.
    """
    fd = None
    if fcntl is not None:
        try:
            fd = os.open(parent, os.O_RDONLY)
        except OSError:
            fd = None
    if fd is None:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def _recover_saves_of(parent: Path, name: str, held: bool | None = None) -> list[str]:
    """Recover the leftovers of interrupted saves of ``parent / name`` (see
    ``recover_interrupted_saves``). Never raises; returns (and logs) what it did or left alone.

    held: True when the caller (a save) already holds the folder's save lock; else it is tried here
    without waiting. While another process holds it, nothing is touched.
    """
    try:
        with os.scandir(parent) as entries:
            found = [(e.name, m) for e in entries if (m := _LEFTOVER.match(e.name)) and m["name"] == name]
    except OSError:
        return []
    if not found:  # the usual case: nothing to do, and no lock file is made
        return []
    if held:
        return _recover_found(parent, name, found, lock=True)
    try:
        with _save_lock(parent, wait=False) as lock:
            return _recover_found(parent, name, found, lock)
    except OSError:
        return []


def _recover_found(parent: Path, name: str, found: list, lock: bool | None) -> list[str]:
    """``_recover_saves_of`` for the leftovers ``found`` (entry name, match), once the lock's state
    is known: True (no save of the folder is in progress anywhere, in any process or container:
    every leftover is from one that was interrupted), False (one is: touch nothing), None (no locks
    here: the leftovers of processes that still run are left alone)."""
    report: list[str] = []

    def note(message: str, level: int = logging.WARNING) -> None:
        log.log(level, message)
        report.append(message)

    olds, others = [], []  # dead processes' leftovers: old checkpoints; unfinished saves and probes
    for entry, match in sorted(found):
        path, pid = parent / entry, int(match["pid"])
        if lock is False:
            note(f"left {path} alone: a save of {parent / name} is in progress", logging.INFO)
        elif lock is None and _process_alive(pid):
            note(f"left {path} alone: process {pid}, which made it, is still running", logging.INFO)
        elif match["stage"] == "probe":
            if _is_plain_file(path) and _size(path) == 0:
                others.append(path)
            else:
                note(f"left {path} alone: it is not the empty file this code makes")
        elif _leftover_shaped(path):
            (olds if match["stage"] == "old" else others).append(path)
        else:
            note(f"left {path} alone: it holds more than checkpoint files")
    final = parent / name
    if (olds or others) and not (final.exists() or final.is_symlink()):
        # Killed between moving the old checkpoint aside and moving the new one in: put the old back.
        for old in sorted((o for o in olds if _is_checkpoint(o, complete=True)), key=_mtime, reverse=True):
            try:
                os.replace(old, final)
            except OSError as e:
                note(f"could not restore {final} from {old.name}: {e}")
                continue
            olds.remove(old)
            note(f"restored {final} from {old.name} (process {_pid_of(old)} was interrupted while "
                 f"replacing it)")
            break
    if olds and not (_is_checkpoint(final) and not final.is_symlink()):
        for old in olds:
            note(f"left {old} alone: it holds an earlier checkpoint of {final}, which is not a checkpoint "
                 f"folder now; move it back by hand if it is wanted")
        olds = []
    for leftover in olds + others:
        try:
            if leftover.is_dir():
                shutil.rmtree(leftover, onerror=_ignore_missing)
            else:
                leftover.unlink(missing_ok=True)
        except OSError as e:
            note(f"could not delete {leftover}: {e}")
            continue
        what = "a replaced checkpoint" if leftover in olds else "an unfinished save"
        note(f"deleted {leftover} ({what} of process {_pid_of(leftover)}, which is no longer running)")
    return report


def _is_checkpoint(folder: Path, complete: bool = False) -> bool:
    """Whether ``folder`` is a checkpoint folder (with its weights, if ``complete``); never raises."""
    try:
        return (folder.is_dir() and _not_a_checkpoint(folder) is None and bool(os.listdir(folder))
                and (not complete or _is_plain_file(folder / WEIGHTS_FILE)))
    except OSError:
        return False


def _roll_back(folder: Path, tmp: Path, old: Path | None) -> None:
    """After a failed save: put the old checkpoint back under ``folder`` if it was moved aside, and
    delete the unfinished new one. Best effort: what fails here, a later recovery finishes."""
    try:
        if old is not None and old.exists() and not folder.exists():
            os.replace(old, folder)
    except OSError as e:
        log.warning("could not move %s back to %s: %s", old, folder, e)
    if tmp.exists():
        shutil.rmtree(tmp, ignore_errors=True)


def _ignore_missing(function, path, exc_info) -> None:
    """rmtree error handler: a file already gone (another process recovering) is fine."""
    if not issubclass(exc_info[0], FileNotFoundError):
        raise exc_info[1]


def _pid_of(path: Path) -> str:
    match = _LEFTOVER.match(path.name)
    return match["pid"] if match else "?"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _fsync(path: Path) -> None:
    """Flush a file's or folder's data to disk (folders: best effort, not every OS can)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path.parent} has no {path.name}")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, nested too deep, a 5,000-digit number
        raise CheckpointError(f"{path} is not valid JSON: {' '.join(str(e).split())[:200]}") from e
    except OSError as e:
        raise CheckpointError(f"{path} cannot be read: {e}") from e
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} does not hold a JSON object")
    return value


def _weights_bytes(state: dict) -> bytes:
    """A state dict (CPU tensors) as the bytes of a safetensors file."""
    from safetensors.torch import save as save_tensors  # noqa: PLC0415 (torch: see the imports)

    return save_tensors(state, metadata={"format_version": str(FORMAT_VERSION)})


def _write_weights(path: Path, data: bytes) -> None:
    """A weights file's bytes (``_weights_bytes``). The bytes are written here, not by safetensors'
    save_file, which writes through a temporary file of its own that a kill would leave in the folder."""
    path.write_bytes(data)


def _write_frames(path: Path, data: bytes) -> None:
    """A frames file's bytes (``train.frames.Frames.to_bytes``), written here for the reason above."""
    path.write_bytes(data)


def _write_codes(path: Path, data: bytes) -> None:
    """A codes file's bytes (``train.codes.Codes.to_bytes``), written here for the reason above."""
    path.write_bytes(data)


def _write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n", encoding="utf-8")
