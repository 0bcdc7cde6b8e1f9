"""Images for the page and for downloads: crisp enlargements, strips and grids of 28x28 images, and
PNG / GIF encoding (Pillow). No torch, no streamlit.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 [H, W] grey image as PNG file bytes (Pillow)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def gif_bytes(frames: list[np.ndarray], frame_ms: int = 120, bounce: bool = True) -> bytes:
    """uint8 [H, W] grey frames as a looping animated GIF (Pillow). bounce: play forward then back."""
    if not frames:
        raise ValueError("an animation needs at least one frame")
    sequence = list(frames) + (list(frames[-2:0:-1]) if bounce else [])
    images = [Image.fromarray(np.asarray(f, np.uint8), mode="L") for f in sequence]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()


def enlarge(image: np.ndarray, scale: int = 8) -> np.ndarray:
    """A [H, W] image in [0, 1] as uint8 [H*scale, W*scale], each pixel a crisp square block."""
    block = np.ones((scale, scale), dtype=np.float32)
    return np.uint8(np.round(np.clip(np.kron(image, block), 0.0, 1.0) * 255))


def strip(images: np.ndarray, scale: int = 3, gap: int = 1) -> np.ndarray:
    """Images float [M, H, W] in [0, 1] side by side (``gap`` grey pixels between) as uint8."""
    m, h, _ = images.shape
    spacer = np.full((h, gap), 0.35, dtype=np.float32)
    parts = []
    for i, image in enumerate(images):
        if i:
            parts.append(spacer)
        parts.append(image)
    return enlarge(np.concatenate(parts, axis=1), scale)


def image_grid(images: np.ndarray, columns: int, scale: int = 2, gap: int = 1) -> np.ndarray:
    """Images float [M, H, W] in [0, 1] in rows of ``columns`` (the last row padded grey) as uint8.

    returns: uint8 [rows * (H * scale) + gaps, columns * (W * scale) + gaps].
    """
    m, h, w = images.shape
    rows = -(-m // columns)
    padded = np.concatenate([images, np.full((rows * columns - m, h, w), 0.35, np.float32)])
    lines = [strip(padded[r * columns : (r + 1) * columns], scale, gap) for r in range(rows)]
    spacer = np.full((gap * scale, lines[0].shape[1]), round(0.35 * 255), np.uint8)
    parts = []
    for i, line in enumerate(lines):
        if i:
            parts.append(spacer)
        parts.append(line)
    return np.concatenate(parts, axis=0)
