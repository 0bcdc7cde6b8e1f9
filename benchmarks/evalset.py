"""A generated evaluation set for uploads: digits from several sources, photographed in several ways.

Nothing is downloaded and everything is seeded, so the same call gives the same bytes. Sources of a
clean digit (grey, dark ink on white, a digit 100-170 px tall):

- ``mnist``: a shipped MNIST *test* digit (explorer/assets), enlarged: clean handwriting, used only
  next to the other sources (a benchmark must exclude the digit itself from its neighbours);
- ``font``: a typed digit in one of the installed TrueType fonts (``fc-list``; DejaVu here), at a
  random size, weight and slant;
- ``pen``: a digit drawn with a pen along hand-made stroke templates (several variants per digit),
  with jitter, slant and rotation, 4-12 px wide.

``photograph`` puts a clean digit on a sheet of paper (200-400 px) and applies one of ``CONDITIONS``
(a scan, a lamp, a shadow, a vignette, a dark desk around the page, rotation, blur, JPEG, and phone
photos that combine them); ``canvas_png`` draws a digit as the app's drawing canvas does (240 px,
black strokes of a given width on white). Every function returns what a user would upload: PNG or
JPEG bytes. ``evaluation_set`` builds the whole set the benchmark (benchmarks/bench_preprocess.py)
measures; the tests use the pieces.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from explorer.testdata import test_set_files
from train.idx import read_split

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
PHOTO_SOURCES = ("mnist", "font", "pen")
CANVAS_WIDTHS = {"canvas-thin": 8, "canvas": 20, "canvas-thick": 34}  # px on the 240 px canvas; the app: 20
CANVAS_SIZE = 240  # explorer/views/draw.py CANVAS_SIZE

# name -> what it simulates (printed by the benchmark). "clean" is the scan every other row is
# compared with.
CONDITIONS = {
    "clean": "a scan: white paper, PNG",
    "lamp": "a lamp: the paper fades to 35-55% of its brightness across the photo",
    "shadow": "a hard shadow (45-65% of the light) across part of the page, soft edge",
    "vignette": "a lens vignette: corners at 40-60% of the centre's brightness",
    "desk": "a dark desk (8-30% reflectance, grain ±20%) on 1-4 sides of a page rotated by up to 6°",
    "rotation": "the page rotated by 5-12°",
    "blur": "out of focus: Gaussian blur of 1.0-2.5 px",
    "jpeg": "JPEG at quality 20-45, with sensor noise",
    "phone": "lamp + vignette + rotation by up to 5° + blur + noise + JPEG 50-80, 1.5-2.5x larger",
    "phone-desk": "the phone photo with a dark desk around the page",
}


@dataclass(frozen=True)
class Sample:
    """One upload of the evaluation set.

    data: PNG or JPEG bytes, as uploaded; label: the digit 0..9; source: "mnist", "font", "pen" or a
    canvas width name ("canvas-thin", "canvas", "canvas-thick"); condition: a key of ``CONDITIONS``
    (canvas drawings: "clean"); mnist_index: the MNIST test index the digit was made from, or None.
    """

    data: bytes
    label: int
    source: str
    condition: str
    mnist_index: int | None = None


# --- Clean digits: float32 [H, W] in [0, 1], 0 = ink, 1 = paper, cropped to the digit -----------------


@cache
def mnist_test_digits() -> tuple[np.ndarray, np.ndarray]:
    """The shipped MNIST test set as (images uint8 [10000, 28, 28], ink bright; labels int [10000])."""
    return read_split(*test_set_files("mnist"))


def mnist_digit(index: int, height: int) -> np.ndarray:
    """MNIST test digit ``index`` enlarged (bicubic) so that its 20 px box is ``height`` px, as dark ink
    on white: float32 [height', width'] in [0, 1]."""
    images, _ = mnist_test_digits()
    ink = Image.fromarray(images[index])
    size = round(28 * height / 20)
    big = np.asarray(ink.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
    return _crop_to_ink(1.0 - np.clip(big, 0.0, 1.0))


@cache
def font_files() -> tuple[Path, ...]:
    """The installed TrueType / OpenType fonts that draw the ten digits, sorted (empty if none)."""
    found = []
    for folder in FONT_DIRS:
        if folder.is_dir():
            found += [p for p in folder.rglob("*") if p.suffix.lower() in (".ttf", ".otf")]
    usable = []
    for path in sorted(set(found)):
        try:
            font = ImageFont.truetype(str(path), 40)
        except OSError:
            continue
        boxes = {font.getbbox(str(d)) for d in range(10)}
        if len(boxes) > 1 and all(b[2] > b[0] and b[3] > b[1] for b in boxes):  # real, distinct glyphs
            usable.append(path)
    return tuple(usable)


def font_digit(label: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Digit ``label`` typed in a random installed font, about ``height`` px tall, slanted by up to
    ±8° and rotated by up to ±4°, dark on white: float32 [H, W] in [0, 1].
    Raises FileNotFoundError if no font is installed."""
    fonts = font_files()
    if not fonts:
        raise FileNotFoundError(f"no TrueType/OpenType font with digits under {[str(d) for d in FONT_DIRS]}")
    font = ImageFont.truetype(str(fonts[rng.integers(len(fonts))]), round(height * 1.4))
    left, top, right, bottom = font.getbbox(str(label))
    pad = height // 2
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 255)
    ImageDraw.Draw(image).text((pad - left, pad - top), str(label), fill=0, font=font)
    shear = np.tan(np.radians(rng.uniform(-8, 8)))
    image = image.transform(image.size, Image.Transform.AFFINE,
                            (1, shear, -shear * image.height / 2, 0, 1, 0),
                            resample=Image.Resampling.BICUBIC, fillcolor=255)
    image = image.rotate(rng.uniform(-4, 4), resample=Image.Resampling.BICUBIC, fillcolor=255)
    digit = _crop_to_ink(np.asarray(image, dtype=np.float32) / 255.0)
    scale = height / digit.shape[0]
    return _resize(digit, scale)


