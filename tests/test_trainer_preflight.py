"""What ``python -m train`` refuses before it trains, and how the precision and device are chosen."""

import json
from pathlib import Path

import pytest
import torch

import train.trainer as trainer
from train import load_checkpoint, read_metrics, save_checkpoint
from train.__main__ import main
from train.data import toy_gaussians
from train.models import ModelConfig, build_model
from train.retrain import main as retrain_main
from train.trainer import TrainConfig, check_data_range, pick_device, resolve_precision, train

FAST = ["--hidden-dims", "8", "--epochs", "1", "--iwae-samples", "0", "--eval-samples", "1", "--no-progress",
        "--device", "cpu"]
TOY = ["--dataset", "toy-gaussians", "--kind", "ae", "--likelihood", "gaussian", *FAST]


@pytest.fixture
def no_data(monkeypatch):
    """Loading any dataset fails the test: the refusals must come before the data is loaded."""
    def load_dataset(*args, **kwargs):
        raise AssertionError("the data was loaded")

    monkeypatch.setattr(trainer, "load_dataset", load_dataset)


@pytest.fixture
def small_toy(monkeypatch):
    monkeypatch.setattr(trainer, "load_dataset", lambda *args: toy_gaussians(n_train=256, n_test=64))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# --- --out


def test_out_naming_a_folder_of_checkpoints_is_refused_before_the_data_is_loaded(tmp_path, no_data, capsys):
    root = tmp_path / "checkpoints"
    for name in ("mnist-ae-2d", "mnist-vae-2d"):
        save_checkpoint(build_model(ModelConfig(kind="ae", hidden_dims=(8,))), root / name)
    before = snapshot(root)
    assert main([*TOY, "--out", str(root) + "/"]) == 2
    err = one_line_error(capsys)
    assert f"--out {root}/" in err and "not a checkpoint folder" in err and "checkpoints/NAME" in err
    assert snapshot(root) == before


def test_out_naming_a_file_or_a_path_under_a_file_is_refused(tmp_path, no_data, capsys):
    file = tmp_path / "notes.txt"
    file.write_text("keep me")
    assert main([*TOY, "--out", str(file)]) == 2
    assert "is a file" in one_line_error(capsys)
    assert main([*TOY, "--out", str(file / "ckpt")]) == 2
    assert "is a file, not a folder" in one_line_error(capsys)
    assert file.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_out_in_a_folder_that_cannot_be_written_is_refused_before_training(no_data, capsys, read_only_folder):
    read_only = read_only_folder
    assert main([*TOY, "--out", str(read_only / "ckpt")]) == 2
    assert "Permission denied" in one_line_error(capsys) and list(read_only.iterdir()) == []


