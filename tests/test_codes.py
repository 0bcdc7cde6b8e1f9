"""The test split, encoded (train/codes.py): every checkpoint the trainer saves holds its final
model's codes of the test split, naming the weights they belong to; read_codes reads them without
torch and tells stale ones from damaged ones; write_codes and ``python -m train.codes`` add them to
an existing checkpoint, never touching anything else; the shipped checkpoints' codes are those the
explorer would compute."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import save as save_arrays

from explorer.inference import encode_all
from explorer.testdata import load_test_set
from tests.conftest import fake_digits
from tests.test_checkpoint_safety import fail_at, killed
from train import CheckpointError, ModelConfig, build_model, load_checkpoint, save_checkpoint
from train.checkpoint import CODES_FILE, CONFIG_FILE, WEIGHTS_FILE, check_output_folder
from train.codes import (
    FORMAT,
    Codes,
    encode_codes,
    encode_test_split,
    main,
    read_codes,
    weights_digest,
    write_codes,
)
from train.data import toy_gaussians
from train.idx import IDX_FILES, write_idx
from train.retrain import SHIPPED
from train.trainer import TrainConfig, train

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def run(data, out, **settings):
    """A tiny training run on CPU without progress bars or the IWAE estimate."""
    config = TrainConfig.of(**{"hidden_dims": (16,), "epochs": 1, "batch_size": 32, "lr": 3e-3,
                               "iwae_samples": 0, "eval_samples": 2, "progress": False, "device": "cpu",
                               "frames": 0, "out": str(out) if out else None, **settings})
    return train(config, data=data)


def tiny_model(seed: int, kind: str = "vae"):
    torch.manual_seed(seed)
    return build_model(ModelConfig(kind=kind, latent_dim=2, hidden_dims=(8,))).eval()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def saved(tmp_path, tiny_dataset) -> Path:
    """A checkpoint of a tiny VAE saved with its codes of the fabricated test digits."""
    model = tiny_model(0)
    return save_checkpoint(model, tmp_path / "ckpt", codes=encode_test_split(model, tiny_dataset))


# --- What the trainer writes.

KINDS = {"ae": {"kind": "ae"}, "dae": {"kind": "dae"}, "vae": {"kind": "vae"}, "cvae": {"kind": "cvae"},
         "toy-vae": {"kind": "vae", "dataset": "toy-gaussians", "latent_dim": 1,
                     "likelihood": "gaussian-learned"}}


@pytest.mark.parametrize("case", KINDS)
def test_a_trained_checkpoint_holds_its_models_codes_of_the_test_split(case, tiny_dataset, tmp_path):
    data = toy_gaussians(n_train=256, n_test=96) if case.startswith("toy") else tiny_dataset
    result = run(data, tmp_path / case, **KINDS[case])
    codes = read_codes(result.checkpoint)
    assert codes is not None and codes.weights_sha256 == weights_digest(result.checkpoint)
    model = load_checkpoint(result.checkpoint)
    expected = encode_codes(model, data.test_x, data.test_y)
    assert codes.codes.dtype == np.float32
    assert codes.codes.shape == (data.test_x.shape[0], model.config.latent_dim)
    assert np.array_equal(codes.codes, expected)
    with torch.no_grad():  # encode_codes is encode(x, y): the posterior mean, the CVAE given each label
        direct = model.encode(data.test_x, data.test_y if model.config.conditional else None)
        if model.config.variational:
            assert torch.equal(direct, model.posterior(data.test_x, data.test_y)[0])
    np.testing.assert_allclose(codes.codes, direct.numpy(), rtol=1e-6, atol=1e-6)
    assert codes.labels.dtype == np.int64 and np.array_equal(codes.labels, data.test_y.numpy())
    assert codes.dataset == data.name
    with safe_open(str(result.checkpoint / CODES_FILE), framework="numpy") as f:
        assert f.metadata() == {"format": FORMAT, "dataset": data.name, "split": "test",
                                "weights_sha256": weights_digest(result.checkpoint)}
        assert sorted(f.keys()) == ["codes", "labels"]


SAME_RUNS = {"vae": {"kind": "vae"}, "cvae": {"kind": "cvae", "n_samples": 2},
             "binarized-bf16": {"kind": "vae", "binarize": True, "beta": 4.0, "precision": "bf16"}}


@pytest.mark.parametrize("case", SAME_RUNS)
def test_writing_the_codes_leaves_training_exactly_as_it_is(case, tiny_dataset, tmp_path):
    """Codes are encoded after training and evaluation, drawing no random numbers: a run that saves
    them gives the weights and metrics of the same run that saves nothing."""
    unsaved = run(tiny_dataset, None, **SAME_RUNS[case])
    saved_run = run(tiny_dataset, tmp_path / "saved", **SAME_RUNS[case])
    weights = load_checkpoint(saved_run.checkpoint).state_dict()
    assert all(torch.equal(weights[k], v) for k, v in unsaved.model.state_dict().items())
    drop = ("wall_time_s", "evaluation_seconds", "history")
    assert {k: v for k, v in saved_run.metrics.items() if k not in drop} == \
        {k: v for k, v in unsaved.metrics.items() if k not in drop}
    # the images as the explorer shows them, not the binarized draws the metrics use
    assert np.array_equal(read_codes(saved_run.checkpoint).codes,
                          encode_codes(unsaved.model, tiny_dataset.test_x, tiny_dataset.test_y))


def test_encoding_keeps_the_models_mode_and_draws_no_random_numbers(tiny_dataset):
    model = tiny_model(0, "dae").train()
    state = torch.get_rng_state()
    codes = encode_codes(model, tiny_dataset.test_x, tiny_dataset.test_y, batch=7)
    assert model.training and torch.equal(torch.get_rng_state(), state)
    whole = encode_codes(model, tiny_dataset.test_x, tiny_dataset.test_y)  # one batch: equal up to rounding
    np.testing.assert_allclose(codes, whole, atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # fp32 even inside the trainer's bf16 region
        assert np.array_equal(encode_codes(model, tiny_dataset.test_x, tiny_dataset.test_y), whole)
    with pytest.raises(ValueError, match="labels"):
        encode_codes(model, tiny_dataset.test_x, tiny_dataset.test_y[:3])


# --- Stale codes and damaged files.


def test_codes_of_replaced_weights_are_stale(saved, tmp_path):
    other = save_checkpoint(tiny_model(1), tmp_path / "other")
    assert read_codes(saved) is not None
    shutil.copyfile(other / WEIGHTS_FILE, saved / WEIGHTS_FILE)  # retrained in place, codes left behind
    assert read_codes(saved) is None
    save_checkpoint(tiny_model(2), saved)  # a save without codes: the old ones go with the old weights
    assert not (saved / CODES_FILE).exists() and read_codes(saved) is None


def test_save_checkpoint_refuses_codes_of_other_weights_before_writing(saved, tiny_dataset, tmp_path):
    codes = read_codes(saved)
    with pytest.raises(ValueError, match="encoded by weights of SHA-256"):
        save_checkpoint(tiny_model(1), tmp_path / "new", codes=codes)
    assert not (tmp_path / "new").exists()
    save_checkpoint(load_checkpoint(saved), tmp_path / "copy", codes=codes)  # their own weights: fine
    assert read_codes(tmp_path / "copy").weights_sha256 == codes.weights_sha256
    with pytest.raises(ValueError, match="belong to no weights"):
        encode_test_split(tiny_model(0), tiny_dataset).to_bytes()


def rewrite(tensors=None, drop=(), **metadata):
    """A damage: the folder's codes file rewritten with some tensors or metadata changed (the
    weights' digest kept, so only the change is wrong)."""
    def damage(folder: Path):
        with safe_open(str(folder / CODES_FILE), framework="numpy") as f:
            header = {**f.metadata(), **metadata}
            arrays = {name: f.get_tensor(name) for name in f.keys()}
        arrays.update(tensors(arrays) if tensors else {})
        kept = {k: v for k, v in arrays.items() if k not in drop}
        (folder / CODES_FILE).write_bytes(save_arrays(kept, metadata={k: v for k, v in header.items()
                                                                      if k not in drop}))
    return damage


