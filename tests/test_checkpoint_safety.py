"""What saving a checkpoint may replace, and what is left after a save that fails or is killed."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import train.checkpoint as checkpoint_module
from tests.conftest import frames_of
from train import CheckpointError, ModelConfig, build_model, load_checkpoint, read_metrics, save_checkpoint
from train.checkpoint import FRAMES_FILE, check_output_folder, recover_interrupted_saves
from train.frames import read_frames


def tiny_model(seed: int):
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(8,))).eval()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def dead_pid() -> int:
    """The id of a process that has exited and been reaped (Linux does not reuse ids until they wrap)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def same_weights(model, folder: Path) -> bool:
    loaded = load_checkpoint(folder).state_dict()
    return all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


PROBE = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def frames_belong_to(model, folder: Path) -> bool:
    """Whether the folder's frames are those saved with ``model`` (frames_of(model, PROBE))."""
    return np.array_equal(read_frames(folder).codes[-1], frames_of(model, PROBE).codes[-1])


@pytest.fixture
def shelf(tmp_path) -> Path:
    """A folder of two checkpoints, like checkpoints/."""
    root = tmp_path / "checkpoints"
    save_checkpoint(tiny_model(0), root / "a", metrics={"run": "a"})
    save_checkpoint(tiny_model(1), root / "b", metrics={"run": "b"})
    return root


# --- What may be replaced.


def test_a_folder_of_checkpoints_is_never_replaced(shelf):
    before = snapshot(shelf)
    refused = r"is not a checkpoint folder \(it holds a, b\).*checkpoints/NAME"
    with pytest.raises(CheckpointError, match=refused):
        save_checkpoint(tiny_model(2), shelf)
    assert snapshot(shelf) == before
    assert sorted(p.name for p in shelf.parent.iterdir()) == ["checkpoints"]


@pytest.mark.parametrize("extra", ["notes.txt", "model.pt", ".hidden", "sub/"])
def test_a_checkpoint_with_anything_else_inside_is_never_replaced(shelf, extra):
    folder = shelf / "a"
    if extra.endswith("/"):
        (folder / extra).mkdir()
        (folder / extra / "x").write_text("mine")
    else:
        (folder / extra).write_text("mine")
    before = snapshot(shelf)
    with pytest.raises(CheckpointError, match=f"it holds {extra.rstrip('/')}"):
        save_checkpoint(tiny_model(2), folder)
    assert snapshot(shelf) == before


def test_a_folder_without_a_format_version_is_not_a_checkpoint(tmp_path):
    folder = tmp_path / "look-alike"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"name": "my settings"}))
    (folder / "metrics.json").write_text("{}")
    with pytest.raises(CheckpointError, match="no config.json with a format_version"):
        save_checkpoint(tiny_model(0), folder)
    (folder / "config.json").write_text("{broken")
    with pytest.raises(CheckpointError, match="no config.json with a format_version"):
        check_output_folder(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "metrics.json"]


def test_a_file_or_a_link_is_never_replaced(shelf, tmp_path):
    file = tmp_path / "precious.txt"
    file.write_text("keep me")
    with pytest.raises(CheckpointError, match="is a file, not a checkpoint folder"):
        save_checkpoint(tiny_model(0), file)
    assert file.read_text() == "keep me"
    link = tmp_path / "link"
    link.symlink_to(shelf / "a")
    with pytest.raises(CheckpointError, match="symbolic link"):
        save_checkpoint(tiny_model(0), link)
    assert link.is_symlink() and read_metrics(shelf / "a") == {"run": "a"}
    with pytest.raises(CheckpointError, match="does not name a checkpoint folder"):
        check_output_folder(".")