# Stroke templates in a unit box (x right, y down): per digit, variants; each variant a list of
# polylines whose corners are rounded by Chaikin's subdivision.
TEMPLATES: dict[int, list[list[list[tuple[float, float]]]]] = {
    0: [[[(0.5, 0.0), (0.15, 0.2), (0.1, 0.6), (0.35, 1.0), (0.7, 0.95), (0.9, 0.5), (0.8, 0.1),
          (0.45, 0.02)]],
        [[(0.6, 0.02), (0.25, 0.1), (0.12, 0.5), (0.3, 0.95), (0.65, 1.0), (0.88, 0.6), (0.85, 0.2),
          (0.55, 0.0), (0.4, 0.1)]]],
    1: [[[(0.5, 0.0), (0.5, 1.0)]],
        [[(0.25, 0.2), (0.55, 0.0), (0.55, 1.0)]],
        [[(0.3, 0.22), (0.55, 0.0), (0.55, 1.0)], [(0.3, 1.0), (0.8, 1.0)]]],
    2: [[[(0.12, 0.25), (0.3, 0.04), (0.6, 0.0), (0.82, 0.2), (0.78, 0.42), (0.5, 0.7), (0.12, 1.0),
          (0.12, 1.0), (0.92, 0.98)]],
        [[(0.15, 0.2), (0.45, 0.0), (0.8, 0.12), (0.8, 0.38), (0.1, 0.95), (0.1, 0.95), (0.5, 0.85),
          (0.92, 1.0)]]],
    3: [[[(0.12, 0.12), (0.5, 0.0), (0.82, 0.15), (0.75, 0.38), (0.42, 0.48), (0.42, 0.48), (0.82, 0.6),
          (0.85, 0.85), (0.5, 1.0), (0.1, 0.88)]],
        [[(0.15, 0.05), (0.8, 0.05), (0.4, 0.42), (0.4, 0.42), (0.8, 0.55), (0.85, 0.85), (0.5, 1.0),
          (0.12, 0.9)]]],
    4: [[[(0.62, 0.0), (0.08, 0.66), (0.08, 0.66), (0.92, 0.66)], [(0.66, 0.3), (0.66, 1.0)]],
        [[(0.2, 0.0), (0.15, 0.6), (0.15, 0.6), (0.88, 0.58)], [(0.72, 0.05), (0.72, 1.0)]]],
    5: [[[(0.85, 0.0), (0.25, 0.0)], [(0.25, 0.0), (0.2, 0.45), (0.2, 0.45), (0.55, 0.38), (0.85, 0.55),
                                      (0.85, 0.82), (0.55, 1.0), (0.12, 0.9)]],
        [[(0.8, 0.02), (0.28, 0.02), (0.28, 0.02), (0.22, 0.48), (0.22, 0.48), (0.6, 0.42), (0.82, 0.65),
          (0.7, 0.95), (0.35, 1.0), (0.1, 0.85)]]],
    6: [[[(0.75, 0.0), (0.4, 0.15), (0.18, 0.55), (0.25, 0.92), (0.52, 1.0), (0.8, 0.85), (0.78, 0.6),
          (0.5, 0.5), (0.22, 0.65)]],
        [[(0.6, 0.0), (0.3, 0.35), (0.2, 0.75), (0.45, 1.0), (0.75, 0.9), (0.75, 0.6), (0.45, 0.52),
          (0.22, 0.7)]]],
    7: [[[(0.08, 0.0), (0.08, 0.0), (0.92, 0.0), (0.92, 0.0), (0.35, 1.0)]],
        [[(0.08, 0.05), (0.08, 0.05), (0.9, 0.0), (0.9, 0.0), (0.4, 1.0)], [(0.3, 0.5), (0.8, 0.5)]]],
    8: [[[(0.5, 0.48), (0.2, 0.28), (0.25, 0.05), (0.5, 0.0), (0.75, 0.05), (0.8, 0.28), (0.5, 0.48),
          (0.15, 0.72), (0.25, 0.95), (0.5, 1.0), (0.75, 0.95), (0.85, 0.72), (0.5, 0.48)]]],
    9: [[[(0.8, 0.28), (0.55, 0.45), (0.25, 0.4), (0.2, 0.15), (0.45, 0.0), (0.75, 0.05), (0.8, 0.28),
          (0.78, 0.65), (0.62, 1.0)]],
        [[(0.8, 0.25), (0.5, 0.42), (0.22, 0.35), (0.25, 0.08), (0.55, 0.0), (0.8, 0.1), (0.8, 0.25),
          (0.8, 0.25), (0.78, 1.0)]]],
}


