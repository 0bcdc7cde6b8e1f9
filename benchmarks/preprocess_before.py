"""The upload preprocessing before issue 13: the code of explorer/preprocess.py at commit 33d827c,
verbatim, kept so that benchmarks/bench_preprocess.py shows before and after side by side in one
run. Not used by the app.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # matches server.maxUploadSize in .streamlit/config.toml
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
WORKING_SIZE = 512  # larger images are downscaled to this longest side first
MIN_CONTRAST = 0.15  # ink must differ from the paper by at least this much (intensity in [0, 1])
ACCEPTED_FORMATS = ("PNG", "JPEG")  # what the uploader names; Pillow opens nothing else (no Ghostscript)


class UploadError(ValueError):
    """The upload cannot be turned into a digit; the message says why, for the user."""


@dataclass
class Preprocessed:
    """The result of ``to_mnist``.

    image: float32 [28, 28] in [0, 1], ink bright on black, centred by centre of mass
    original: the decoded upload as an RGB PIL image (EXIF rotation applied), for display
    inverted: True if the upload had dark ink on light paper and was inverted
    """

    image: np.ndarray
    original: Image.Image
    inverted: bool


def to_mnist(data: bytes) -> Preprocessed:
    """Preprocess the bytes of a PNG or JPEG holding one handwritten digit.

    data: the file's bytes (dark ink on light paper or light on dark, any size, photo or scan).
    returns: Preprocessed with image float32 [28, 28] in [0, 1].
    Raises UploadError, with a message for the user, if the file is empty, over the size or pixel
    limit, not a PNG or JPEG, damaged, or blank; never anything else, whatever the image's size.
    """
    original = open_image(data)
    gray = to_grayscale(original)
    ink, inverted = ink_map(gray)
    return Preprocessed(image=fit_and_center(ink), original=original, inverted=inverted)


def open_image(data: bytes) -> Image.Image:
    """Decode the bytes of a PNG or JPEG to an upright RGB PIL image.

    Only ``ACCEPTED_FORMATS`` are opened (Pillow is told so), and the pixel count is checked from
    the header, before anything is decoded.
    Raises UploadError, saying why, if the file is empty, over ``MAX_UPLOAD_BYTES`` or
    ``MAX_PIXELS``, of another format, or damaged.
    """
    if not data:
        raise UploadError("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"The file is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 2**20:.0f} MB."
        )
    accepted = " or ".join(ACCEPTED_FORMATS)
    try:
        image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except Image.DecompressionBombError as e:  # Pillow's own, far larger limit
        raise UploadError(f"The image is far over the limit of {MAX_PIXELS / 1e6:.0f} megapixels.") from e
    except UnidentifiedImageError as e:
        raise UploadError(_not_accepted(data)) from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise UploadError(f"This file could not be read as a {accepted} image ({e}).") from e
    if image.width * image.height > MAX_PIXELS:
        raise UploadError(
            f"The image is {image.width}x{image.height} pixels; the limit is "
            f"{MAX_PIXELS / 1e6:.0f} megapixels."
        )
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise UploadError(f"This {image.format} image is damaged and could not be read ({e}).") from e
    if image.width < 1 or image.height < 1:
        raise UploadError("The image has no pixels.")
    if image.mode.startswith("I"):  # 16-bit greyscale PNG: keep the top 8 bits (convert() would clip)
        image = Image.fromarray(np.clip(np.asarray(image, dtype=np.int64) >> 8, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas count as white paper.
        image = image.convert("RGBA")
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image)
    return image.convert("RGB")


# Leading bytes of formats people upload by mistake, to name them in the message.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
    (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"), (b"%!PS", "EPS / PostScript"), (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"%PDF", "PDF"), (b"\0\0\1\0", "ICO"), (b"qoif", "QOI"), (b"DDS ", "DDS"),
    (b"\0\0\0\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
)


def _not_accepted(data: bytes) -> str:
    """Why Pillow, limited to ``ACCEPTED_FORMATS``, could not identify ``data``, for the user."""
    kind = next((name for magic, name in _SIGNATURES if data.startswith(magic)), None)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "WebP"
    elif data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"avif"):
        kind = "HEIC / AVIF"
    if kind in ACCEPTED_FORMATS:
        return f"This {kind} file is damaged: its header could not be read. Save it again and retry."
    found = f"This is a {kind} file" if kind else f"This file is not a {' or '.join(ACCEPTED_FORMATS)} image"
    return (f"{found}; only {' and '.join(ACCEPTED_FORMATS)} images are accepted. "
            f"Save or export it as {' or '.join(ACCEPTED_FORMATS)}.")


def fitted_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled so that the longer side is ``max_side``, keeping the aspect ratio.

    Each side is at least 1 pixel, however extreme the aspect (10000x50 in 112 -> (112, 1)), so the
    result can always be passed to ``Image.resize``.
    Raises ValueError if a size is below 1.
    """
    if width < 1 or height < 1 or max_side < 1:
        raise ValueError(f"sizes must be at least 1 pixel, got {width}x{height} and max_side={max_side}")
    scale = max_side / max(width, height)
    return max(1, min(max_side, round(width * scale))), max(1, min(max_side, round(height * scale)))


