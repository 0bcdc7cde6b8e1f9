"""Frames recorded during training (train/frames.py): which steps and inputs, what each frame holds,
that the last frame is the saved model's, that recording leaves training exactly as it is, and that
a damaged frames file is refused with its reason while its checkpoint still loads."""

import json
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open

import train.trainer as trainer_module
from explorer.catalogue import list_checkpoints
from tests.bad_checkpoints import BAD_FRAMES
from tests.conftest import fake_digits
from train import CheckpointError, ModelConfig, build_model, load_checkpoint
from train.__main__ import main
from train.checkpoint import FRAMES_FILE
from train.codes import read_codes
from train.data import MNIST_CLASSES, ImageSplits, images_dataset, toy_gaussians
from train.evaluate import mean_objective
from train.frames import (
    DEFAULT_FRAMES,
    MAX_FRAMES_BYTES,
    FrameRecorder,
    frame_steps,
    frame_subset,
    frames_size_bound,
    manifold_grid,
    read_frames,
)
from train.objectives import gaussian_kl
from train.schema import read_metadata
from train.trainer import TrainConfig, train

STEPS_PER_EPOCH = 8  # the fabricated digits: 256 training inputs in batches of 32


def run(data, out, **settings):
    """A tiny training run on CPU without progress bars or the IWAE estimate."""
    config = TrainConfig.of(**{"hidden_dims": (16,), "epochs": 2, "batch_size": 32, "lr": 3e-3,
                               "iwae_samples": 0, "eval_samples": 2, "progress": False, "device": "cpu",
                               "out": str(out) if out else None, **settings})
    return train(config, data=data)


def toy_data():
    return toy_gaussians(n_train=256, n_test=96)


def dataset(name, tiny_dataset):
    return toy_data() if name == "toy" else tiny_dataset


# --- Which steps, inputs and latents.


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 200_000), n=st.integers(2, 300))
def test_frame_steps_run_from_zero_to_the_last_step_strictly_increasing(total, n):
    steps = frame_steps(total, n)
    assert steps.dtype == np.int64 and len(steps) == min(n, total + 1)
    assert steps[0] == 0 and steps[-1] == total and np.all(np.diff(steps) > 0)


def test_frame_steps_are_log_spaced():
    steps = frame_steps(9400, 40)  # mnist-vae-2d: 40 epochs of 235 steps
    ratios = steps[20:] / steps[19:-1]  # far from the start, where rounding pushed steps apart
    assert np.allclose(ratios, 9400 ** (1 / 38), rtol=0.02)
    assert list(steps[:4]) == [0, 1, 2, 3]  # the first steps, where most changes, are all recorded
    assert list(frame_steps(5, 40)) == [0, 1, 2, 3, 4, 5]  # a short run: every step
    with pytest.raises(ValueError, match="n_frames >= 2"):
        frame_steps(100, 1)


def test_the_inputs_are_a_fixed_class_balanced_subset_of_the_test_split():
    labels = np.random.default_rng(3).permutation(np.arange(10_000) % 10)
    index = frame_subset(labels, 2000)
    assert index.dtype == np.int64 and len(index) == 2000 and np.all(np.diff(index) > 0)
    assert np.bincount(labels[index]).tolist() == [200] * 10
    assert np.array_equal(index, frame_subset(labels, 2000))  # the same inputs for every model
    assert not np.array_equal(index, frame_subset(labels, 2000, seed=1))
    rare = np.concatenate([np.zeros(50, int), np.repeat(np.arange(1, 10), 500)])  # 50 of class 0
    counts = np.bincount(rare[frame_subset(rare, 2000)])
    assert counts[0] == 50 and counts.sum() == 2000 and counts[1:].max() - counts[1:].min() <= 1
    assert np.array_equal(frame_subset(labels[:64], 2000), np.arange(64))  # fewer than asked: all