def stroke_paths(label: int, height: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Polylines (float [P, 2], x, y in px) of one hand-drawn ``label`` about ``height`` px tall: a
    random template variant with jittered points, a random width/height ratio, slant and rotation."""
    variants = TEMPLATES[label]
    strokes = variants[rng.integers(len(variants))]
    aspect = rng.uniform(0.55, 0.85) if label != 1 else rng.uniform(0.35, 0.6)
    slant = np.tan(np.radians(rng.uniform(-5, 20)))  # right-handed writers lean right
    angle = np.radians(rng.uniform(-6, 6))
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    paths = []
    for stroke in strokes:
        p = np.asarray(stroke, dtype=np.float64) + rng.normal(0, 0.025, (len(stroke), 2))
        p = _chaikin(p, 3)
        p[:, 0] = (p[:, 0] - 0.5) * aspect + slant * (0.5 - p[:, 1])
        p[:, 1] -= 0.5
        paths.append(p @ rotate.T * height)
    return paths


def pen_digit(label: int, height: int, width: float, rng: np.random.Generator) -> np.ndarray:
    """Digit ``label`` drawn with a round pen ``width`` px wide along ``stroke_paths``, dark on white:
    float32 [H, W] in [0, 1] (drawn 4x larger, then shrunk: anti-aliased)."""
    supersample = 4
    paths = [p * supersample for p in stroke_paths(label, height, rng)]
    return _resize(_draw(paths, width * supersample), 1 / supersample)


def canvas_png(label: int, width: int, rng: np.random.Generator) -> bytes:
    """A drawing on the app's canvas: ``CANVAS_SIZE`` px square, white, black strokes ``width`` px wide
    along ``stroke_paths`` with mouse-like wobble, the digit 50-80% of the canvas tall and not always
    centred; PNG bytes (RGB) like the canvas's."""
    height = rng.uniform(0.5, 0.8) * CANVAS_SIZE
    paths = [p + rng.normal(0, 0.6, p.shape) for p in stroke_paths(label, height, rng)]
    lo = np.min([p.min(0) for p in paths], axis=0)
    hi = np.max([p.max(0) for p in paths], axis=0)
    margin = width / 2 + 2
    free = np.maximum(CANVAS_SIZE - (hi - lo) - 2 * margin, 0)
    offset = margin - lo + free * rng.uniform(0.2, 0.8, 2)
    image = Image.new("RGB", (CANVAS_SIZE, CANVAS_SIZE), "white")
    draw = ImageDraw.Draw(image)
    for p in paths:
        _polyline(draw, p + offset, width, (0, 0, 0))
    return _encode(image, "PNG", compress_level=1)


def clean_digit(source: str, label: int, rng: np.random.Generator,
                mnist_index: int | None = None) -> np.ndarray:
    """A clean digit of ``source`` ("mnist" needs ``mnist_index``), 100-170 px tall, dark on white:
    float32 [H, W] in [0, 1]. Raises ValueError for an unknown source."""
    height = int(rng.integers(100, 171))
    if source == "mnist":
        if mnist_index is None:
            raise ValueError("an MNIST digit needs its test index")
        return mnist_digit(mnist_index, height)
    if source == "font":
        return font_digit(label, height, rng)
    if source == "pen":
        return pen_digit(label, height, rng.uniform(4, 12), rng)
    raise ValueError(f"unknown source {source!r}; expected one of {PHOTO_SOURCES}")


# --- Photographs --------------------------------------------------------------------------------------


def photograph(page: np.ndarray, condition: str, rng: np.random.Generator) -> bytes:
    """A photo (or scan) of ``page`` (float [H, W] reflectance in [0, 1], from ``write_on_paper``)
    under ``condition`` (a key of ``CONDITIONS``): PNG bytes for "clean", "rotation", "blur", "desk",
    "shadow", "lamp" and "vignette", JPEG for "jpeg" and the phone photos.
    Raises ValueError for an unknown condition.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; expected one of {list(CONDITIONS)}")
    phone = condition.startswith("phone")
    if condition in ("desk", "phone-desk"):
        page = _on_desk(page, rng, max_angle=6 if condition == "desk" else 4)
    elif condition == "rotation":
        page = _rotate(page, rng.choice([-1, 1]) * rng.uniform(5, 12), fill=float(np.median(page)))
    elif phone:
        page = _rotate(page, rng.uniform(-5, 5), fill=float(np.median(page)))
    light = np.ones_like(page)
    if condition in ("lamp", *(("phone", "phone-desk") if phone else ())):
        light *= _lamp(page.shape, rng, depth=rng.uniform(0.45, 0.65) if condition == "lamp" else
                       rng.uniform(0.25, 0.45))
    if condition in ("vignette", "phone", "phone-desk"):
        depth = rng.uniform(0.4, 0.6) if condition == "vignette" else rng.uniform(0.2, 0.35)
        light *= _vignette(page.shape, depth)
    if condition == "shadow":
        light *= _shadow(page.shape, rng)
    photo = page * light
    if condition == "blur":
        photo = ndimage.gaussian_filter(photo, rng.uniform(1.0, 2.5))
    if phone:
        scale = rng.uniform(1.5, 2.5)
        photo = ndimage.gaussian_filter(_resize(photo, scale), 0.8 * scale)
    if condition == "jpeg" or phone:
        photo = photo + rng.normal(0, 0.02 if phone else 0.03, photo.shape)
    tint = rng.uniform(0.9, 1.0, 3) if phone else np.ones(3)  # warm or cool light
    rgb = Image.fromarray(np.uint8(np.clip(photo[..., None] * tint * 255, 0, 255).round()), "RGB")
    if condition == "jpeg":
        return _encode(rgb, "JPEG", quality=int(rng.integers(20, 46)))
    if phone:
        return _encode(rgb, "JPEG", quality=int(rng.integers(50, 81)))
    return _encode(rgb, "PNG", compress_level=1)  # fast; the bytes decode the same


def write_on_paper(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``digit`` (float [H, W] in [0, 1], dark on white) written on a sheet of paper: float32 [S, S']
    reflectance in [0, 1]. The page is 200-400 px with the digit at 35-60% of its height, near (not
    at) its centre; the ink is 5-30% reflective, the paper 85-97%, with a little grain."""
    paper = rng.uniform(0.85, 0.97)
    ink = rng.uniform(0.05, 0.3)
    side = int(rng.integers(200, 401))
    digit = _resize(digit, side * rng.uniform(0.35, 0.6) / digit.shape[0])
    h, w = digit.shape
    if w > 0.8 * side:  # a wide glyph still fits the page
        digit = _resize(digit, 0.8 * side / w)
        h, w = digit.shape
    page = np.full((side, int(side * rng.uniform(0.8, 1.25))), paper, dtype=np.float32)
    free_y, free_x = page.shape[0] - h, page.shape[1] - w
    top = int(free_y * rng.uniform(0.3, 0.7))
    left = int(free_x * rng.uniform(0.3, 0.7))
    window = page[top : top + h, left : left + w]
    window[:] = ink + (paper - ink) * digit  # digit: 0 = ink, 1 = paper
    page += rng.normal(0, 0.01, page.shape).astype(np.float32)  # paper grain
    return page


def _on_desk(page: np.ndarray, rng: np.random.Generator, max_angle: float) -> np.ndarray:
    """The page lying on a dark, textured desk that shows on 1-4 sides of the photo, the page rotated."""
    desk = rng.uniform(0.08, 0.3)
    h, w = page.shape
    sides = rng.permutation(4)[: rng.integers(1, 5)]  # which of top, bottom, left, right show the desk
    margins = [int(rng.uniform(0.05, 0.25) * (h if i < 2 else w)) if i in sides else 0 for i in range(4)]
    top, bottom, left, right = margins
    # Where the desk does not show, the photo is cropped inside the page.
    crop = [0 if i in sides else int(rng.uniform(0.02, 0.08) * (h if i < 2 else w)) for i in range(4)]
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (h + top + bottom, w + left + right)), (2, 12))
    scene = (desk * (1 + 0.2 * texture / max(float(texture.std()), 1e-6))).astype(np.float32)  # wood grain
    angle = rng.uniform(-max_angle, max_angle)
    rotated = _rotate(np.pad(page, 1, constant_values=-1.0), angle, fill=-1.0)  # -1 marks off-page
    ph, pw = rotated.shape
    y0 = top + (h - ph) // 2
    x0 = left + (w - pw) // 2
    shadow = np.zeros_like(scene)  # the page casts a soft shadow on the desk
    ys, xs = slice(max(y0, 0), y0 + ph), slice(max(x0, 0), x0 + pw)
    region = rotated[max(-y0, 0) : max(-y0, 0) + scene[ys, xs].shape[0],
                     max(-x0, 0) : max(-x0, 0) + scene[ys, xs].shape[1]]
    on_page = region > -0.5
    shadow[ys, xs] = on_page
    scene *= 1 - 0.5 * ndimage.gaussian_filter(shadow, 4)
    scene[ys, xs] = np.where(on_page, region, scene[ys, xs])
    ct, cb, cl, cr = crop
    return scene[ct : scene.shape[0] - cb, cl : scene.shape[1] - cr]


