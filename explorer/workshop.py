"""Workshop mode: train a small 2-D model live, in a background process, while the room watches.

``Workshop`` (one per server) starts ``python -m train`` as a child process (never in a Streamlit
script thread), with its torch threads limited (``TORCH_THREADS``) and a lower CPU priority, so the
explorer stays responsive; one run at a time. The trainer keeps the frames recorded so far in a
live folder (``--live-frames``), which the page reads as they are written. The checkpoint goes to a
new folder ``checkpoints/live-KIND-TIME`` (git-ignored), written by the trainer's atomic save: a
cancelled or killed run leaves no checkpoint folder (at most a hidden temporary one, which the
checkpoint list skips and the next save cleans up). No streamlit here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

KINDS = {"AE": {"kind": "ae"}, "VAE": {"kind": "vae"}, "β-VAE": {"kind": "vae"}}
MAX_EPOCHS = 20
BETAS = (0.1, 20.0)  # the β-VAE's β range
FRAMES = 40
TORCH_THREADS = 1  # the child's intra-op threads: the other core stays with the explorer
IWAE_SAMPLES = 100  # the final importance-sampled log-likelihood (the shipped ones use 1000)
PREFIX = "live-"


class WorkshopError(ValueError):
    """A run the workshop refuses (bad settings, one already running); the message says why."""


@dataclass(frozen=True)
class Settings:
    """A live run: ``kind`` one of KINDS, ``epochs`` 1..MAX_EPOCHS, ``beta`` (β-VAE only)."""

    kind: str
    epochs: int
    beta: float = 1.0

    def check(self) -> None:
        """Raises WorkshopError saying what is wrong."""
        if self.kind not in KINDS:
            raise WorkshopError(f"the kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if not isinstance(self.epochs, int) or not 1 <= self.epochs <= MAX_EPOCHS:
            raise WorkshopError(f"epochs must be a whole number from 1 to {MAX_EPOCHS}, not {self.epochs}")
        if self.kind == "β-VAE" and not BETAS[0] <= self.beta <= BETAS[1]:
            raise WorkshopError(f"β must be between {BETAS[0]} and {BETAS[1]}, not {self.beta}")

    def arguments(self) -> list[str]:
        """The ``python -m train`` flags of this run (2-D latent, frames on)."""
        args = ["--kind", KINDS[self.kind]["kind"], "--latent-dim", "2", "--epochs", str(self.epochs),
                "--frames", str(FRAMES), "--iwae-samples", str(IWAE_SAMPLES), "--no-progress"]
        if self.kind == "β-VAE":
            args += ["--beta", f"{self.beta:g}"]
        return args


@dataclass
class Run:
    """A started run: its ``settings``, checkpoint ``folder`` (exists once finished), ``live``
    frames folder, ``log`` file, child ``process``, ``started`` (time.time()), ``cancelled``."""

    settings: Settings
    folder: Path
    live: Path
    log: Path
    process: subprocess.Popen
    started: float
    cancelled: bool = False

    @property
    def name(self) -> str:
        return self.folder.name

    def state(self) -> str:
        """"running", "done" (the checkpoint is there), "cancelled" or "failed"."""
        code = self.process.poll()
        if code is None:
            return "running"
        if self.cancelled:
            return "cancelled"
        return "done" if code == 0 and (self.folder / "model.safetensors").is_file() else "failed"

    def log_tail(self, lines: int = 8) -> str:
        """The last ``lines`` lines the trainer printed."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Workshop:
    """The live runs of one server: ``checkpoints`` (where finished runs go), ``work`` (live frames
    and logs: a git-ignored data folder). One run at a time; every session sees the same one."""

    def __init__(self, checkpoints: Path, work: Path, extra_args: tuple[str, ...] = ()):
        self.checkpoints = Path(checkpoints)
        self.work = Path(work)
        self.extra_args = tuple(extra_args)  # more trainer flags (the tests train on toy data)
        self._lock = threading.Lock()
        self.current: Run | None = None

    def start(self, settings: Settings) -> Run:
        """Start a run in a child process; returns it. Raises WorkshopError for bad settings or while
        another run is going, OSError if the process cannot start."""
        settings.check()
        with self._lock:
            if self.current is not None and self.current.state() == "running":
                raise WorkshopError(f"{self.current.name} is training: wait for it or cancel it first")
            stamp = time.strftime("%Y%m%d-%H%M%S")
            kind = KINDS[settings.kind]["kind"] + ("-beta" if settings.kind == "β-VAE" else "")
            base = f"{PREFIX}{kind}-{stamp}"
            name, n = base, 1
            while (self.checkpoints / name).exists() or (self.work / name).exists():
                n += 1
                name = f"{base}-{n}"
            live = self.work / name
            live.mkdir(parents=True)
            log = live / "train.log"
            threads = str(TORCH_THREADS)
            env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                   "PYTHONUNBUFFERED": "1"}
            command = [sys.executable, "-m", "train", *settings.arguments(), *self.extra_args,
                       "--out", str(self.checkpoints / name), "--live-frames", str(live)]
            with open(log, "w") as out:
                process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                           cwd=str(Path(__file__).resolve().parent.parent),
                                           preexec_fn=_lower_priority, start_new_session=True)
            self.current = Run(settings, self.checkpoints / name, live, log, process, time.time())
            return self.current

    def cancel(self) -> bool:
        """Stop the current run (SIGTERM, then SIGKILL after 5 s); returns whether one was running.
        Its live frames are removed; no checkpoint folder is left (see the module docstring)."""
        with self._lock:
            run = self.current
            if run is None or run.state() != "running":
                return False
            run.cancelled = True
            _stop(run.process)
            shutil.rmtree(run.live, ignore_errors=True)  # created by this workshop for this run
            return True


def _lower_priority() -> None:  # in the child, before exec
    try:
        os.nice(10)
    except OSError:
        pass


def _stop(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
        process.wait(timeout=grace_s)
