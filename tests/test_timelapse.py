"""The training time-lapse (explorer/timelapse.py): panels from frames, sync by step, the browser's
payload, and the GIF and MP4 exports."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from explorer import timelapse
from train.frames import Frames


def frames(d: int, steps=(0, 1, 3, 9, 27), m: int = 60, manifold: bool = True, seed: int = 0) -> Frames:
    rng = np.random.default_rng(seed)
    f = len(steps)
    codes = (rng.normal(size=(f, m, d)) * np.linspace(0.1, 2.0, f)[:, None, None]).astype(np.float32)
    losses = np.linspace(300, 140, f).astype(np.float32)
    train = losses.copy()
    train[0] = np.nan  # no step taken yet
    tiles = manifold and d == 2
    return Frames(
        step=np.asarray(steps, np.int64), codes=codes, index=np.arange(m, dtype=np.int64),
        epoch=np.asarray(steps, np.float32) / 10, label=np.arange(m, dtype=np.int64) % 10,
        train_loss=train, test_loss=losses,
        manifold_z=rng.normal(size=(f, 36, 2)).astype(np.float32) if tiles else None,
        manifold_images=rng.integers(0, 256, (f, 36, 28, 28), dtype=np.uint8) if tiles else None)


def test_a_2d_run_is_drawn_as_recorded_with_fixed_axes():
    p = timelapse.panel("vae", "VAE: vae", frames(2))
    np.testing.assert_array_equal(p.points, frames(2).codes)
    x0, x1, y0, y1 = p.extent
    inside = ((p.points[..., 0] >= x0) & (p.points[..., 0] <= x1) & (p.points[..., 1] >= y0)
              & (p.points[..., 1] <= y1))
    assert inside.mean() > 0.98  # one extent holds (nearly) every frame's points
    assert np.isnan(p.losses["train_loss"][0]) and p.losses["test_loss"][-1] == pytest.approx(140)


def test_a_larger_latent_goes_through_a_pca_of_the_last_frame_and_a_1d_one_spreads_by_class():
    f = frames(5)
    p = timelapse.panel("vae16", "VAE: vae16", f)
    last = f.codes[-1] - f.codes[-1].mean(axis=0)
    top_two = np.linalg.svd(last, compute_uv=False)[:2] ** 2 / len(last)
    # The last frame's projection keeps the two largest variances of its codes: a PCA fitted on it.
    np.testing.assert_allclose(np.sort(p.points[-1].var(axis=0))[::-1], top_two, rtol=1e-4)
    assert "PCA of 5-D codes" in p.axes and p.manifold is None
    one = timelapse.panel("ae1", "AE: ae1", frames(1))
    np.testing.assert_array_equal(one.points[..., 0], frames(1).codes[..., 0])  # z across, as recorded
    spread = one.points[0, :, 1]
    assert spread[one.labels == 9].min() > spread[one.labels == 0].max()  # the classes apart


def test_two_runs_play_in_sync_by_step():
    a = timelapse.panel("a", "A", frames(2, steps=(0, 2, 8)))
    b = timelapse.panel("b", "B", frames(2, steps=(0, 1, 4, 16)))
    assert timelapse.timeline([a, b]).tolist() == [0, 1, 2, 4, 8, 16]
    assert [timelapse.frame_at(a, s) for s in (0, 1, 2, 4, 8, 16)] == [0, 0, 1, 1, 2, 2]
    assert [timelapse.frame_at(b, s) for s in (0, 1, 2, 4, 8, 16)] == [0, 1, 1, 2, 2, 3]


def test_the_payload_carries_every_frame_exactly():
    p = timelapse.panel("vae", "VAE: vae", frames(2))
    data = timelapse.payload([p], [str(c) for c in range(10)])
    (sent,) = data["panels"]
    points = np.frombuffer(base64.b64decode(sent["points"]), "<f4").reshape(sent["frames"], sent["n"], 2)
    np.testing.assert_array_equal(points, p.points)
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(sent["labels"]), np.uint8), p.labels)
    images = np.frombuffer(base64.b64decode(sent["manifold"]["images"]), np.uint8)
    np.testing.assert_array_equal(images.reshape(p.manifold.shape), p.manifold)
    assert sent["losses"]["train_loss"][0] is None and data["steps"] == [0, 1, 3, 9, 27]


def test_the_exports_hold_one_picture_per_step_side_by_side():
    a = timelapse.panel("a", "VAE: a", frames(2, steps=(0, 2, 8)))
    b = timelapse.panel("b", "AE: b", frames(2, steps=(0, 1, 4), seed=1))
    images = timelapse.render([a, b], size=120)
    assert len(images) == 5 and all(im.size == images[0].size for im in images)
    assert images[0].size[0] % 2 == 0 and images[0].size[1] % 2 == 0 and images[0].size[0] > 2 * 120
    assert images[1].tobytes() != images[2].tobytes()  # a new frame of one run changes the picture
    gif = Image.open(io.BytesIO(timelapse.to_gif(images)))
    assert gif.n_frames == 5 and gif.info["loop"] == 0
    gif.seek(4)
    assert gif.info["duration"] == round(1000 * timelapse.HOLD_LAST_S)  # the end stays on screen
    import av

    mp4 = timelapse.to_mp4(images)
    assert mp4[4:8] == b"ftyp"
    with av.open(io.BytesIO(mp4)) as container:
        decoded = list(container.decode(video=0))
    expected = len(images) - 1 + round(timelapse.HOLD_LAST_S * timelapse.EXPORT_FPS)
    assert len(decoded) == expected and (decoded[0].width, decoded[0].height) == images[0].size
    with pytest.raises(ValueError, match="no frames"):
        timelapse.to_gif([])
