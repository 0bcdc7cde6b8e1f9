import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PIL import EpsImagePlugin, Image, ImageDraw

from benchmarks import evalset
from explorer import testdata
from explorer.preprocess import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    MNIST_STROKE_WIDTH,
    UploadError,
    center_of_mass,
    fit_and_center,
    otsu_threshold,
    preview,
    stroke_width,
    to_mnist,
)
from train.idx import read_split


def encode(image: Image.Image, fmt="PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def stroke_image(size=(400, 300), ink=20, paper=235, box=(30, 20, 110, 150), width=9, mode="L"):
    """A '7'-like stroke drawn off-centre (top-left) on a large canvas."""
    image = Image.new(mode, size, paper if mode == "L" else (paper,) * 3)
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = box
    colour = ink if mode == "L" else (ink,) * 3
    draw.line([(x0, y0), (x1, y0), (x0 + 20, y1)], fill=colour, width=width)
    return image


def ink_bbox(image: np.ndarray, level=0.05):
    rows = np.flatnonzero((image > level).any(axis=1))
    cols = np.flatnonzero((image > level).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_dark_ink_off_centre_lands_centred_in_28x28():
    result = to_mnist(encode(stroke_image()))
    x = result.image
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() == pytest.approx(1.0)
    assert result.inverted  # dark ink on light paper was inverted: ink is bright
    cy, cx = center_of_mass(x)
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5
    h, w = ink_bbox(x)
    assert max(h, w) <= 21 and max(h, w) >= 18  # fitted in the 20x20 box, aspect kept
    assert h > w  # the stroke is taller than wide, as drawn
    assert x[0].max() == 0 and x[-1].max() == 0 and x[:, 0].max() == 0 and x[:, -1].max() == 0


def test_light_ink_on_dark_is_not_inverted_and_matches():
    dark = to_mnist(encode(stroke_image(ink=240, paper=10)))
    light = to_mnist(encode(stroke_image()))
    assert not dark.inverted
    assert np.abs(dark.image - light.image).mean() < 0.02


def test_noisy_jpeg_photo_with_uneven_lighting():
    rng = np.random.default_rng(0)
    base = np.asarray(stroke_image(size=(640, 480), box=(380, 260, 480, 420), width=14), dtype=np.float32)
    shade = np.linspace(-25, 15, base.shape[1])[None, :]  # lighting gradient across the page
    photo = np.clip(base + shade + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    colour = Image.fromarray(photo).convert("RGB")
    x = to_mnist(encode(colour, "JPEG", quality=80)).image
    cy, cx = center_of_mass(x)
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5
    assert (x > 0.5).sum() > 25  # the stroke survived
    assert (x > 0).mean() < 0.4  # the background noise did not


def test_thin_strokes_on_a_large_image_stay_visible():
    x = to_mnist(encode(stroke_image(size=(1500, 1500), box=(200, 200, 700, 1200), width=4))).image
    assert (x > 0.5).sum() >= 20


def test_transparent_png_counts_as_paper():
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((40, 30, 140, 170), outline=(0, 0, 0, 255), width=12)
    x = to_mnist(encode(image)).image
    assert ink_bbox(x)[0] >= 18


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"this is not an image at all", "not a PNG or JPEG image"),
    (encode(Image.new("L", (100, 100), 200)), "No handwriting"),
    (encode(Image.new("RGB", (64, 64), (250, 250, 250))), "No handwriting"),
])
def test_bad_uploads_say_why(data, reason):
    with pytest.raises(UploadError, match=reason):
        to_mnist(data)


def test_huge_upload_is_refused_before_decoding():
    with pytest.raises(UploadError, match="limit"):
        to_mnist(b"\x89PNG" + b"\0" * MAX_UPLOAD_BYTES)


def test_decompression_bomb_is_refused():
    bomb = encode(Image.new("1", (9000, 9000), 1))  # tiny file, 81 megapixels
    assert len(bomb) < MAX_UPLOAD_BYTES
    with pytest.raises(UploadError, match="megapixels"):
        to_mnist(bomb)


def test_otsu_splits_two_clusters():
    values = np.concatenate([np.full(100, 0.1), np.full(50, 0.8)])
    assert 0.1 < otsu_threshold(values) <= 0.8


# --- Any upload, however shaped, becomes a digit or says why -------------------------------------

EXTREME_SIZES = [(1, 1), (1, 2), (2, 1), (3, 3), (1, 2000), (2000, 1), (2, 5000), (10000, 50), (50, 10000),
                 (513, 1), (1, 513), (100_000, 3), (65500, 1)]