def _lamp(shape: tuple[int, int], rng: np.random.Generator, depth: float) -> np.ndarray:
    """Light falling off linearly across the photo in a random direction, from 1 to 1 - depth."""
    h, w = shape
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:h, 0:w]
    t = (xs - w / 2) * np.cos(angle) + (ys - h / 2) * np.sin(angle)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return (1 - depth * t).astype(np.float32)


def _vignette(shape: tuple[int, int], depth: float) -> np.ndarray:
    """Light falling off with the squared distance from the centre: 1 - depth in the corners."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w]
    r2 = ((ys - (h - 1) / 2) / (h / 2)) ** 2 + ((xs - (w - 1) / 2) / (w / 2)) ** 2
    return (1 - depth * r2 / 2).astype(np.float32)


def _shadow(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A straight-edged shadow (45-65% light) over one side of a random line, edge blurred 2-8 px."""
    h, w = shape
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:h, 0:w]
    offset = rng.uniform(-0.25, 0.25) * min(h, w)
    inside = ((xs - w / 2) * np.cos(angle) + (ys - h / 2) * np.sin(angle)) > offset
    soft = ndimage.gaussian_filter(inside.astype(np.float32), rng.uniform(2, 8))
    return 1 - (1 - rng.uniform(0.45, 0.65)) * soft