def test_a_checkpoint_an_empty_folder_or_a_new_path_may_be_written(shelf, tmp_path):
    (shelf / "a" / "frames.safetensors").write_bytes(b"frames")  # a file a checkpoint may hold
    model = tiny_model(5)
    save_checkpoint(model, shelf / "a", metrics={"run": "new"})
    assert read_metrics(shelf / "a") == {"run": "new"} and same_weights(model, shelf / "a")
    (tmp_path / "empty").mkdir()
    assert same_weights(model, save_checkpoint(model, tmp_path / "empty"))
    assert same_weights(model, save_checkpoint(model, tmp_path / "new" / "deeper" / "ckpt"))
    assert sorted(p.name for p in shelf.iterdir()) == ["a", "b"]


def test_a_parent_that_is_a_file_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match=r"is a file, not a folder"):
        check_output_folder(tmp_path / "file" / "sub" / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_parent_that_cannot_be_written_is_refused(tmp_path, read_only_folder):
    read_only = read_only_folder
    for target in (read_only / "ckpt", read_only / "missing" / "ckpt"):
        with pytest.raises(CheckpointError, match=r"cannot write .*Permission denied"):
            check_output_folder(target)
    with pytest.raises(CheckpointError, match="Permission denied"):
        save_checkpoint(tiny_model(0), read_only / "ckpt")
    assert list(read_only.iterdir()) == []
    check_output_folder(tmp_path / "writable")  # the check leaves nothing behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["read-only"]


# --- A save that fails or is killed at any step.

# Every step of a save that touches the disk, in the order save_checkpoint calls them.
STEPS = [(checkpoint_module, "_write_weights"), (checkpoint_module, "_write_frames"),
         (checkpoint_module, "_write_json"), (checkpoint_module, "_fsync"), (os, "replace"),
         (shutil, "rmtree")]


def fail_at(k: int, failure, monkeypatch=None) -> None:
    """Make the k-th call (from 1) of any step call ``failure(step_function, args)`` instead."""
    calls = [0]
    for owner, name in STEPS:
        real = getattr(owner, name)

        def step(*args, real=real, **kwargs):
            calls[0] += 1
            if calls[0] == k:
                return failure(real, args)
            return real(*args, **kwargs)

        if monkeypatch:
            monkeypatch.setattr(owner, name, step)
        else:
            setattr(owner, name, step)


def killed(real, args):
    if real is shutil.rmtree:  # killed half-way through deleting the old checkpoint
        next(Path(args[0]).iterdir()).unlink()
    os._exit(17)


def save_in_a_child_killed_at(k: int, model, folder: Path, frames=None) -> int:
    """Run save_checkpoint in a forked process that dies (as by SIGKILL: no except or finally
    runs) just before its k-th step. returns: the child's exit code, 0 if it finished the save."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            fail_at(k, killed)
            save_checkpoint(model, folder, metrics={"run": "new"}, frames=frames)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("with_frames", [False, True])
@pytest.mark.parametrize("first_save", [False, True])
def test_a_save_killed_at_any_step_leaves_the_old_or_the_new_checkpoint(first_save, with_frames, tmp_path):
    old_model, new_model = tiny_model(0), tiny_model(1)
    old_frames, new_frames = (frames_of(m, PROBE) if with_frames else None for m in (old_model, new_model))
    outcomes = set()
    for k in range(1, 30):
        parent = tmp_path / f"kill-{k}"
        folder = parent / "ckpt"
        if not first_save:
            save_checkpoint(old_model, folder, metrics={"run": "old"}, frames=old_frames)
        code = save_in_a_child_killed_at(k, new_model, folder, new_frames)
        assert code in (0, 17)
        if first_save and not folder.exists():  # killed before the new one was in place: nothing
            outcome = "none"
            assert all(line.startswith("deleted") for line in recover_interrupted_saves(parent))
        else:
            loaded_is_new = same_weights(new_model, folder)  # load_checkpoint recovers first
            outcome = read_metrics(folder)["run"]
            assert outcome == ("new" if loaded_is_new else "old")
            assert loaded_is_new or same_weights(old_model, folder)
            # the frames beside the weights are always the ones saved with them, whole
            assert (folder / FRAMES_FILE).exists() is with_frames
            assert not with_frames or frames_belong_to(new_model if loaded_is_new else old_model, folder)
        assert sorted(p.name for p in parent.iterdir()) == ([] if outcome == "none" else ["ckpt"])
        outcomes.add(outcome)
        if code == 0:
            break
    else:
        pytest.fail("the save never finished")
    assert outcomes == ({"none", "new"} if first_save else {"old", "new"})
    assert k >= 8 + 2 * with_frames  # every step was hit: 3 writes (4 with frames), 4 flushes (5), the
    # renames and the delete


@pytest.mark.parametrize("with_frames", [False, True])
def test_a_save_that_raises_at_any_step_leaves_the_old_or_the_new_checkpoint(with_frames, tmp_path,
                                                                             monkeypatch):
    old_model, new_model = tiny_model(0), tiny_model(1)
    old_frames, new_frames = (frames_of(m, PROBE) if with_frames else None for m in (old_model, new_model))

    def fails(real, args):
        raise OSError(28, "No space left on device")

    for k in range(1, 30):
        folder = tmp_path / f"raise-{k}" / "ckpt"
        save_checkpoint(old_model, folder, metrics={"run": "old"}, frames=old_frames)
        with monkeypatch.context() as patch:
            fail_at(k, fails, patch)
            try:
                save_checkpoint(new_model, folder, metrics={"run": "new"}, frames=new_frames)
                raised = False
            except OSError:
                raised = True
        run = read_metrics(folder)["run"]
        assert same_weights(new_model if run == "new" else old_model, folder)
        assert not with_frames or frames_belong_to(new_model if run == "new" else old_model, folder)
        assert run == "new" or raised
        leftovers = [p.name for p in folder.parent.iterdir() if p.name != "ckpt"]
        # Only a failed delete of the replaced checkpoint leaves it, under this process's id, for a
        # recovery once this process has ended (see the killed-process test).
        assert leftovers == [] or (len(leftovers) == 1 and f".ckpt.old-{os.getpid()}-" in leftovers[0])
        if not raised and not leftovers:
            break
    assert k >= 8 + 2 * with_frames


# --- Recovery, with other processes about.


def fake_leftover(parent: Path, name: str, pid: int, model=None, tag="1a2b3c4d") -> Path:
    """A leftover of a save of ``parent / name`` by process ``pid``: a complete checkpoint folder."""
    path = parent / f".{name}.{'old' if model is not None else 'tmp'}-{pid}-{tag}"
    save_checkpoint(model if model is not None else tiny_model(9), path, metrics={"leftover": pid})
    return path


def test_the_old_checkpoint_of_a_dead_writer_is_restored(tmp_path):
    pid = dead_pid()
    model = tiny_model(3)
    old = fake_leftover(tmp_path, "ckpt", pid, model)
    tmp = fake_leftover(tmp_path, "ckpt", pid)
    assert same_weights(model, tmp_path / "ckpt")  # load_checkpoint recovered it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    # the same through the explorer's scan of a whole folder
    old = fake_leftover(tmp_path, "other", pid, model)
    tmp = fake_leftover(tmp_path, "other", pid)
    report = recover_interrupted_saves(tmp_path)
    assert [line.split(" ")[0] for line in report] == ["restored", "deleted"]
    assert str(tmp) in report[1] and old.name in report[0] and f"process {pid}" in report[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "other"]
    assert recover_interrupted_saves(tmp_path) == []  # nothing left to do


LOCK_AND_WAIT = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(checkpoint_module.fcntl is None, reason="needs POSIX locks")
def test_a_save_in_progress_anywhere_is_never_disturbed_whatever_its_process_id_says(tmp_path):
    """A save holds a lock on its folder of checkpoints from start to end (flock), seen by every
    process on the machine, in any container: recovery goes by it, not by process ids, which can
    look alive (PID 1 of a container that was killed) or dead (a save in another PID namespace)."""
    entries = [fake_leftover(tmp_path, "ckpt", 1),  # PID 1 runs here, as a container's first process does
               fake_leftover(tmp_path, "ckpt", 1, tiny_model(1)),
               fake_leftover(tmp_path, "other", dead_pid())]  # a dead-looking id: from another namespace
    holder = subprocess.Popen([sys.executable, "-c", LOCK_AND_WAIT, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"  # a save is in progress
        before = snapshot(tmp_path)
        report = recover_interrupted_saves(tmp_path)
        assert len(report) == 3 and all("in progress" in line for line in report)
        with pytest.raises(CheckpointError, match="does not exist"):
            load_checkpoint(tmp_path / "ckpt")
        assert snapshot(tmp_path) == before and all(p.exists() for p in entries)
    finally:
        holder.kill()
        holder.wait()
    # The save is over (the lock went with its process): its leftovers are recovered, though PID 1 runs.
    assert same_weights(tiny_model(1), tmp_path / "ckpt")
    assert recover_interrupted_saves(tmp_path) and sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_two_saves_of_the_same_folder_at_once_take_turns(tmp_path):
    folder = tmp_path / "ckpt"
    save_checkpoint(tiny_model(0), folder)
    holder = subprocess.Popen([sys.executable, "-c", LOCK_AND_WAIT, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        import threading

        done = threading.Event()
        thread = threading.Thread(target=lambda: (save_checkpoint(tiny_model(1), folder), done.set()))
        thread.start()
        assert not done.wait(1.0)  # it waits for the save in progress instead of racing it
    finally:
        holder.kill()
        holder.wait()
    thread.join(timeout=60)
    assert done.is_set() and same_weights(tiny_model(1), folder)


def test_recovery_touches_nothing_it_did_not_make(tmp_path):
    pid = dead_pid()
    odd = {
        f".ckpt.old-{pid}-abc": "a folder with a user's file in it",
        f".ckpt.tmp-{pid}-abc": "a file, not a folder",
        f".ckpt.probe-{pid}-abc": "a probe file that is not empty",
        ".ckpt.tmp-abcdefgh": "no process id",
        ".ckpt.old-": "no process id",
        "ckpt.old-12-ab": "not hidden",
        ".ckpt.older-12-ab": "another word",
    }
    for name, what in odd.items():
        if "folder" in what:
            (tmp_path / name).mkdir()
            (tmp_path / name / "notes.txt").write_text(what)
        else:
            (tmp_path / name).write_text(what)
    (tmp_path / f".link.tmp-{pid}-abc").symlink_to(tmp_path / f".ckpt.old-{pid}-abc")
    before = snapshot(tmp_path)
    report = recover_interrupted_saves(tmp_path)
    assert snapshot(tmp_path) == before and len(report) == 4 and all("alone" in line for line in report)
    assert recover_interrupted_saves(tmp_path / "missing") == []
    assert recover_interrupted_saves(tmp_path / "ckpt.old-12-ab") == []  # a file


def test_an_old_checkpoint_is_kept_when_its_name_now_holds_something_else(tmp_path):
    pid = dead_pid()
    old = fake_leftover(tmp_path, "ckpt", pid, tiny_model(3))
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "notes.txt").write_text("mine")
    report = recover_interrupted_saves(tmp_path)
    assert old.is_dir() and len(report) == 1 and "left" in report[0] and "by hand" in report[0]


def test_a_mount_point_or_a_dangling_link_on_the_way_is_refused_before_training(tmp_path):
    (tmp_path / "dangle").symlink_to(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="which does not exist"):
        check_output_folder(tmp_path / "dangle" / "ckpt")  # training would end in "File exists"
    mount = Path("/dev/shm") if os.path.ismount("/dev/shm") else Path("/proc")
    with pytest.raises(CheckpointError, match="is a mount point"):
        check_output_folder(mount)  # a volume mounted as the output: a rename there is refused