def test_the_prior_manifold_is_the_explorers_and_the_data_manifold_spans_the_codes():
    from explorer.geometry import prior_quantile_grid

    np.testing.assert_allclose(manifold_grid(2, 36, "prior"), prior_quantile_grid(6), rtol=1e-6)
    codes = np.random.default_rng(0).normal([5.0, -3.0], [2.0, 0.5], size=(2000, 2))
    grid = manifold_grid(2, 36, "data", codes)
    low, high = np.quantile(codes, [0.01, 0.99], axis=0)
    np.testing.assert_allclose([grid[:, 0].min(), grid[:, 1].min()], low, rtol=1e-5)
    np.testing.assert_allclose([grid[:, 0].max(), grid[:, 1].max()], high, rtol=1e-5)
    assert grid[0, 1] == grid[:, 1].max()  # the top row first, as the explorer draws its tiles
    assert manifold_grid(1, 64, "prior").shape == (64, 1)
    with pytest.raises(ValueError, match="1 or 2 dimensions"):
        manifold_grid(3, 64, "prior")


# --- What a run records.

KINDS = {"ae": ("mnist", {"kind": "ae"}), "dae": ("mnist", {"kind": "dae"}),
         "vae": ("mnist", {"kind": "vae"}), "cvae": ("mnist", {"kind": "cvae"}),
         "toy-ae": ("toy", {"kind": "ae", "dataset": "toy-gaussians", "latent_dim": 1,
                            "likelihood": "gaussian", "sigma": 0.5}),
         "toy-vae": ("toy", {"kind": "vae", "dataset": "toy-gaussians", "latent_dim": 1,
                             "likelihood": "gaussian-learned", "kl_warmup_epochs": 1})}