def test_out_may_be_an_empty_folder_or_a_checkpoint_to_replace(tmp_path, small_toy, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    assert main([*TOY, "--out", str(out)]) == 0
    first = load_checkpoint(out).state_dict()
    assert main([*TOY, "--seed", "1", "--out", str(out)]) == 0  # replaces the checkpoint it wrote
    assert "checkpoint written to" in capsys.readouterr().out
    second = load_checkpoint(out).state_dict()
    assert any(not torch.equal(first[k], second[k]) for k in first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_retrain_checks_every_output_before_training(tmp_path, no_data, capsys, monkeypatch):
    out_dir = tmp_path / "out"
    (out_dir / "mnist-vae-2d").mkdir(parents=True)
    (out_dir / "mnist-vae-2d" / "notes.txt").write_text("mine")
    monkeypatch.setattr("train.retrain.load_dataset", trainer.load_dataset)  # fails if called
    names = ["toy-ae-1d", "mnist-vae-2d"]
    assert retrain_main(["--only", *names, "--out-dir", str(out_dir), "--no-progress"]) == 2
    err = one_line_error(capsys)
    assert "mnist-vae-2d is not a checkpoint folder" in err and not (out_dir / "toy-ae-1d").exists()


def test_retrain_can_force_a_precision(tmp_path, monkeypatch):
    runs = []

    def fake_train(config, data):
        runs.append(config)
        raise ValueError("stop here")

    monkeypatch.setattr("train.retrain.train", fake_train)
    monkeypatch.setattr("train.retrain.load_dataset", lambda *args: toy_gaussians(n_train=8, n_test=8))
    assert retrain_main(["--only", "mnist-vae-2d", "--out-dir", str(tmp_path), "--precision", "fp32"]) == 2
    assert runs[0].precision == "fp32" and runs[0].epochs == 40
    assert retrain_main(["--only", "mnist-vae-2d", "--out-dir", str(tmp_path)]) == 2
    assert runs[1].precision == "auto"


# --- --device


def test_an_unknown_device_is_a_one_line_error(no_data, capsys, monkeypatch):
    for name in ("tpu", "meta", "cuda:x", ""):
        with pytest.raises(ValueError, match=f"unknown device {name!r}; expected auto, cpu, cuda, cuda:N or"):
            pick_device(name)
    assert main([*TOY, "--device", "tpu"]) == 2
    assert "unknown device 'tpu'" in one_line_error(capsys)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert pick_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match="there are 1 CUDA devices"):
        pick_device("cuda:3")


# --- the likelihood must fit the data


def test_a_likelihood_that_does_not_fit_the_data_is_refused_before_training(capsys, monkeypatch):
    monkeypatch.setattr(trainer, "build_model", lambda *a: pytest.fail("a model was built"))
    data = toy_gaussians(n_train=64, n_test=16)
    for likelihood in ("bernoulli", "continuous-bernoulli"):
        refused = rf"the {likelihood} likelihood needs inputs in \[0, 1\], but the toy-gaussians data range"
        with pytest.raises(ValueError, match=refused + r" over \[-\d.*gaussian-learned"):
            train(TrainConfig.of(dataset="toy-gaussians", likelihood=likelihood, progress=False), data=data)
    with pytest.raises(ValueError, match=r"--binarize needs inputs in \[0, 1\].*without --binarize"):
        train(TrainConfig.of(dataset="toy-gaussians", likelihood="gaussian", binarize=True, progress=False),
              data=data)
    monkeypatch.setattr(trainer, "load_dataset", lambda *args: data)
    assert main(["--dataset", "toy-gaussians", *FAST]) == 2
    assert "use --likelihood gaussian or gaussian-learned" in one_line_error(capsys)


def test_likelihoods_that_fit_are_accepted(tiny_dataset):
    data = toy_gaussians(n_train=64, n_test=16)
    for likelihood in ("gaussian", "gaussian-learned"):
        check_data_range(likelihood, data)
    for likelihood in ("bernoulli", "continuous-bernoulli", "gaussian"):
        check_data_range(likelihood, tiny_dataset, binarize=likelihood == "bernoulli")


# --- precision auto


def test_auto_precision_is_bf16_only_where_the_device_has_it_natively(monkeypatch):
    cpu, mps, cuda = torch.device("cpu"), torch.device("mps"), torch.device("cuda")
    monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16" and resolve_precision("fp32", cpu) == "fp32"
    monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16" and resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("auto", mps) == "fp32"
    asked = []

    def is_bf16_supported(including_emulation=True):
        asked.append(including_emulation)
        return not including_emulation and native_gpu

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    native_gpu = True
    assert resolve_precision("auto", cuda) == "bf16"
    native_gpu = False
    assert resolve_precision("auto", cuda) == "fp32" and asked == [False, False]
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        resolve_precision("fp16", cpu)


def test_native_bf16_is_read_from_torch_or_from_the_cpu_flags(tmp_path, monkeypatch):
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.delattr(torch._C._cpu, name, raising=False)
    cpuinfo = tmp_path / "cpuinfo"
    avx2 = "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw\n"
    for flags, native in ((avx2, False), (avx2.replace("\n", " avx512_bf16\n"), True),
                          (avx2.replace("\n", " amx_tile amx_bf16\n"), True)):
        cpuinfo.write_text(f"processor\t: 0\n{flags}\nprocessor\t: 1\n{flags}")
        assert trainer.cpu_has_native_bf16(str(cpuinfo)) is native
    assert trainer.cpu_has_native_bf16(str(tmp_path / "missing")) is False
    monkeypatch.setattr(torch._C._cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert trainer.cpu_has_native_bf16(str(tmp_path / "missing")) is True  # torch's answer first
    assert isinstance(trainer.cpu_capability(), str) and trainer.cpu_capability()


@pytest.mark.parametrize("native", [False, True])
def test_the_precision_used_is_recorded_in_the_metrics(native, tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(trainer, "cpu_capability", lambda: "AVX512" if native else "AVX2")
    autocasts = []
    real_autocast = torch.autocast

    def autocast(*args, **kwargs):
        autocasts.append(kwargs["enabled"])
        return real_autocast(*args, **kwargs)

    monkeypatch.setattr(torch, "autocast", autocast)
    config = TrainConfig.of(kind="ae", hidden_dims=(8,), epochs=1, batch_size=64, iwae_samples=0,
                            eval_samples=1, progress=False, device="cpu", out=str(tmp_path / "ckpt"))
    assert config.precision == "auto"
    result = train(config, data=tiny_dataset)
    expected = "bf16" if native else "fp32"
    m = read_metrics(result.checkpoint)
    assert m["precision"] == expected and m["precision_requested"] == "auto"
    assert m["cpu_capability"] == ("AVX512" if native else "AVX2") and "test_recon_nll" in m
    assert autocasts == [native]
    assert json.loads((result.checkpoint / "config.json").read_text())["training"]["precision"] == "auto"