# --- Helpers ------------------------------------------------------------------------------------------


def _chaikin(points: np.ndarray, iterations: int) -> np.ndarray:
    """Chaikin's corner cutting (1974), endpoints kept: a smooth curve near the control polygon.
    A repeated point stays a sharp corner."""
    for _ in range(iterations):
        if len(points) < 3:
            return points
        a, b = points[:-1], points[1:]
        cut = np.empty((2 * len(a), 2))
        cut[0::2] = 0.75 * a + 0.25 * b
        cut[1::2] = 0.25 * a + 0.75 * b
        points = np.vstack([points[:1], cut, points[-1:]])
    return points


def _polyline(draw: ImageDraw.ImageDraw, path: np.ndarray, width: float, fill) -> None:
    """A polyline drawn with a round brush (a disc at every point: Pillow's wide joints leave pinholes)."""
    xy = [tuple(p) for p in path]
    draw.line(xy, fill=fill, width=max(1, round(width)))
    r = width / 2
    for x, y in xy:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _draw(paths: list[np.ndarray], width: float) -> np.ndarray:
    """Paths drawn dark on white on a canvas that just holds them: float32 [H, W] in [0, 1]."""
    lo = np.min([p.min(0) for p in paths], axis=0) - width
    hi = np.max([p.max(0) for p in paths], axis=0) + width
    image = Image.new("L", tuple(int(v) + 1 for v in np.ceil(hi - lo)), 255)
    draw = ImageDraw.Draw(image)
    for p in paths:
        _polyline(draw, p - lo, width, 0)
    return _crop_to_ink(np.asarray(image, dtype=np.float32) / 255.0)