@pytest.mark.parametrize("case", KINDS)
def test_the_last_frame_is_the_saved_models_encoding_of_the_recorded_inputs(case, tiny_dataset, tmp_path):
    name, settings_ = KINDS[case]
    data = dataset(name, tiny_dataset)
    result = run(data, tmp_path / case, frames=10, **settings_)
    frames = read_frames(result.checkpoint)
    model = load_checkpoint(result.checkpoint)
    x, y = data.test_x[frames.index], data.test_y[frames.index]
    with torch.no_grad():
        fresh = model.encode(x, y).numpy()
    assert frames.codes.dtype == np.float16
    # float16 keeps 11 significant bits: a stored code is within half a unit of the last place of it
    np.testing.assert_allclose(frames.codes[-1].astype(np.float32), fresh, rtol=2**-11, atol=1e-6)
    assert np.abs(frames.codes[0].astype(np.float32) - fresh).max() > 1e-2  # frame 0: the untrained network

    total = result.metrics["epochs"] * (-(-data.train_x.shape[0] // 32))
    assert frames.n_frames == 10 and frames.step[0] == 0 and frames.step[-1] == total
    np.testing.assert_allclose(frames.epoch, frames.step / (total / 2), rtol=1e-6)
    assert np.array_equal(frames.label, data.test_y[frames.index].numpy())
    assert frames.n_inputs == min(2000, data.test_x.shape[0])

    assert np.isnan(frames.train_loss[0]) and np.isfinite(frames.train_loss[1:]).all()  # no step before 0
    np.testing.assert_allclose(frames.train_loss[1:], frames.train_recon[1:] + frames.train_kl[1:], rtol=1e-4)
    np.testing.assert_allclose(frames.test_loss, frames.test_recon + frames.test_kl, rtol=1e-5)
    if model.config.variational:
        with torch.no_grad():
            mu, logvar = model.posterior(x, y)
        kl = gaussian_kl(mu, logvar).mean().item()  # closed form: no sampling
        assert frames.test_kl[-1] == pytest.approx(kl, rel=1e-4)
        np.testing.assert_allclose(frames.kl_per_dim.sum(axis=1), frames.test_kl, rtol=1e-4)
        assert frames.kl_weight[-1] == pytest.approx(model.config.beta)
    else:
        assert frames.kl_per_dim is None and frames.kl_weight is None and not frames.test_kl.any()
        assert frames.test_recon[-1] == pytest.approx(mean_objective(model, x)["recon"], rel=1e-5)

    if case == "cvae":  # its decoder needs a class as well as z: no manifold
        assert frames.manifold_z is None and frames.manifold_images is None
        return
    z = torch.from_numpy(frames.manifold_z[-1])
    with torch.no_grad():
        decoded = model.decode(z).numpy()
    if name == "toy":
        assert frames.manifold_points.shape == (10, 64, 2) and frames.manifold_images is None
        np.testing.assert_allclose(frames.manifold_points[-1], decoded, rtol=1e-5, atol=1e-6)
    else:
        assert frames.manifold_images.shape == (10, 36, 28, 28) and frames.manifold_images.dtype == np.uint8
        expected = np.round(np.clip(decoded[:, 0], 0, 1) * 255)
        assert np.abs(frames.manifold_images[-1].astype(int) - expected).max() <= 1
    if model.config.variational:  # the prior's quantiles, the same at every frame
        assert (frames.manifold_z == frames.manifold_z[0]).all()
    else:  # over each frame's own codes
        np.testing.assert_allclose(frames.manifold_z[-1].min(axis=0), np.quantile(fresh, 0.01, axis=0),
                                   rtol=1e-4, atol=1e-6)


def test_a_run_that_stops_early_ends_its_frames_with_its_final_model(tiny_dataset, tmp_path):
    result = run(tiny_dataset, tmp_path / "early", kind="vae", epochs=4, target_loss=1e9, frames=20)
    assert result.metrics["epochs"] == 1
    frames = read_frames(result.checkpoint)
    assert frames.step[-1] == STEPS_PER_EPOCH and frames.step[0] == 0
    with torch.no_grad():
        fresh = load_checkpoint(result.checkpoint).encode(tiny_dataset.test_x[frames.index]).numpy()
    np.testing.assert_allclose(frames.codes[-1].astype(np.float32), fresh, rtol=2**-11, atol=1e-6)


SAME_RUNS = {
    "vae": ("mnist", {"kind": "vae"}),
    "dae": ("mnist", {"kind": "dae"}),
    "cvae-2-samples-warm-up": ("mnist", {"kind": "cvae", "n_samples": 2, "kl_warmup_epochs": 1}),
    "binarized-beta-vae-bf16-cosine": ("mnist", {"kind": "vae", "binarize": True, "beta": 4.0,
                                                 "precision": "bf16", "lr_final": 1e-4}),
    "toy-vae": ("toy", KINDS["toy-vae"][1]),
}


@pytest.mark.parametrize("case", SAME_RUNS)
def test_recording_frames_leaves_the_weights_byte_identical(case, tiny_dataset, tmp_path):
    name, settings_ = SAME_RUNS[case]
    data = dataset(name, tiny_dataset)
    without = run(data, tmp_path / "without", frames=0, **settings_)
    with_frames = run(data, tmp_path / "with", frames=9, **settings_)
    assert (with_frames.checkpoint / "model.safetensors").read_bytes() == \
        (without.checkpoint / "model.safetensors").read_bytes()
    losses = [(h["train_loss"], h["test_loss"]) for h in without.metrics["history"]]
    assert [(h["train_loss"], h["test_loss"]) for h in with_frames.metrics["history"]] == losses
    assert with_frames.frames.n_frames == 9 and without.frames is None
    assert sorted(p.name for p in without.checkpoint.iterdir()) == ["codes.safetensors", "config.json",
                                                                     "metrics.json", "model.safetensors"]
    assert (with_frames.checkpoint / FRAMES_FILE).is_file()
    # the same weights, the same codes of the test split, naming the same weights' digest
    codes, other = read_codes(with_frames.checkpoint), read_codes(without.checkpoint)
    assert codes.weights_sha256 == other.weights_sha256
    assert np.array_equal(codes.codes, other.codes) and np.array_equal(codes.labels, other.labels)


@pytest.mark.parametrize("kind", ["vae", "dae"])
def test_recording_uses_no_global_random_state_and_keeps_the_models_mode(kind, tiny_dataset):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, latent_dim=2, hidden_dims=(16,), data_shape=(1, 28, 28)))
    recorder = FrameRecorder(model, tiny_dataset.test_x, tiny_dataset.test_y, n_frames=5, total_steps=10,
                             steps_per_epoch=5)
    for step, training in enumerate((True, False)):
        model.train(training)
        state = torch.get_rng_state()
        recorder.record(step, 1.0)
        assert torch.equal(torch.get_rng_state(), state) and model.training is training
    frames = recorder.frames()  # two frames of the same network: the same z draws, the same numbers
    assert frames.test_loss[0] == frames.test_loss[1] and (frames.codes[0] == frames.codes[1]).all()