CONTENTS = ("blank", "stroke", "dot", "noise", "half")


def synthetic(size: tuple[int, int], content: str, seed: int = 0, dark_ink: bool = True) -> Image.Image:
    """A grey image of ``size`` (width, height): blank paper, a diagonal stroke, one dot, uniform noise,
    or ink over its left half."""
    paper, ink = (235, 20) if dark_ink else (15, 240)
    image = Image.new("L", size, paper)
    w, h = size
    if content == "stroke":
        ImageDraw.Draw(image).line([(0, 0), (w - 1, h - 1)], fill=ink, width=max(1, min(w, h) // 8))
    elif content == "dot":
        image.putpixel((w // 2, h // 2), ink)
    elif content == "noise":
        rng = np.random.default_rng(seed)
        image = Image.fromarray(rng.integers(0, 256, size=(h, w), dtype=np.uint8))
    elif content == "half":
        ImageDraw.Draw(image).rectangle((0, 0, max(0, w // 2 - 1), h - 1), fill=ink)
    return image


def assert_digit_or_upload_error(data: bytes) -> None:
    """``to_mnist`` either gives a valid MNIST input or raises UploadError with a message (nothing else)."""
    try:
        result = to_mnist(data)
    except UploadError as e:
        assert str(e)
        return
    x = result.image
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= 0 and x.max() == pytest.approx(1.0)
    assert result.original.mode == "RGB"


@pytest.mark.parametrize("size", EXTREME_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("content", CONTENTS)
def test_extreme_sizes_become_a_digit_or_say_why(size, content):
    assert_digit_or_upload_error(encode(synthetic(size, content)))


def test_a_long_thin_stroke_is_a_digit():
    """A 2000x1 strip of ink (aspect far above 1024:1) used to raise IndexError."""
    strip = Image.new("L", (2000, 1), 235)
    ImageDraw.Draw(strip).line([(300, 0), (1700, 0)], fill=20)
    x = to_mnist(encode(strip)).image
    h, w = ink_bbox(x)
    assert w >= 18 and h <= 4  # a horizontal bar fitted in the 20x20 box, thickened to MNIST's strokes


@pytest.mark.parametrize("size", [(8000, 5000), (40_000_000, 1)], ids=["8000x5000", "40000000x1"])
def test_images_at_the_pixel_cap_are_processed(size):
    assert size[0] * size[1] == MAX_PIXELS
    image = Image.new("L", size, 235)
    w, h = size
    ImageDraw.Draw(image).rectangle((w // 3, h // 3, w // 2, max(h // 3, h - 1 - h // 3)), fill=20)
    result = to_mnist(encode(image))
    assert result.image.max() == pytest.approx(1.0) and max(ink_bbox(result.image)) >= 18
    assert max(preview(result.original, 112).size) == 112 and min(preview(result.original, 112).size) >= 1


dims = st.one_of(st.integers(1, 40), st.integers(1, 3000),
                 st.sampled_from([1, 2, 3, 511, 512, 513, 1024, 2049, 30_000, 200_000]))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(width=dims, height=dims, content=st.sampled_from(CONTENTS), dark_ink=st.booleans(),
       fmt=st.sampled_from(["PNG", "JPEG"]), mode=st.sampled_from(["L", "RGB", "RGBA"]),
       seed=st.integers(0, 2**16))
def test_any_image_becomes_a_digit_or_says_why(width, height, content, dark_ink, fmt, mode, seed):
    assume(width * height <= 1_000_000 and (fmt == "PNG" or max(width, height) <= 65500))
    image = synthetic((width, height), content, seed, dark_ink).convert(mode if fmt == "PNG" else "RGB")
    assert_digit_or_upload_error(encode(image, fmt))


@settings(max_examples=80, deadline=None, derandomize=True)
@given(fmt=st.sampled_from(["PNG", "JPEG"]), cut=st.floats(0.0, 1.0),
       flips=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(1, 255)), max_size=4))
def test_damaged_uploads_become_a_digit_or_say_why(fmt, cut, flips):
    payload = bytearray(encode(stroke_image(size=(120, 90), box=(20, 10, 80, 80)).convert("RGB"), fmt))
    for where, xor in flips:
        payload[int(where * len(payload))] ^= xor
    assert_digit_or_upload_error(bytes(payload[: max(1, int(cut * len(payload)))]))


# --- The preview of the upload ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [*EXTREME_SIZES, (28, 28), (112, 112)],
                         ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("max_side", [1, 28, 112])
def test_preview_fits_any_size(size, max_side):
    image = synthetic(size, "blank").convert("RGB")
    small = preview(image, max_side)
    assert max(small.size) == max_side and min(small.size) >= 1
    assert small.mode == "RGB"
    scale = max_side / max(size)
    for side, shown in zip(size, small.size, strict=True):  # aspect kept, up to rounding
        assert abs(shown - side * scale) <= 0.5 or (shown == 1 and side * scale < 1)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(width=dims, height=dims, max_side=st.integers(1, 300))
def test_preview_never_has_an_empty_side(width, height, max_side):
    assume(width * height <= 1_000_000)
    small = preview(Image.new("RGB", (width, height), "white"), max_side)
    assert 1 <= min(small.size) and max(small.size) == max_side


def test_preview_refuses_a_size_below_one():
    with pytest.raises(ValueError, match="max_side"):
        preview(Image.new("RGB", (5, 5)), 0)


# --- Only PNG and JPEG are opened --------------------------------------------------------------------


def writable_formats() -> list[str]:
    """Image formats other than PNG and JPEG that this Pillow can write (so can make a test file of)."""
    found = []
    for fmt in ("GIF", "BMP", "TIFF", "WEBP", "EPS", "ICO", "PPM", "TGA", "PCX", "SGI", "JPEG2000", "PDF",
                "QOI", "DDS"):
        try:
            encode(stroke_image(size=(64, 64), box=(10, 10, 40, 50), width=4).convert("RGB"), fmt)
        except (OSError, KeyError, ValueError):
            continue
        found.append(fmt)
    return found


@pytest.mark.parametrize("fmt", writable_formats())
def test_other_formats_are_refused_naming_the_accepted_ones(fmt):
    data = encode(stroke_image(size=(64, 64), box=(10, 10, 40, 50), width=4).convert("RGB"), fmt)
    with pytest.raises(UploadError) as info:
        to_mnist(data)
    assert "PNG" in str(info.value) and "JPEG" in str(info.value)


def test_eps_is_never_handed_to_ghostscript(monkeypatch):
    """An EPS file renamed .png must not reach Pillow's EPS plugin (which runs Ghostscript)."""
    calls = []

    def ghostscript(*args, **kwargs):
        calls.append(args)
        return Image.new("RGB", (64, 64), "white").im

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    eps = encode(stroke_image(size=(64, 64), box=(10, 10, 40, 50), width=4).convert("RGB"), "EPS")
    with pytest.raises(UploadError, match="EPS"):
        to_mnist(eps)
    assert calls == []


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "MPO"])  # MPO: a JPEG with a second picture, from phones
def test_png_and_jpeg_still_open(fmt):
    image = stroke_image().convert("RGB")
    data = encode(image, fmt, **({"save_all": True, "append_images": [image]} if fmt == "MPO" else {}))
    assert to_mnist(data).image.max() == pytest.approx(1.0)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header says width x height but whose pixel data is garbage: decoding it would fail."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"garbage") + chunk(b"IEND", b"")


def jpeg_header_only(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is patched to say width x height."""
    data = bytearray(encode(Image.new("L", (16, 16), 200), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("data", [png_header_only(10_000, 5_000), png_header_only(100_000, 100_000),
                                  png_header_only(2**31 - 1, 2**31 - 1), jpeg_header_only(8000, 5001),
                                  jpeg_header_only(65535, 65535)],
                         ids=["png-50MP", "png-10GP", "png-max", "jpeg-40MP+", "jpeg-4GP"])
def test_pixel_cap_is_applied_before_decoding(data):
    with pytest.raises(UploadError, match="megapixels"):
        to_mnist(data)


def test_16_bit_greyscale_png_is_read_like_8_bit():
    """A 16-bit scan was clipped to white by Pillow's conversion and refused as blank."""
    eight = np.asarray(stroke_image(), dtype=np.uint16)
    sixteen = Image.fromarray(eight * 257)  # the same picture, 0..65535
    assert sixteen.mode == "I;16"
    np.testing.assert_allclose(to_mnist(encode(sixteen)).image, to_mnist(encode(stroke_image())).image,
                               atol=1 / 255)


# --- Photos: light, desks, specks, boxes, several digits (issue 13) ----------------------------------
# The pages come from the evaluation set's generator (benchmarks/evalset.py), seeded.


def page_with(label: int, seed: int, width: float = 7.0) -> np.ndarray:
    """A pen-drawn ``label`` written on a sheet of paper: reflectance float32 [H, W] in [0, 1]."""
    rng = np.random.default_rng(seed)
    return evalset.write_on_paper(evalset.pen_digit(label, 140, width, rng), rng)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two 28x28 images, the best over shifts of b by up to one pixel (the
    centre of mass is rounded to a whole pixel)."""
    return max(float(np.corrcoef(a.ravel(), np.roll(b, (dy, dx), axis=(0, 1)).ravel())[0, 1])
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))


@pytest.mark.parametrize("condition", ["desk", "lamp", "shadow", "phone-desk"])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_photo_lands_where_its_scan_does(condition, seed):
    """Under a lamp, a shadow or with a dark desk around the page, the digit keeps its polarity and
    its shape: the result is close to that of the clean scan of the same page."""
    page = page_with(4 + seed, seed)
    clean = to_mnist(evalset.photograph(page, "clean", np.random.default_rng(0)))
    photo = to_mnist(evalset.photograph(page, condition, np.random.default_rng(seed)))
    assert photo.inverted and clean.inverted  # dark ink on paper, however dark the desk
    assert similarity(photo.image, clean.image) > 0.8
    assert photo.notes == ()


def test_a_dark_desk_edge_no_longer_flips_the_polarity():
    """The old rule took the paper's colour from the picture's border: a dark desk there meant "light
    ink on dark paper", and the page itself became the digit."""
    page = np.full((300, 240), 0.92, dtype=np.float32)
    page[100:220, 110:122] = 0.1  # a "1"
    photo = np.full((380, 300), 0.12, dtype=np.float32)  # the desk shows on every side
    photo[40:340, 30:270] = page
    result = to_mnist(encode(Image.fromarray(np.uint8(photo * 255))))
    assert result.inverted
    h, w = ink_bbox(result.image)
    assert h >= 18 and w <= 6  # the tall thin stroke, not the wide page


def test_specks_a_page_edge_and_a_box_are_dropped():
    page = page_with(7, 3)
    alone = to_mnist(encode(Image.fromarray(np.uint8(page * 255)))).image
    busy = page.copy()
    busy[:, :6] = 0.15  # the page's edge: a dark band along the left border
    busy[-4:, :] = 0.2  # and along the bottom
    busy[20:23, 200:203] = 0.1  # specks
    busy[-30:-27, 40:42] = 0.1
    result = to_mnist(encode(Image.fromarray(np.uint8(busy * 255))))
    assert similarity(result.image, alone) > 0.95
    rows = np.flatnonzero((page < 0.5).any(axis=1))
    cols = np.flatnonzero((page < 0.5).any(axis=0))
    boxed = page.copy()  # a box drawn around the digit, larger than the digit
    top, bottom, left, right = rows[0] - 15, rows[-1] + 15, cols[0] - 15, cols[-1] + 15
    for sl in [(slice(top, top + 4), slice(left, right)), (slice(bottom - 4, bottom), slice(left, right)),
               (slice(top, bottom), slice(left, left + 4)), (slice(top, bottom), slice(right - 4, right))]:
        boxed[sl] = 0.1
    result = to_mnist(encode(Image.fromarray(np.uint8(boxed * 255))))
    assert similarity(result.image, alone) > 0.95


def test_two_digits_side_by_side_are_noted_and_the_larger_is_used():
    rng = np.random.default_rng(5)
    big = evalset.pen_digit(3, 160, 8, rng)
    small = evalset.pen_digit(1, 120, 8, rng)
    page = np.full((260, 360), 0.93, dtype=np.float32)
    page[40 : 40 + small.shape[0], 40 : 40 + small.shape[1]] = 0.93 * small
    page[30 : 30 + big.shape[0], 180 : 180 + big.shape[1]] = 0.93 * big
    result = to_mnist(encode(Image.fromarray(np.uint8(page * 255))))
    assert len(result.notes) == 1 and "2 digits" in result.notes[0]
    three = page.copy()
    three[:, :170] = 0.93  # the same page without the 1
    alone = to_mnist(encode(Image.fromarray(np.uint8(three * 255))))
    assert alone.notes == ()
    assert similarity(result.image, alone.image) > 0.95


def test_pieces_of_one_digit_are_kept_together():
    """A 5 whose bar was drawn apart from its body is one digit, not two."""
    image = Image.new("L", (220, 240), 235)
    draw = ImageDraw.Draw(image)
    draw.line([(80, 40), (160, 40)], fill=20, width=9)  # the bar, 15 px above the body
    draw.line([(82, 55), (78, 110), (110, 100), (140, 112), (150, 145), (132, 175), (100, 185), (70, 172)],
              fill=20, width=9, joint="curve")
    result = to_mnist(encode(image))
    assert result.notes == ()
    top_rows = result.image[: np.flatnonzero(result.image.any(axis=1))[0] + 2]
    assert (top_rows > 0.5).sum() >= 8  # the bar is the top of the fitted digit, as wide as drawn


@pytest.mark.parametrize("scene", ["blank page on a desk", "lamp on a blank page", "noise"])
def test_no_digit_is_refused(scene):
    rng = np.random.default_rng(0)
    blank = np.full((300, 240), 0.9, dtype=np.float32) + rng.normal(0, 0.01, (300, 240)).astype(np.float32)
    if scene == "blank page on a desk":
        data = evalset.photograph(blank, "desk", rng)
    elif scene == "lamp on a blank page":
        data = evalset.photograph(blank, "lamp", rng)
    else:
        data = encode(Image.fromarray(rng.integers(0, 256, (300, 300), dtype=np.uint8)))
    with pytest.raises(UploadError, match="No handwriting|noise"):
        to_mnist(data)


# --- Stroke width ------------------------------------------------------------------------------------


def test_mnist_stroke_width_range_is_measured():
    """MNIST_STROKE_WIDTH is the 25th and 90th percentile of stroke_width over the shipped test digits."""
    images, _ = read_split(*testdata.test_set_files("mnist"))
    widths = [stroke_width(x / 255.0) for x in images]
    assert np.percentile(widths, [25, 90]) == pytest.approx(MNIST_STROKE_WIDTH, abs=0.01)


def test_stroke_width_of_a_ring_is_its_width():
    """2 * area / contour length is exact for a ring (no stroke ends), anti-aliased or not."""
    ys, xs = np.mgrid[0:224, 0:224] / 8.0  # drawn 8x finer, then averaged down to 28x28
    r = np.hypot(ys - 14, xs - 14)
    ring = ((r > 6) & (r < 9)).astype(np.float32).reshape(28, 8, 28, 8).mean(axis=(1, 3))
    assert stroke_width(ring) == pytest.approx(3.0, abs=0.15)


@pytest.mark.parametrize("width", [6, 48])
@pytest.mark.parametrize("label", [0, 4, 8])
def test_thin_and_thick_canvas_strokes_get_mnist_stroke_width(width, label):
    data = evalset.canvas_png(label, width, np.random.default_rng(label))
    low, high = MNIST_STROKE_WIDTH
    unchanged = stroke_width(fit_and_center(np.asarray(Image.open(io.BytesIO(data)).convert("L")) < 128,
                                            stroke=None))
    assert not low <= unchanged <= high  # the drawing's own width is outside MNIST's range
    assert low - 0.15 <= stroke_width(to_mnist(data).image) <= high + 0.15


# --- Properties ---------------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None, derandomize=True)
@given(label=st.integers(0, 9), seed=st.integers(0, 2**16), width=st.sampled_from([8, 20, 34]))
def test_preprocessing_its_own_output_changes_little(label, seed, width):
    """The 28x28 result, uploaded again (light on dark) or inverted (dark on light), comes back about
    the same: the pipeline has a fixed point near MNIST's own format."""
    first = to_mnist(evalset.canvas_png(label, width, np.random.default_rng(seed))).image
    again = to_mnist(encode(Image.fromarray(np.uint8(np.round(first * 255))))).image
    inverted = to_mnist(encode(Image.fromarray(np.uint8(np.round(255 - first * 255))))).image
    assert similarity(again, first) > 0.9
    assert np.abs(inverted - again).mean() < 0.02


@settings(max_examples=10, deadline=None, derandomize=True)
@given(label=st.integers(0, 9), seed=st.integers(0, 2**16), scale=st.floats(0.5, 3.0))
def test_the_size_of_the_photo_barely_matters(label, seed, scale):
    page = page_with(label, seed)
    image = Image.fromarray(np.uint8(page * 255))
    size = (round(image.width * scale), round(image.height * scale))
    resized = image.resize(size, Image.Resampling.BICUBIC)
    assert similarity(to_mnist(encode(resized)).image, to_mnist(encode(image)).image) > 0.85
