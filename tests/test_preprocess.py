import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from explorer.preprocess import MAX_UPLOAD_BYTES, UploadError, center_of_mass, otsu_threshold, to_mnist


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
    (b"this is not an image at all", "could not be read"),
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