def _crop_to_ink(gray: np.ndarray, level: float = 0.9) -> np.ndarray:
    """The smallest window of ``gray`` (dark on white) holding every pixel darker than ``level``."""
    rows = np.flatnonzero((gray < level).any(axis=1))
    cols = np.flatnonzero((gray < level).any(axis=0))
    return gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _resize(gray: np.ndarray, scale: float) -> np.ndarray:
    """``gray`` float [H, W] scaled by ``scale`` (area average when shrinking, bicubic when growing)."""
    h, w = gray.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = Image.fromarray(np.asarray(gray, dtype=np.float32), "F")
    kind = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC
    return np.asarray(image.resize(size, kind), dtype=np.float32)


def _rotate(gray: np.ndarray, degrees: float, fill: float) -> np.ndarray:
    """``gray`` rotated about its centre, the canvas grown to hold it, new corners ``fill``."""
    image = Image.fromarray(np.asarray(gray, dtype=np.float32), "F")
    return np.asarray(image.rotate(degrees, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=fill),
                      dtype=np.float32)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


# --- The whole set ---------------------------------------------------------------------------------


def mnist_indices(per_class: int, seed: int) -> np.ndarray:
    """``per_class`` MNIST test indices of each digit, drawn at random with ``seed``: int [10 * per_class],
    sorted by class."""
    _, labels = mnist_test_digits()
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(10)])


def evaluation_set(per_class: int = 10, seed: int = 0, conditions: tuple[str, ...] = tuple(CONDITIONS),
                   sources: tuple[str, ...] = (*PHOTO_SOURCES, *CANVAS_WIDTHS)) -> Iterator[Sample]:
    """Every sample of the evaluation set: for each source, ``per_class`` digits of each class; a
    photo source's digits under each of ``conditions`` (the same page each time), a canvas source's
    once (condition "clean"). Deterministic: each sample depends only on (seed, source, digit,
    condition), not on what else is generated. Raises ValueError for an unknown source or condition.
    """
    unknown = [c for c in conditions if c not in CONDITIONS]
    unknown += [s for s in sources if s not in PHOTO_SOURCES and s not in CANVAS_WIDTHS]
    if unknown:
        raise ValueError(f"unknown sources or conditions {unknown}; expected {PHOTO_SOURCES}, "
                         f"{list(CANVAS_WIDTHS)} and {list(CONDITIONS)}")
    _, mnist_labels = mnist_test_digits()
    picked = mnist_indices(per_class, seed)
    for s, source in enumerate((*PHOTO_SOURCES, *CANVAS_WIDTHS)):
        if source not in sources:
            continue
        for k in range(10 * per_class):
            index = int(picked[k]) if source == "mnist" else None
            label = int(mnist_labels[index]) if index is not None else k // per_class
            if source in CANVAS_WIDTHS:
                rng = np.random.default_rng([seed, s, k])
                yield Sample(canvas_png(label, CANVAS_WIDTHS[source], rng), label, source, "clean")
                continue
            rng = np.random.default_rng([seed, s, k])
            page = write_on_paper(clean_digit(source, label, rng, index), rng)
            for c, condition in enumerate(CONDITIONS):
                if condition in conditions:
                    data = photograph(page, condition, np.random.default_rng([seed, s, k, c]))
                    yield Sample(data, label, source, condition, index)
