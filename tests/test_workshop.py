"""Workshop mode (explorer/workshop.py): live runs in a child process, one at a time; a cancelled or
killed run leaves no checkpoint. The runs here are tiny (toy data, 16 hidden units, 1 epoch)."""

import os
import signal
import time

import pytest

from explorer import catalogue, workshop
from explorer.workshop import Settings, Workshop, WorkshopError
from train.frames import read_frames

TINY = ("--dataset", "toy-gaussians", "--likelihood", "gaussian", "--hidden-dims", "16",
        "--iwae-samples", "0", "--eval-samples", "2", "--batch-size", "512", "--device", "cpu")


def wait(condition, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def first_frame(run):
    def ready():
        try:
            return read_frames(run.live)
        except Exception:  # noqa: BLE001 - not written yet
            return None
    return wait(ready)


def visible(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def test_bad_settings_are_refused_with_a_reason():
    too_long = workshop.MAX_EPOCHS + 1
    for bad, message in ((Settings("GAN", 5), "kind"), (Settings("VAE", 0), "epochs"),
                         (Settings("VAE", too_long), "epochs"), (Settings("VAE", 2.5), "epochs"),
                         (Settings("β-VAE", 5, beta=0.0), "β"), (Settings("β-VAE", 5, beta=1e9), "β")):
        with pytest.raises(WorkshopError, match=message):
            bad.check()
    assert Settings("β-VAE", 3, beta=4).arguments()[-2:] == ["--beta", "4"]
    assert "--latent-dim" in Settings("AE", 3).arguments() and "--frames" in Settings("AE", 3).arguments()


def test_a_live_run_shows_frames_as_it_trains_and_ends_as_a_listed_checkpoint(tmp_path):
    ws = Workshop(tmp_path / "checkpoints", tmp_path / "work", TINY)
    run = ws.start(Settings("VAE", 1))
    with pytest.raises(WorkshopError, match="is training"):  # one at a time
        ws.start(Settings("AE", 1))
    assert first_frame(run).step[0] == 0  # the untrained network, while it trains
    wait(lambda: run.state() != "running")
    assert run.state() == "done", run.log_tail()
    assert visible(tmp_path / "checkpoints") == [run.name] and run.name.startswith("live-vae-")
    (info,) = catalogue.list_checkpoints(tmp_path / "checkpoints")
    assert info.error is None and info.model_config.latent_dim == 2
    saved = read_frames(run.folder)
    assert saved.step[0] == 0 and len(saved.step) >= 2  # the frames went with the checkpoint
    assert ws.start(Settings("AE", 1)).name != run.name  # the next run gets a new folder
    ws.cancel()


@pytest.mark.parametrize("how", ["cancel", "kill"])
def test_a_cancelled_or_killed_run_leaves_no_checkpoint(tmp_path, how):
    ws = Workshop(tmp_path / "checkpoints", tmp_path / "work", TINY + ("--epochs", "50"))
    run = ws.start(Settings("VAE", 1))  # --epochs 50 above wins: long enough to stop it mid-way
    first_frame(run)
    if how == "cancel":
        assert ws.cancel() and run.state() == "cancelled" and not run.live.exists()
    else:
        os.killpg(run.process.pid, signal.SIGKILL)
        wait(lambda: run.state() != "running")
        assert run.state() == "failed"
    assert visible(tmp_path / "checkpoints") == []  # no checkpoint, not even a partial one
    assert catalogue.list_checkpoints(tmp_path / "checkpoints") == []
    assert not ws.cancel()  # nothing left to stop