def test_frames_are_on_by_default_for_small_latents_and_zero_turns_them_off(tiny_dataset, tmp_path):
    assert TrainConfig.of(latent_dim=2).frames_to_record() == DEFAULT_FRAMES
    assert TrainConfig.of(latent_dim=1).frames_to_record() == DEFAULT_FRAMES
    assert TrainConfig.of(latent_dim=16).frames_to_record() == 0
    assert TrainConfig.of(latent_dim=16, frames=5).frames_to_record() == 5
    result = run(tiny_dataset, tmp_path / "default", kind="ae", epochs=1)
    assert result.frames.n_frames == STEPS_PER_EPOCH + 1  # a short run: every step, and step 0
    assert json.loads((result.checkpoint / "config.json").read_text())["training"]["frames"] == DEFAULT_FRAMES
    assert result.metrics["frames_seconds"] <= result.metrics["wall_time_s"] + 0.05  # part of training time
    off = run(tiny_dataset, tmp_path / "off", kind="ae", epochs=1, frames=0)
    assert off.frames is None and not (off.checkpoint / FRAMES_FILE).exists()
    assert "frames_seconds" not in off.metrics
    with pytest.raises(CheckpointError, match=r"has no frames.safetensors; record frames .* --frames N"):
        read_frames(off.checkpoint)


def test_too_many_frames_are_refused_before_training(tiny_dataset, tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match="frames must be 0 .off. or >= 2"):
        TrainConfig.of(frames=1)
    assert main(["--frames", "-3", "--no-progress"]) == 2
    assert "frames must be 0 (off) or >= 2" in capsys.readouterr().err

    def no_training(config):
        raise AssertionError("a model was built: the check came too late")

    monkeypatch.setattr(trainer_module, "build_model", no_training)
    with pytest.raises(ValueError, match=r"--frames 400 would write up to .* MB .* the cap is 3 MB: use "
                                         r"--frames \d+ or fewer"):
        run(tiny_dataset, tmp_path / "big", kind="vae", latent_dim=64, frames=400)
    assert not (tmp_path / "big").exists()


def test_forty_frames_of_two_thousand_digits_fit_the_cap(tmp_path):
    """The default for the shipped 2-D models: 40 frames of 2,000 digits with 6 x 6 tiles."""
    images, labels = fake_digits(2000, seed=4)
    x = torch.from_numpy(images).unsqueeze(1).float() / 255
    config = ModelConfig(kind="vae", latent_dim=2, hidden_dims=(8,))
    recorder = FrameRecorder(build_model(config), x, torch.from_numpy(labels), n_frames=40, total_steps=9400,
                             steps_per_epoch=235)
    for step in recorder.planned:
        recorder.record(int(step), 1.0)
    data = recorder.frames().to_bytes()
    assert len(data) <= frames_size_bound(40, 2000, config) <= MAX_FRAMES_BYTES
    assert recorder.frames().n_frames == 40 and recorder.frames().n_inputs == 2000