def nan_first(arrays):
    codes = arrays["codes"].copy()
    codes[0, 1] = np.nan
    return {"codes": codes}


DAMAGED = {
    "truncated": (lambda f: (f / CODES_FILE).write_bytes((f / CODES_FILE).read_bytes()[:300]),
                  "is not a readable safetensors file"),
    "empty": (lambda f: (f / CODES_FILE).write_bytes(b""), "is not a readable safetensors file"),
    "pickle": (lambda f: (f / CODES_FILE).write_bytes(b"\x80\x04\x95" + b"\0" * 64), "is not a readable"),
    "other-format": (rewrite(format="latent-explorer frames"), "not a codes file"),
    "newer-version": (rewrite(format="latent-explorer-codes/2"), "a version this code does not read"),
    "no-digest": (rewrite(drop=("weights_sha256",)), "lacks weights_sha256"),
    "no-labels": (rewrite(drop=("labels",)), "lacks the tensor 'labels'"),
    "train-split": (rewrite(split="train"), "encodes the 'train' split"),
    "float64-codes": (rewrite(lambda a: {"codes": a["codes"].astype(np.float64)}), "must be float32"),
    "float16-codes": (rewrite(lambda a: {"codes": a["codes"].astype(np.float16)}), "must be float32"),
    "int32-labels": (rewrite(lambda a: {"labels": a["labels"].astype(np.int32)}), "must be int64"),
    "flat-codes": (rewrite(lambda a: {"codes": a["codes"].ravel()}), r"must be float32 \[N, d\]"),
    "nan": (rewrite(nan_first), "must be finite; 1 of 64 rows"),
    "shape-mismatch": (rewrite(lambda a: {"labels": a["labels"][:-1]}), "the same N"),
    "bad-digest": (rewrite(weights_sha256="abc"), "64 lowercase hex digits"),
}


