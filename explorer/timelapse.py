"""A training time-lapse from a checkpoint's recorded frames (``frames.safetensors``: ``train.frames``).

``panel`` turns one run's frames into what is drawn: its codes as 2-D points at every frame (a 2-D
latent as it is; a 1-D latent on the horizontal axis, spread vertically by class; a larger one
through a PCA fitted on the last frame), fixed axes over the whole run, the loss curves and the
decoded manifold. ``payload`` is what the browser plays (explorer/frontend/timelapse.js);
``render`` draws the same side-by-side frames server-side for the GIF (Pillow) and MP4 (PyAV)
exports. Two runs play in sync by optimisation step: at step t each shows its last frame at or
before t. Nothing is interpolated: every picture is a recorded frame. No streamlit here.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Okabe & Ito (2008) with two of Paul Tol's muted colours: the same classes' colours as the planes.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000",
           "#882255", "#999933")
LOSS_NAMES = ("train_loss", "test_loss", "test_recon", "test_kl")
EXPORT_FPS = 8  # frames per second of the GIF and MP4 (a 40-frame run lasts 5 s)
HOLD_LAST_S = 1.5  # the final frame stays this long before the GIF loops


@dataclass(frozen=True)
class Panel:
    """One run, ready to draw: ``name``, ``title``; ``steps`` int [F] (strictly increasing) and
    ``epochs`` float [F]; ``points`` float32 [F, M, 2] and ``labels`` int [M] in 0..9; ``extent``
    (x0, x1, y0, y1), fixed for the run; ``losses`` name -> float [F] in nats per input (NaN where not
    recorded: the train loss at step 0); ``manifold`` uint8 [F, K, H, W] (K = n*n tiles) or None;
    ``axes`` how the points were made (e.g. "PCA of 16-D codes, fitted on the last frame")."""

    name: str
    title: str
    steps: np.ndarray
    epochs: np.ndarray
    points: np.ndarray
    labels: np.ndarray
    extent: tuple[float, float, float, float]
    losses: dict
    manifold: np.ndarray | None
    axes: str


def panel(name: str, title: str, frames) -> Panel:
    """The drawable form of ``frames`` (a ``train.frames.Frames``). Raises ValueError if the frames
    have no labels (a file from before they were recorded) or a latent size of 0."""
    codes = np.asarray(frames.codes, dtype=np.float32)
    n_frames, n_inputs, d = codes.shape
    if frames.label is None:
        raise ValueError(f"{name}'s frames have no class labels")
    labels = np.asarray(frames.label, dtype=np.int64)
    if d == 1:
        # A 1-D latent: z across, the classes spread down (a fixed offset per class plus a little
        # jitter by input), so that the classes can be told apart; the vertical axis is not a latent.
        rng = np.random.default_rng(0)
        spread = (labels % 10 - 4.5) * 0.1 + rng.uniform(-0.03, 0.03, n_inputs)
        points = np.stack([codes[..., 0], np.broadcast_to(spread, (n_frames, n_inputs))], axis=-1)
        axes = "1-D latent: z across; the classes spread down for legibility"
    elif d == 2:
        points, axes = codes, "2-D latent: z₁ across, z₂ up"
    elif d > 2:
        last = codes[-1]
        mean = last.mean(axis=0)
        _, _, vt = np.linalg.svd(last - mean, full_matrices=False)
        points = (codes - mean) @ vt[:2].T
        axes = f"PCA of {d}-D codes, fitted on the last frame"
    else:
        raise ValueError(f"{name}'s frames have a latent size of {d}")
    points = np.asarray(points, dtype=np.float32)
    losses = {key: np.asarray(getattr(frames, key), dtype=np.float64) for key in LOSS_NAMES
              if getattr(frames, key, None) is not None}
    epochs = frames.epoch if frames.epoch is not None else np.full(n_frames, np.nan)
    manifold = None if frames.manifold_images is None else np.asarray(frames.manifold_images, np.uint8)
    return Panel(name, title, np.asarray(frames.step, dtype=np.int64), np.asarray(epochs, dtype=np.float64),
                 points, labels, run_extent(points), losses, manifold, axes)


def run_extent(points: np.ndarray) -> tuple[float, float, float, float]:
    """Axes (x0, x1, y0, y1) that hold 99 % of every frame's points (float [F, M, 2]), 5 % margins."""
    flat = points.reshape(-1, 2)
    flat = flat[np.all(np.isfinite(flat), axis=1)]
    if not len(flat):
        return (-1.0, 1.0, -1.0, 1.0)
    low, high = np.percentile(flat, 0.5, axis=0), np.percentile(flat, 99.5, axis=0)
    span = np.maximum(high - low, 1e-3)
    low, high = low - 0.05 * span, high + 0.05 * span
    return (float(low[0]), float(high[0]), float(low[1]), float(high[1]))


def timeline(panels: list[Panel]) -> np.ndarray:
    """The union of the runs' recorded steps, int [T], increasing: the frames of the playback."""
    return np.unique(np.concatenate([p.steps for p in panels]))


