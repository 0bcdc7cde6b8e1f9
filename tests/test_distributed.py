"""torchrun: `python -m torch.distributed.run --nproc_per_node=2 -m train ...` trains with
DistributedDataParallel (gloo on the CPU); process 0 writes the checkpoint, metrics and frames."""

import json
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file

from train.frames import read_frames

TOY_AE = ["--dataset", "toy-gaussians", "--likelihood", "gaussian", "--kind", "ae", "--latent-dim", "1",
          "--hidden-dims", "32", "--epochs", "3", "--batch-size", "256", "--iwae-samples", "0",
          "--eval-samples", "2", "--device", "cpu", "--frames", "5", "--no-progress"]


def run(command: list[str], out, tmp_path) -> None:
    result = subprocess.run([sys.executable, *command, *TOY_AE, "--out", str(out)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_two_processes_train_the_same_model_as_one(tmp_path):
    """The same effective batch (each process takes half of every batch of 256, DDP averages the
    gradients) gives the weights of the single-process run up to float rounding."""
    run(["-m", "train"], tmp_path / "one", tmp_path)
    run(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "train"],
        tmp_path / "two", tmp_path)
    one = load_file(tmp_path / "one" / "model.safetensors")
    two = load_file(tmp_path / "two" / "model.safetensors")
    assert one.keys() == two.keys()
    # Not bit-equal: one GEMM over 256 rows sums in another order than two over 128 plus the
    # all-reduce, and Adam's normalised steps enlarge such rounding in near-zero gradients. Measured
    # 1.8e-7 on one CPU and 9.9e-5 on another (the same torch); a wrong gradient average (a sum, or one
    # process's half) differs by orders of magnitude more, and the metrics below must agree too.
    worst = max(float(np.abs(one[k] - two[k]).max()) for k in one)
    assert worst < 5e-4, worst
    metrics = json.loads((tmp_path / "two" / "metrics.json").read_text())
    single = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and "processes" not in single
    assert abs(metrics["test_recon_nll"] - single["test_recon_nll"]) < 1e-4
    for a, b in zip(metrics["history"], single["history"], strict=True):  # the train loss of the whole batch
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-3 * abs(b["train_loss"])
    # process 0 recorded the frames: the same codes, up to about one float16 step (2^-10 relative:
    # 0.001 near 1, 0.004 near 4)
    np.testing.assert_allclose(read_frames(tmp_path / "two").codes.astype(np.float32),
                               read_frames(tmp_path / "one").codes.astype(np.float32), rtol=2e-3, atol=2e-3)
    files = [sorted(p.name for p in (tmp_path / name).iterdir()) for name in ("one", "two")]
    assert files[0] == files[1]  # the same checkpoint files, written once