def preview(original: Image.Image, max_side: int) -> Image.Image:
    """The upload scaled to fit a ``max_side`` square, for display next to its MNIST version.

    original: any PIL image, e.g. ``Preprocessed.original``; max_side: the display size in pixels.
    returns: a new image of the same mode, aspect kept, longer side ``max_side``, each side at least
    1 pixel; shrunk with a box filter, enlarged with crisp (nearest) pixels. Displaying it never
    needs another resize.
    Raises ValueError if max_side < 1.
    """
    size = fitted_size(original.width, original.height, max_side)
    shrink = max(original.size) > max_side
    return original.resize(size, Image.Resampling.BOX if shrink else Image.Resampling.NEAREST)


def to_grayscale(image: Image.Image) -> np.ndarray:
    """RGB PIL image -> float32 [H, W] luminance in [0, 1], downscaled to at most WORKING_SIZE.

    Each side keeps at least 1 pixel (a 2000x1 image becomes 512x1).
    """
    gray = image.convert("L")
    if max(gray.size) > WORKING_SIZE:
        gray = gray.resize(fitted_size(gray.width, gray.height, WORKING_SIZE), Image.Resampling.BOX)
    return np.asarray(gray, dtype=np.float32) / 255.0


def ink_map(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Estimate ink from a grayscale image, making it bright on black.

    gray: float32 [H, W] in [0, 1].
    returns: (ink float32 [H, W] in [0, 1], 0 = paper, 1 = strongest ink; inverted flag).
    The paper colour is the median of the image border; if it is light, the image is inverted.
    Pixels darker than Otsu's threshold (paper, shadows, sensor noise) are set to 0.
    Raises UploadError if the image has no ink (blank, or too little contrast).
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = float(np.median(border))
    inverted = paper > 0.5
    ink = 1.0 - gray if inverted else gray.copy()
    paper_level = 1.0 - paper if inverted else paper
    top = float(np.percentile(ink, 99.9))
    if top - paper_level < MIN_CONTRAST:
        raise UploadError(
            "No handwriting found: the image looks blank or has too little contrast. "
            "Use dark ink on light paper (or light on dark) and fill the frame with the digit."
        )
    ink = np.clip((ink - paper_level) / (top - paper_level), 0.0, 1.0)
    ink[ink < otsu_threshold(ink)] = 0.0
    if not ink.any():
        raise UploadError("No handwriting found after removing the background.")
    return ink.astype(np.float32), inverted


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (Otsu 1979) of values in [0, 1]: maximises the between-class variance."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    mu0 = np.cumsum(p * centers)
    mu_total = mu0[-1]
    w1 = 1.0 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu_total * w0 - mu0) ** 2 / (w0 * w1)
    between = np.nan_to_num(between[:-1])
    return float(edges[int(np.argmax(between)) + 1])


def fit_and_center(ink: np.ndarray, box: int = 20, size: int = 28) -> np.ndarray:
    """Crop to the ink, fit in a ``box`` square keeping aspect, centre of mass to the field centre.

    ink: float32 [H, W] in [0, 1] with some nonzero pixel.
    returns: float32 [size, size] in [0, 1] whose maximum is 1.
    """
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    patch = Image.fromarray(np.uint8(np.round(crop * 255)), mode="L")
    # Thin strokes on a large image would fade when shrunk: thicken them to about 2 output pixels.
    stroke_px = int(round(1.5 / scale))
    if stroke_px >= 3 and (crop > 0).mean() < 0.15:
        patch = patch.filter(ImageFilter.MaxFilter(stroke_px | 1))
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    patch = patch.resize((new_w, new_h), Image.Resampling.LANCZOS)
    small = np.asarray(patch, dtype=np.float32) / 255.0
    small = np.clip(small / max(float(small.max()), 1e-6), 0.0, 1.0)

    # Centre of mass of the patch, then the integer shift that puts it at the field's centre.
    cy, cx = center_of_mass(small)
    center = (size - 1) / 2
    top = int(np.clip(round(center - cy), 0, size - new_h))
    left = int(np.clip(round(center - cx), 0, size - new_w))
    field = np.zeros((size, size), dtype=np.float32)
    field[top : top + new_h, left : left + new_w] = small
    return field


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, col) centre of mass of a non-negative image [H, W]."""
    ys, xs = np.indices(image.shape)
    mass = image.sum()
    return float((ys * image).sum() / mass), float((xs * image).sum() / mass)
