import numpy as np
import pytest

from explorer import imaging


def test_enlarge_makes_crisp_blocks():
    image = np.array([[0.0, 1.0], [0.5, 0.0]], dtype=np.float32)
    big = imaging.enlarge(image, 3)
    assert big.shape == (6, 6) and big.dtype == np.uint8
    assert (big[:3, 3:] == 255).all() and (big[3:, :3] == 128).all() and (big[:3, :3] == 0).all()
    assert imaging.strip(np.zeros((3, 28, 28)), scale=2, gap=1).shape == (56, 2 * (3 * 28 + 2))



def test_image_grid_lays_out_rows_and_pads_the_last():
    from explorer.imaging import image_grid

    images = np.stack([np.full((28, 28), v, np.float32) for v in (0.0, 1.0, 0.5)])
    grid = image_grid(images, columns=2, scale=2, gap=1)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 56 + 2, 2 * 56 + 2)
    assert grid[0, 0] == 0 and grid[0, -1] == 255 and grid[-1, 0] == 128 and grid[-1, -1] == 89  # padding



def test_png_and_gif_exports_decode_with_pillow():
    import io

    from PIL import Image

    frames = [np.full((12, 10), v, np.uint8) for v in (0, 100, 200)]
    png = Image.open(io.BytesIO(imaging.png_bytes(frames[1])))
    assert png.format == "PNG" and png.size == (10, 12) and np.asarray(png)[0, 0] == 100
    gif = Image.open(io.BytesIO(imaging.gif_bytes(frames)))
    assert gif.format == "GIF" and gif.n_frames == 4 and gif.info.get("loop") == 0  # 0,1,2 then back to 1
    assert Image.open(io.BytesIO(imaging.gif_bytes(frames, bounce=False))).n_frames == 3
    with pytest.raises(ValueError, match="at least one frame"):
        imaging.gif_bytes([])

