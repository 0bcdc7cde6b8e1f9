"""Turn a user's photo or scan of a handwritten digit into an MNIST-style input.

The last steps follow how MNIST itself was made (LeCun, Cortes & Burges): a bilevel image of the
digit fitted into a 20x20 box keeping its aspect ratio (the grey levels come from the anti-aliasing
of that resize), then placed in a 28x28 field so that its centre of mass sits at the centre. Before
that, a photo is cleaned:

1. ``to_grayscale``: luminance, the longer side brought to 160-512 px.
2. ``ink_map``: the paper's brightness is estimated by a morphological closing (an opening, for
   light ink on dark paper) in windows a quarter of the picture wide, and the picture is divided by
   it, so a lamp's gradient, a vignette or a shadow no longer looks like ink; where that paper is
   far darker than the brightest, there is a desk. The ink is dark unless the picture is mostly dark
   and its bright part is strokes, not a page.
3. ``digit_mask``: the ink is thresholded (Otsu, with hysteresis), split into connected components,
   and page edges, desk edges and shadows (components touching the border or the desk), specks, a
   box drawn around the digit and other digits are dropped; the pieces of the digit are kept
   together. A second digit is noted (``Preprocessed.notes``).
4. ``fit_and_center``: the stroke width is brought into MNIST's range (``MNIST_STROKE_WIDTH``), then
   the 20x20 fit and the centre-of-mass placement.

Image operations are scipy.ndimage's. This module does not import streamlit.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # matches server.maxUploadSize in .streamlit/config.toml
MAX_PIXELS = 40_000_000  # refuse decompression bombs before decoding
WORKING_SIZE = 512  # larger images are downscaled to this longest side first
MIN_WORKING_SIZE = 160  # smaller ones are enlarged to it, so that strokes are several pixels wide
MIN_CONTRAST = 0.15  # ink must differ from the paper by at least this much (relative intensity)
BACKGROUND_WINDOW = 0.25  # the paper is estimated in windows of this fraction of the shorter side
MIN_LOCAL_SIDE = 16  # below this shorter side (working px) the paper is one level, and borders say nothing
WIDE_REGION = 0.2  # light regions wider than this fraction of the shorter side are paper, not strokes
STRONG_INK = 0.6  # each piece of ink reaches this contrast (or 0.6 of the picture's top) somewhere
DESK = 0.45  # where the paper is estimated under this fraction of the brightest, it is a desk: no ink
DARKEST_PAPER = 0.5  # contrast is relative to the paper's light, down to this fraction of the brightest
SPECK = 0.05  # a component under this fraction of the largest candidate's area is a speck
SPECK_OF_EDGE = 0.01  # ... or under this fraction of the largest page edge's area
FRAME_HUG = 0.5  # a component touching the border along this fraction of its extent there is a page edge
ANOTHER_DIGIT = 0.25  # a separate component at least this fraction of the digit's area is another digit
MIN_DIGIT = 0.0005  # a digit covers at least this fraction of the (working) picture
SHARP_EDGE = 0.03  # ink's edge, per pixel of the working picture; a lamp's fade is far slower
NOISE_INK = 0.4  # ink over this fraction of the page, in over NOISE_PIECES pieces, is noise or a texture
NOISE_PIECES = 20
# Stroke width (``stroke_width``, pixels of the 28x28 image) of the MNIST test digits, 25th and 90th
# percentiles (tests/test_preprocess.py::test_mnist_stroke_width_range_is_measured): thinner strokes
# are thickened to the first, thicker ones thinned to the second. (Thinning to the 75th, 3.01,
# measured worse on thick canvas drawings in benchmarks/bench_preprocess.py.)
MNIST_STROKE_WIDTH = (2.31, 3.51)
ACCEPTED_FORMATS = ("PNG", "JPEG")  # what the uploader names; Pillow opens nothing else (no Ghostscript)

NO_INK = ("No handwriting found: the image looks blank or has too little contrast. "
          "Use dark ink on light paper (or light on dark) and fill the frame with the digit.")


class UploadError(ValueError):
    """The upload cannot be turned into a digit; the message says why, for the user."""


@dataclass
class Preprocessed:
    """The result of ``to_mnist``.

    image: float32 [28, 28] in [0, 1], ink bright on black, centred by centre of mass
    original: the decoded upload as an RGB PIL image (EXIF rotation applied), for display
    inverted: True if the upload had dark ink on light paper and was inverted
    notes: sentences for the user about choices made, e.g. that the photo holds several digits and
        the largest was used; empty when there is nothing to say
    """

    image: np.ndarray
    original: Image.Image
    inverted: bool
    notes: tuple[str, ...] = ()


def to_mnist(data: bytes) -> Preprocessed:
    """Preprocess the bytes of a PNG or JPEG holding one handwritten digit.

    data: the file's bytes (dark ink on light paper or light on dark, any size, photo or scan; uneven
    light, shadows, a desk around the page and specks are removed).
    returns: Preprocessed with image float32 [28, 28] in [0, 1], and notes (e.g. several digits found).
    Raises UploadError, with a message for the user, if the file is empty, over the size or pixel
    limit, not a PNG or JPEG, damaged, blank or noise; never anything else, whatever the image's size.
    """
    original = open_image(data)
    gray = to_grayscale(original)
    ink = ink_map(gray)
    digit, notes = digit_mask(ink)
    return Preprocessed(image=fit_and_center(digit), original=original, inverted=ink.inverted, notes=notes)


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
    """RGB PIL image -> float32 [H, W] luminance in [0, 1], its longer side brought into
    [MIN_WORKING_SIZE, WORKING_SIZE] (shrunk by area averaging, enlarged bilinearly).

    Each side keeps at least 1 pixel (a 2000x1 image becomes 512x1).
    """
    gray = image.convert("L")
    longest = max(gray.size)
    if longest > WORKING_SIZE:
        gray = gray.resize(fitted_size(gray.width, gray.height, WORKING_SIZE), Image.Resampling.BOX)
    elif longest < MIN_WORKING_SIZE:
        gray = gray.resize(fitted_size(gray.width, gray.height, MIN_WORKING_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.float32) / 255.0


@dataclass
class InkMap:
    """What ``ink_map`` found.

    contrast: float32 [H, W] in [0, 1], how far each pixel stands out from the paper around it in
        the ink's direction: 0 = paper, 1 = black ink on white paper (or white ink on black)
    inverted: True if the ink is darker than the paper (the picture was inverted)
    off_page: bool [H, W], True where there is no paper (a desk); ink touching it is an edge's
    local: True if the paper was estimated locally, False if as one level for the whole picture
        (then borders and desks say nothing)
    """

    contrast: np.ndarray
    inverted: bool
    off_page: np.ndarray
    local: bool


def ink_map(gray: np.ndarray) -> InkMap:
    """Separate the ink from the paper, the light and the desk.

    gray: float32 [H, W] in [0, 1]. returns: an ``InkMap``.

    The paper's brightness under dark ink is a grey closing of the image (Soille, Morphological
    Image Analysis, ch. 4) in square windows ``BACKGROUND_WINDOW`` of the shorter side, wider than
    any stroke, so ink is removed and the light is kept. Dark ink's contrast is ``(paper - gray) /
    paper``: illumination multiplies, so a lamp or a shadow cancels (a paper darker than
    ``DARKEST_PAPER`` of the brightest divides as if it were that, so a desk's grain is not
    magnified); where the paper is darker than ``DESK`` of the brightest there is a desk, and no
    ink. Light ink on dark paper uses the opening, as ``(gray - paper) / (1 - paper)``.
    ``_polarity`` decides which. Pictures whose shorter side is under ``MIN_LOCAL_SIDE``, or with
    ink blobs wider than the windows and nothing else, use one paper level for the whole picture
    (its 90th or 10th percentile).
    Raises UploadError if there is no contrast at all (a blank page), or, with one paper level, if
    the ink's border is no edge in the picture (a lamp fading across a blank page).
    """
    h, w = gray.shape
    if min(h, w) >= MIN_LOCAL_SIDE:
        window = max(3, round(BACKGROUND_WINDOW * min(h, w)))
        smooth = ndimage.uniform_filter(gray, 3, mode="nearest")  # noise would bias the max and min
        # What lies at the border goes on beyond it (a desk does): pad by a window so that a band of
        # desk narrower than a window is kept, not closed over like a stroke.
        smooth = np.pad(smooth, window, mode="edge")
        inside = (slice(window, window + h), slice(window, window + w))
        light_paper = ndimage.grey_closing(smooth, size=(window, window))[inside]
        dark_paper = ndimage.grey_opening(smooth, size=(window, window))[inside]
        found = _polarity(gray, light_paper, dark_paper, local=True)
        if np.percentile(found.contrast, 99.9) >= MIN_CONTRAST:
            return found
    light_paper = np.full_like(gray, np.percentile(gray, 90))
    dark_paper = np.full_like(gray, np.percentile(gray, 10))
    found = _polarity(gray, light_paper, dark_paper, local=False)
    if np.percentile(found.contrast, 99.9) < MIN_CONTRAST:
        raise UploadError(NO_INK)
    if min(h, w) >= MIN_LOCAL_SIDE and not _sharp_edged(gray, found.contrast > MIN_CONTRAST):
        raise UploadError(NO_INK)  # only light fading across blank paper
    return found


def _sharp_edged(gray: np.ndarray, ink: np.ndarray) -> bool:
    """Whether the border of ``ink`` (bool [H, W]) is an edge in ``gray``: the gradient there is
    ``SHARP_EDGE`` per pixel on average (a blob of ink), not a slow fade (a lamp's light)."""
    border = ink & ~ndimage.binary_erosion(ink, border_value=1)
    if not border.any():
        return False
    gy, gx = np.gradient(ndimage.uniform_filter(gray, 3, mode="nearest"))
    return bool(np.hypot(gy, gx)[border].mean() >= SHARP_EDGE)


def _polarity(gray: np.ndarray, light_paper: np.ndarray, dark_paper: np.ndarray, local: bool) -> InkMap:
    """The ink map given the paper's brightness under either polarity.

    The ink is dark (inverted) if the picture is mostly light (median over 0.5), or if most of its
    bright part lies in regions wider than ``WIDE_REGION`` of the shorter side: a page, however
    much dark desk is around it, and not strokes (light ink on a dark board or screen). Comparing
    the two contrasts fails both ways: thin strokes enclose more paper than they cover, thick ones
    less; and a page with a digit is itself "thin" at the scale of the background windows.
    """
    inverted = bool(np.median(gray) > 0.5) or _bright_part_is_wide(gray)
    off_page = np.zeros(gray.shape, dtype=bool)
    if inverted:  # relative to the paper, but not to a dark desk's: its grain is not ink
        brightest = float(np.percentile(light_paper, 99))
        contrast = (light_paper - gray) / np.maximum(light_paper, DARKEST_PAPER * brightest + 1 / 255)
        off_page = light_paper < DESK * brightest
        contrast[off_page] = 0.0
    else:
        contrast = (gray - dark_paper) / np.maximum(1.0 - dark_paper, 1 / 255)
    return InkMap(np.clip(contrast, 0.0, 1.0).astype(np.float32), inverted, off_page, local)


def _bright_part_is_wide(gray: np.ndarray) -> bool:
    """Whether most pixels brighter than Otsu's threshold survive an opening by a square of
    ``WIDE_REGION`` of the shorter side (judged on the picture shrunk to at most 128 px)."""
    small = Image.fromarray(gray, "F")
    small = np.asarray(small.resize(fitted_size(small.width, small.height, 128), Image.Resampling.BOX))
    if min(small.shape) < 3:
        return False
    bright = (small > otsu_threshold(np.clip(small, 0.0, 1.0))).astype(np.uint8)
    window = max(3, round(WIDE_REGION * min(small.shape)))
    wide = ndimage.grey_opening(bright, size=(window, window), mode="nearest")
    return bool(2 * int(wide.sum()) >= int(bright.sum()) > 0)


def digit_mask(ink: InkMap) -> tuple[np.ndarray, tuple[str, ...]]:
    """The pixels of the digit, and notes for the user.

    ink: from ``ink_map``. returns: (bool [H, W] with some True pixel; notes, e.g. that several
    digits were found).

    Ink is what exceeds Otsu's threshold (and ``MIN_CONTRAST``) in 8-connected components that
    reach ``STRONG_INK`` somewhere (hysteresis, as in Canny 1986). Components touching the
    picture's border or a desk (``InkMap.off_page``) are a page's edge, a desk or a shadow, unless
    nothing else is left (the digit itself reaches the border); specks, under ``SPECK`` of the
    largest component left or ``SPECK_OF_EDGE`` of the largest edge, are dropped. The largest
    component left is the digit, unless it encloses another one (a box drawn around the digit).
    Others stacked above or below it, or close to it, are its pieces
    (a 5's bar; also a stroke that ends at the border rather than running along it, ``FRAME_HUG``);
    one beside it at least ``ANOTHER_DIGIT`` of its size is another digit: it is left out and a
    note says so.
    Raises UploadError if nothing is left, or if the ink is noise (over ``NOISE_INK`` of the page in
    over ``NOISE_PIECES`` pieces).
    """
    contrast = ink.contrast
    low = max(otsu_threshold(contrast), MIN_CONTRAST)
    high = max(low, min(STRONG_INK, STRONG_INK * float(np.percentile(contrast, 99.9))))
    labels, n = ndimage.label(contrast > low, structure=np.ones((3, 3), dtype=bool))
    strong = np.zeros(n + 1, dtype=bool)
    strong[labels[contrast > high]] = True  # hysteresis (Canny 1986): a component needs strong ink
    labels[~strong[labels]] = 0
    labels, n = ndimage.label(labels > 0, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        raise UploadError("No handwriting found after removing the background.")
    boxes = ndimage.find_objects(labels)
    areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    contact, extent = _border_contact(labels, boxes) if ink.local else (np.zeros(n), np.ones(n))
    stroke_end = (contact > 0) & (contact < FRAME_HUG * extent)  # a stroke reaching the border
    near_desk = ndimage.binary_dilation(ink.off_page, iterations=2) if ink.off_page.any() else ink.off_page
    on_desk = np.bincount(labels[near_desk], minlength=n + 1)[1:] > 0
    edge = (contact > 0) | on_desk
    stroke_end &= ~on_desk
    pool = ~edge & (areas >= SPECK_OF_EDGE * areas[edge].max(initial=0))
    if not pool.any():  # the digit itself reaches the border: a tight crop, or a drawing to the edge
        pool = stroke_end if stroke_end.any() else edge
    pool &= areas >= SPECK * areas[pool].max()
    if n > NOISE_PIECES and np.count_nonzero(labels) > NOISE_INK * np.count_nonzero(~ink.off_page):
        raise UploadError("This looks like noise or a texture, not a handwritten digit. "
                          "Upload a photo or scan of one digit on plain paper.")
    main = int(np.argmax(np.where(pool, areas, -1)))
    if areas[main] < MIN_DIGIT * labels.size:
        raise UploadError("No handwriting found: only specks. Fill the frame with the digit.")
    while pool.sum() > 1 and _encloses(labels, boxes[main], main, pool):  # a box around the digit
        pool[main] = False
        main = int(np.argmax(np.where(pool, areas, -1)))
    keep, others = [main], 0
    for i in np.flatnonzero(pool | (stroke_end & (areas >= SPECK * areas[main]))):
        if i == main:
            continue
        relation = _relation(boxes[main], boxes[i])
        if relation == "stacked" or (relation == "near" and areas[i] < ANOTHER_DIGIT * areas[main]):
            keep.append(i)
        elif pool[i] and areas[i] >= ANOTHER_DIGIT * areas[main]:
            others += 1
    notes = ()
    if others:
        notes = (f"The picture seems to hold {others + 1} digits; the largest one is used. "
                 "Crop the picture to one digit to use another.",)
    return np.isin(labels, np.asarray(keep) + 1), notes


def _encloses(labels: np.ndarray, box: tuple[slice, slice], i: int, pool: np.ndarray) -> bool:
    """Whether component ``i`` (0-based, bounding box ``box``) encloses a pixel of another component
    of ``pool`` (bool [n]) in one of its holes: a box drawn around the digit, not the digit."""
    window = labels[box]
    own = window == i + 1
    inside = ndimage.binary_fill_holes(own) & ~own
    others = np.unique(window[inside])
    others = others[others > 0] - 1
    return bool(pool[others].any())


def _border_contact(labels: np.ndarray, boxes: list) -> tuple[np.ndarray, np.ndarray]:
    """(contact, extent), float [n] each: how many border pixels each component covers, and its
    bounding box's length along the sides it touches (a band along an edge covers about all of it,
    a stroke ending at the border a small part)."""
    n = len(boxes)
    contact = np.zeros(n)
    extent = np.zeros(n)
    sides = (labels[0], labels[-1], labels[:, 0], labels[:, -1])
    for k, side in enumerate(sides):
        counts = np.bincount(side, minlength=n + 1)[1:]
        for i in np.flatnonzero(counts):
            rows, cols = boxes[i]
            contact[i] += counts[i]
            extent[i] += (cols.stop - cols.start) if k < 2 else (rows.stop - rows.start)
    return contact, extent


def _relation(main: tuple[slice, slice], other: tuple[slice, slice]) -> str:
    """How the box ``other`` sits against the digit's box ``main``: "stacked" (overlapping columns,
    at most half the digit's height above or below), "near" (within a tenth of the digit's size),
    or "apart"."""
    (r0, c0), (r1, c1) = main, other
    width = min(c0.stop - c0.start, c1.stop - c1.start)
    overlap = min(c0.stop, c1.stop) - max(c0.start, c1.start)
    row_gap = max(r1.start - r0.stop, r0.start - r1.stop, 0)
    col_gap = max(c1.start - c0.stop, c0.start - c1.stop, 0)
    size = max(r0.stop - r0.start, c0.stop - c0.start)
    if overlap >= 0.3 * width and row_gap <= 0.5 * (r0.stop - r0.start):
        return "stacked"
    if max(row_gap, col_gap) <= 0.1 * size:
        return "near"
    return "apart"


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


def fit_and_center(digit: np.ndarray, box: int = 20, size: int = 28,
                   stroke: tuple[float, float] | None = MNIST_STROKE_WIDTH) -> np.ndarray:
    """The digit as MNIST made its images: a bilevel image fitted in a ``box`` square keeping its
    aspect, anti-aliased by that resize, its centre of mass moved to the centre of a ``size`` field.

    digit: bool or float [H, W] with some nonzero pixel (nonzero = ink).
    stroke: (low, high) stroke width in output pixels (``stroke_width``): a digit outside it is
        thickened or thinned (``set_stroke_width``) to the nearer end first; None leaves it.
    returns: float32 [size, size] in [0, 1] whose maximum is 1.
    Raises ValueError if ``digit`` has no ink.
    """
    mask = _crop(np.asarray(digit) > 0)
    shape, patch = mask, _fit(mask, box)
    if stroke is not None:
        low, high = stroke
        change = 0.0  # working pixels, from the digit as found
        for _ in range(4):  # the box's scale changes with the width: a few rounds settle it
            width = stroke_width(patch)
            target = min(max(width, low), high)
            if abs(target - width) < 0.05:
                break
            scale = max(patch.shape) / max(shape.shape)  # output pixels per working pixel
            change += (target - width) / 2 / scale
            shape = _crop(set_stroke_width(mask, change))
            patch = _fit(shape, box)
    patch = np.clip(patch / max(float(patch.max()), 1e-6), 0.0, 1.0)

    # Centre of mass of the patch, then the integer shift that puts it at the field's centre.
    new_h, new_w = patch.shape
    cy, cx = center_of_mass(patch)
    center = (size - 1) / 2
    top = int(np.clip(round(center - cy), 0, size - new_h))
    left = int(np.clip(round(center - cx), 0, size - new_w))
    field = np.zeros((size, size), dtype=np.float32)
    field[top : top + new_h, left : left + new_w] = patch
    return field


def _crop(mask: np.ndarray) -> np.ndarray:
    """``mask`` [H, W] cropped to its nonzero pixels. Raises ValueError if there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("the digit has no ink")
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _fit(mask: np.ndarray, box: int) -> np.ndarray:
    """A cropped mask [H, W] (bool, or float in [0, 1]) resized so its longer side is ``box``, by
    area averaging: float32 [h, w] in [0, 1]."""
    h, w = mask.shape
    size = fitted_size(w, h, box)
    patch = Image.fromarray(mask.astype(np.float32), "F")
    return np.asarray(patch.resize(size, Image.Resampling.BOX), dtype=np.float32)


def set_stroke_width(mask: np.ndarray, change: float) -> np.ndarray:
    """The strokes of ``mask`` (bool [H, W]) made ``2 * change`` pixels wider (change > 0) or
    narrower (change < 0), to a fraction of a pixel.

    returns: float32 [H + 2p, W + 2p] in [0, 1], p = ceil(|change|) + 1 (padded so that a thickened
    stroke fits): the shape whose border lies ``change`` outside the mask's, from the signed
    Euclidean distance to that border, with a one-pixel anti-aliased edge. Thinning keeps the
    strokes' ridge (the local maxima of the distance to the paper), so a part thinner than the cut
    does not vanish.
    """
    pad = int(np.ceil(abs(change))) + 1
    m = np.pad(np.asarray(mask, dtype=bool), pad)
    inside = ndimage.distance_transform_edt(m)
    signed = np.where(m, inside - 0.5, 0.5 - ndimage.distance_transform_edt(~m))  # + inside the mask
    shape = np.clip(signed + change + 0.5, 0.0, 1.0)
    if change < 0:
        ridge = m & (inside >= ndimage.maximum_filter(inside, size=3))
        shape = np.maximum(shape, ridge)
    return shape.astype(np.float32)


def stroke_width(image: np.ndarray) -> float:
    """The mean stroke width of a grey digit, in pixels: 2 * ink / contour length.

    image: float [H, W] in [0, 1], ink bright. The contour length is the integral of the gradient's
    magnitude (by the coarea formula, the mean length of the level lines across the ink's edges), so
    a stroke of width w and length L (L >> w) gives about w, for soft (anti-aliased) as well as
    hard edges. MNIST's test digits give 2.0-3.9 px (5th-95th percentiles); see ``MNIST_STROKE_WIDTH``.
    Raises ValueError if the image has no ink.
    """
    x = np.pad(np.asarray(image, dtype=np.float64), 2)  # every edge inside, for central differences
    gy, gx = np.gradient(x)
    edge = float(np.hypot(gx, gy).sum())
    if edge <= 0:
        raise ValueError("the image has no ink edges")
    return 2.0 * float(x.sum()) / edge


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """(row, col) centre of mass of a non-negative image [H, W]."""
    ys, xs = np.indices(image.shape)
    mass = image.sum()
    return float((ys * image).sum() / mass), float((xs * image).sum() / mass)