@pytest.mark.parametrize("damage", DAMAGED)
def test_a_damaged_codes_file_is_refused_naming_it_and_the_fix(damage, saved):
    make, reason = DAMAGED[damage]
    make(saved)
    with pytest.raises(CheckpointError, match=reason) as error:
        read_codes(saved)
    assert str(saved / CODES_FILE) in str(error.value) and "python -m train.codes" in str(error.value)
    load_checkpoint(saved)  # the model still loads


def test_reading_codes_never_imports_torch(saved):
    script = ("import sys; import train.codes as c; assert 'torch' not in sys.modules; "
              f"codes = c.read_codes({str(saved)!r}); "
              "assert codes is not None and codes.codes.shape == (64, 2); "
              "assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- A checkpoint with codes stays a checkpoint.


def test_a_checkpoint_with_codes_is_still_one_and_can_be_replaced(saved, tiny_dataset):
    assert check_output_folder(saved) == saved
    model = tiny_model(3)
    save_checkpoint(model, saved, codes=encode_test_split(model, tiny_dataset))
    assert read_codes(saved).weights_sha256 == weights_digest(saved)
    expected = encode_codes(model, tiny_dataset.test_x, tiny_dataset.test_y)
    assert np.array_equal(read_codes(saved).codes, expected)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_save_killed_at_any_step_leaves_codes_that_belong_to_the_weights_beside_them(tmp_path,
                                                                                        tiny_dataset):
    old_model, new_model = tiny_model(0), tiny_model(1)
    new_codes = encode_test_split(new_model, tiny_dataset)
    for k in range(1, 30):
        folder = tmp_path / f"kill-{k}" / "ckpt"
        save_checkpoint(old_model, folder, codes=encode_test_split(old_model, tiny_dataset))
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                fail_at(k, killed)
                save_checkpoint(new_model, folder, codes=new_codes)
                os._exit(0)
            except BaseException:
                os._exit(1)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        assert code in (0, 17)
        model = load_checkpoint(folder)  # recovers first
        codes = read_codes(folder)
        assert codes is not None
        assert np.array_equal(codes.codes, encode_codes(model, tiny_dataset.test_x, tiny_dataset.test_y))
        if code == 0:
            break
    else:
        pytest.fail("the save never finished")
    assert k >= 8


# --- Adding codes to an existing checkpoint.


def test_write_codes_adds_the_codes_and_touches_nothing_else(tmp_path, tiny_dataset):
    model = tiny_model(0, "cvae")
    folder = save_checkpoint(model, tmp_path / "ckpt", dataset={"name": "mnist"}, metrics={"run": 1})
    before = snapshot(folder)
    (folder / f".{CODES_FILE}.tmp-999999999-abc123").write_bytes(b"half")  # a killed write_codes
    assert write_codes(folder, data=tiny_dataset) == folder / CODES_FILE
    after = snapshot(folder)
    assert sorted(after) == sorted([*before, CODES_FILE]) and all(after[k] == v for k, v in before.items())
    codes = read_codes(folder)
    assert np.array_equal(codes.codes, encode_codes(model, tiny_dataset.test_x, tiny_dataset.test_y))
    with pytest.raises(ValueError, match="trained on 'mnist'; the data given is 'toy-gaussians'"):
        write_codes(folder, data=toy_gaussians(n_train=8, n_test=8))


def not_a_checkpoint(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / CONFIG_FILE).write_text('{"format_version": 1}')
    (folder / "notes.txt").write_text("keep me")
    return folder


@pytest.mark.parametrize("what", ["other-files", "missing", "file", "empty", "link", "no-weights"])
def test_write_codes_refuses_what_is_not_a_checkpoint_and_leaves_it_as_it_was(what, tmp_path, saved,
                                                                               tiny_dataset):
    folder = tmp_path / what
    if what == "other-files":
        folder = not_a_checkpoint(tmp_path)
    elif what == "file":
        shutil.copyfile(saved / CONFIG_FILE, folder)
    elif what == "empty":
        folder.mkdir()
    elif what == "link":
        folder.symlink_to(saved)
    elif what == "no-weights":
        shutil.copytree(saved, folder, ignore=lambda *_: [WEIGHTS_FILE, CODES_FILE])
    before = snapshot(tmp_path), sorted(tmp_path.rglob("*"))
    with pytest.raises(CheckpointError, match=folder.name):
        write_codes(folder, data=tiny_dataset)
    assert (snapshot(tmp_path), sorted(tmp_path.rglob("*"))) == before


def fabricated_data_root(root: Path) -> Path:
    """A data root holding fabricated MNIST IDX files (what --data-root points at)."""
    raw = root / "MNIST" / "raw"
    for split, (images, labels) in (("train", fake_digits(32, seed=1)), ("test", fake_digits(40, seed=2))):
        write_idx(raw / IDX_FILES[f"{split}_images"], images)
        write_idx(raw / IDX_FILES[f"{split}_labels"], labels.astype(np.uint8))
    return root


def test_the_command_reports_a_bad_folder_and_goes_on_with_the_next(tmp_path, capsys):
    model = tiny_model(0, "ae")
    good = save_checkpoint(model, tmp_path / "good", dataset={"name": "mnist"})
    bad = not_a_checkpoint(tmp_path)
    root = fabricated_data_root(tmp_path / "data")
    assert main([str(bad), str(tmp_path / "missing"), str(good), "--data-root", str(root)]) == 1
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"error: {bad}: ") and "not a checkpoint" in lines[0]
    assert lines[1].startswith(f"error: {tmp_path / 'missing'}: ") and "does not exist" in lines[1]
    assert f"{good}: wrote codes.safetensors: 40 x 2 codes of the mnist test split" in out
    images, labels = (torch.from_numpy(a) for a in fake_digits(40, seed=2))
    assert np.array_equal(read_codes(good).codes, encode_codes(model, images.unsqueeze(1) / 255.0, labels))
    assert main([str(good), "--data-root", str(tmp_path / "nowhere")]) == 1  # no data: a message
    assert "error: " in capsys.readouterr().err