def frame_at(p: Panel, step: int) -> int:
    """The index of ``p``'s last frame at or before optimisation step ``step`` (0 before the first)."""
    return max(int(np.searchsorted(p.steps, step, side="right")) - 1, 0)


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def payload(panels: list[Panel], class_names: list[str]) -> dict:
    """What the browser plays: {steps [T], classNames, panels: [{name, title, axes, steps [F],
    epochs [F] (null if unknown), extent, n (M), frames (F), points (base64 float32 [F, M, 2],
    little-endian), labels (base64 uint8 [M]), losses {name: [F] with null for NaN}, manifold
    {k, h, w, images: base64 uint8 [F, K, H, W]} or null}]}."""
    out = []
    for p in panels:
        manifold = None
        if p.manifold is not None:
            f, k, h, w = p.manifold.shape
            manifold = {"k": k, "h": h, "w": w, "images": _b64(p.manifold)}
        out.append({
            "name": p.name, "title": p.title, "axes": p.axes,
            "steps": [int(s) for s in p.steps],
            "epochs": [None if not math.isfinite(e) else round(float(e), 4) for e in p.epochs],
            "extent": list(p.extent), "n": int(p.points.shape[1]), "frames": int(p.points.shape[0]),
            "points": _b64(p.points.astype("<f4")),
            "labels": _b64(np.clip(p.labels, 0, 255).astype(np.uint8)),
            "losses": {k: [None if not math.isfinite(v) else round(float(v), 4) for v in values]
                       for k, values in p.losses.items()},
            "manifold": manifold,
        })
    return {"steps": [int(s) for s in timeline(panels)], "classNames": list(class_names), "panels": out}


# --- server-side frames: GIF and MP4 -------------------------------------------------------------

def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def render(panels: list[Panel], size: int = 300) -> list[Image.Image]:
    """The time-lapse as RGB images, one per step of ``timeline(panels)``: the runs side by side, each
    its points (``size`` px square) above its manifold tiles (if recorded), with its title and the
    step. Width and height are even (for the MP4's yuv420p)."""
    steps = timeline(panels)
    tiles = max((p.manifold.shape[1] for p in panels if p.manifold is not None), default=0)
    n_side = int(math.isqrt(tiles)) if tiles else 0
    tile_px = int(0.6 * size) // n_side if n_side else 0  # the tiles: 60 % of the points' width
    header, gap = 44, 12
    width = len(panels) * size + (len(panels) + 1) * gap
    height = header + size + (gap + tile_px * n_side if n_side else 0) + gap
    width, height = width + width % 2, height + height % 2
    title_font, text_font = _font(15), _font(12)
    colors = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in PALETTE]
    images = []
    for step in steps:
        image = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(image)
        for k, p in enumerate(panels):
            f = frame_at(p, int(step))
            left = gap + k * (size + gap)
            epoch = p.epochs[f]
            when = f"step {int(p.steps[f]):,}" + (f" · epoch {epoch:.2f}" if math.isfinite(epoch) else "")
            draw.text((left, 6), p.title, fill="black", font=title_font)
            draw.text((left, 25), when, fill=(80, 80, 80), font=text_font)
            top = header
            draw.rectangle((left, top, left + size - 1, top + size - 1), outline=(200, 200, 200))
            x0, x1, y0, y1 = p.extent
            scale = min(size / (x1 - x0), size / (y1 - y0))
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            xy = p.points[f]
            px = left + size / 2 + (xy[:, 0] - cx) * scale
            py = top + size / 2 - (xy[:, 1] - cy) * scale
            inside = (px >= left) & (px < left + size) & (py >= top) & (py < top + size)
            for i in np.flatnonzero(inside):
                draw.rectangle((px[i] - 1, py[i] - 1, px[i] + 1, py[i] + 1), fill=colors[p.labels[i] % 10])
            if p.manifold is not None and n_side:
                grid = p.manifold[f]
                k_side = int(math.isqrt(grid.shape[0]))
                mosaic = grid[:k_side * k_side].reshape(k_side, k_side, *grid.shape[1:])
                mosaic = mosaic.transpose(0, 2, 1, 3).reshape(k_side * grid.shape[1], k_side * grid.shape[2])
                side_px = tile_px * k_side
                tile = Image.fromarray(mosaic, "L").resize((side_px, side_px), Image.NEAREST)
                image.paste(tile.convert("RGB"), (left, top + size + gap))
        images.append(image)
    return images


def to_gif(images: list[Image.Image], fps: int = EXPORT_FPS) -> bytes:
    """An animated GIF of ``images`` (Pillow) at ``fps``, looping, the last frame held
    ``HOLD_LAST_S`` s. Raises ValueError if there are no images."""
    if not images:
        raise ValueError("no frames to animate")
    durations = [round(1000 / fps)] * (len(images) - 1) + [round(1000 * HOLD_LAST_S)]
    # One fixed palette (the class colours and 246 greys for the tiles and text), no dithering: the
    # same colours in every frame, and about half the bytes of a palette made per frame.
    colors = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in PALETTE]
    greys = [(round(g * 255 / 245),) * 3 for g in range(246)]
    palette = [v for rgb in colors + greys for v in rgb]
    reference = Image.new("P", (1, 1))
    reference.putpalette(palette + [255] * (768 - len(palette)))
    frames = [image.convert("RGB").quantize(palette=reference, dither=Image.Dither.NONE) for image in images]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return buffer.getvalue()


def to_mp4(images: list[Image.Image], fps: int = EXPORT_FPS) -> bytes:
    """An H.264 MP4 of ``images`` (PyAV's bundled FFmpeg, offline) at ``fps``, yuv420p (plays in
    browsers and slides), the last frame held ``HOLD_LAST_S`` s. Raises ValueError if there are no
    images; RuntimeError if this PyAV has no H.264 encoder."""
    import av  # noqa: PLC0415 - only the export needs it

    if not images:
        raise ValueError("no frames to animate")
    codec = next((c for c in ("libx264", "h264", "libopenh264") if c in av.codecs_available), None)
    if codec is None:
        raise RuntimeError("this PyAV build has no H.264 encoder")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = images[0].size
        stream.pix_fmt = "yuv420p"
        held = images + [images[-1]] * max(round(HOLD_LAST_S * fps) - 1, 0)
        for image in held:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(image.convert("RGB")),
                                                                    format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