def test_a_frames_file_says_what_it_holds_in_its_header(tiny_dataset, tmp_path):
    result = run(tiny_dataset, tmp_path / "ckpt", kind="vae", frames=5)
    with safe_open(str(result.checkpoint / FRAMES_FILE), framework="numpy") as f:
        metadata = f.metadata()
        names = set(f.keys())
    assert metadata["format"] == "latent-explorer frames" and metadata["format_version"] == "1"
    assert (metadata["n_frames"], metadata["n_inputs"], metadata["latent_dim"]) == ("5", "64", "2")
    described = json.loads(metadata["tensors"])
    assert set(described) == names == set(result.frames.tensors())
    assert described["codes"].startswith("float16 or float32 [F, M, d]")
    assert metadata["manifold_spacing"] == "prior" and "NaN at step 0" in metadata["train_parts"]
    read = read_frames(result.checkpoint)
    for name, value in result.frames.tensors().items():
        np.testing.assert_array_equal(getattr(read, name), value)


# --- Damaged frames files.


@pytest.fixture(scope="module")
def checkpoint_with_frames(tmp_path_factory):
    """A tiny VAE trained on the fabricated digits with 6 frames (made once for the damage tests)."""
    train_x, train_y = fake_digits(256, seed=1)
    test_x, test_y = fake_digits(64, seed=2)
    arrays = (torch.from_numpy(a) for a in (train_x, train_y, test_x, test_y))
    splits = ImageSplits(*arrays, source="fabricated")
    data = images_dataset("mnist", splits, MNIST_CLASSES)
    return run(data, tmp_path_factory.mktemp("frames") / "ckpt", kind="vae", frames=6, epochs=1).checkpoint


@pytest.mark.parametrize("name", BAD_FRAMES)
def test_a_damaged_frames_file_is_refused_with_its_reason_and_the_model_still_loads(name, tmp_path,
                                                                                   checkpoint_with_frames):

    damage, reason = BAD_FRAMES[name]
    folder = tmp_path / "shelf" / name
    shutil.copytree(checkpoint_with_frames, folder)
    damage(folder)
    with pytest.raises(CheckpointError, match=reason) as refused:
        read_frames(folder)
    assert str(folder / FRAMES_FILE) in str(refused.value)
    assert not (tmp_path / "shelf" / f"{name}-code-ran").exists()  # a pickle is never unpickled
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        intact = load_checkpoint(checkpoint_with_frames).encode(x)
        assert torch.equal(load_checkpoint(folder).encode(x), intact)
    assert read_metadata(folder).config.model.kind == "vae"
    [info] = list_checkpoints(tmp_path / "shelf")
    assert info.name == name and info.error is None


def test_live_frames_grow_while_a_run_trains_and_end_as_the_checkpoints(tiny_dataset, tmp_path, monkeypatch):
    """--live-frames: the frames so far, replaced after each frame (each write a whole file), the
    last one equal to the checkpoint's; the weights are those of the same run without it."""
    from train import trainer
    from train.frames import read_frames

    seen = []
    write = trainer._write_live_frames

    def watch(recorder, folder):
        write(recorder, folder)
        if folder is not None:
            seen.append(len(read_frames(folder).step))  # a reader in between gets a whole file

    monkeypatch.setattr(trainer, "_write_live_frames", watch)
    data = dataset("mnist", tiny_dataset)
    live = run(data, tmp_path / "with", frames=5, live_frames=str(tmp_path / "live"))
    plain = run(data, tmp_path / "without", frames=5)
    assert seen == sorted(seen) and seen[0] == 1 and seen[-1] == 5
    final = read_frames(tmp_path / "live")
    np.testing.assert_array_equal(final.codes, read_frames(live.checkpoint).codes)
    assert (live.checkpoint / "model.safetensors").read_bytes() == \
        (plain.checkpoint / "model.safetensors").read_bytes()
    assert [p.name for p in (tmp_path / "live").iterdir()] == ["frames.safetensors"]  # no leftovers
    assert "live_frames" not in json.loads((live.checkpoint / "config.json").read_text())["training"]