# --- The shipped checkpoints.

IMAGE_MODELS = sorted(name for name, recipe in SHIPPED.items() if recipe.dataset != "toy-gaussians")


@pytest.fixture(scope="module")
def shipped_test_sets():
    return {name: load_test_set(name) for name in ("mnist", "fashion-mnist")}


def test_every_shipped_checkpoint_has_fresh_codes():
    for name in SHIPPED:
        codes = read_codes(CHECKPOINTS / name)
        assert codes is not None, f"{name}: no codes.safetensors, or stale; run python -m train.codes"
        assert codes.dataset == SHIPPED[name].dataset and codes.latent_dim == SHIPPED[name].model.latent_dim


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_shipped_codes_are_what_the_explorer_computes(name, shipped_test_sets):
    codes = read_codes(CHECKPOINTS / name)
    images, labels = shipped_test_sets[SHIPPED[name].dataset]
    assert np.array_equal(codes.labels, labels) and codes.labels.dtype == labels.dtype
    model = load_checkpoint(CHECKPOINTS / name)
    with torch.inference_mode():
        expected = encode_all(model, images, labels if model.config.conditional else None)
    assert np.abs(codes.codes - expected).max() <= 1e-5


@pytest.mark.parametrize("name", sorted(set(SHIPPED) - set(IMAGE_MODELS)))
def test_shipped_toy_codes_are_their_models_codes_of_the_toy_test_split(name):
    codes, data = read_codes(CHECKPOINTS / name), toy_gaussians()
    assert np.array_equal(codes.labels, data.test_y.numpy())
    expected = load_checkpoint(CHECKPOINTS / name).encode(data.test_x).detach().numpy()
    assert np.abs(codes.codes - expected).max() <= 1e-5


def test_codes_reject_what_the_file_format_does_not_allow():
    good = {"codes": np.zeros((3, 2), np.float32), "labels": np.zeros(3, np.int64), "dataset": "mnist"}
    Codes(**good)
    for change, reason in [({"dataset": ""}, "must be named"), ({"codes": np.zeros((0, 2), np.float32),
                                                                "labels": np.zeros(0, np.int64)}, "N >= 1"),
                           ({"codes": np.zeros((3, 0), np.float32)}, "d >= 1"),
                           ({"codes": [[0.0, 0.0]]}, "got list")]:
        with pytest.raises(ValueError, match=reason):
            Codes(**{**good, **change})
