"""Real-browser tests: Playwright drives Debian's Chromium against `streamlit run explorer/app.py`.

Screenshots of every page go to test-artifacts/pages/; with UPDATE_SCREENSHOTS=1 they also replace
the README's screenshots in docs/screenshots/ (JPEG).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from explorer.browser import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "docs" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

pytestmark = pytest.mark.browser

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def server():
    proc, url = start_server(_artifacts() / "streamlit.log")
    yield url
    stop_server(proc)


def _artifacts() -> Path:
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.console_messages = []  # every console message, for tests that check for warnings
    page.on("console", lambda message: page.console_messages.append(message.text))
    page.remote_hosts = []  # hosts of every request that would leave this machine
    page.on("request", lambda r: _remember_remote(page, r.url))
    yield page
    page.close()


def _remember_remote(page, url: str) -> None:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname not in LOCAL_HOSTS:
        page.remote_hosts.append(parsed.hostname)


def open_view(page, server: str, path: str, **query) -> None:
    """Open a page by its URL (the view state goes in the query string) and wait for its content."""
    page.goto(f"{server}/{path}?{urllib.parse.urlencode(query)}", timeout=60_000)
    page.locator("h1").first.wait_for(timeout=60_000)
    content = ('[data-testid="stImage"], .js-plotly-plot, [data-testid="stFileUploader"], '
               '[data-testid="stMetric"], [data-testid="stAlert"], [data-testid="latent-plane"]')
    page.locator(f'[data-testid="stMain"] :is({content})').first.wait_for(timeout=60_000)


def plot_area(page, index: int = 0):
    """The bounding box of a plotly plot's drag layer (the area that receives clicks)."""
    drag = page.locator(".js-plotly-plot").nth(index).locator(".nsewdrag").first
    drag.wait_for(timeout=30_000)
    wait_until_idle(page)
    box = drag.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100
    return box


def wait_until_idle(page) -> None:
    """Wait until the app is not running (a click during the first run may be lost)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=60_000, polling=100)
    time.sleep(0.3)


def wait_for(condition, timeout: float = 30.0, what: str = "the page to update"):
    """Poll ``condition()`` until it returns a truthy value (playwright errors count as not yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception:  # noqa: BLE001 - elements are replaced while Streamlit reruns
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def image_src(page, caption_text: str) -> str | None:
    """The src of the image whose caption contains ``caption_text`` (None if there is none)."""
    img = page.locator('[data-testid="stImage"]', has_text=caption_text).locator("img").first
    return img.get_attribute("src", timeout=1_000) if img.count() else None


def z_text(page) -> str:
    """The decoded z shown beside the plane (not plotly's hover label, which also says "z = (")."""
    return page.locator('[data-testid="stMarkdownContainer"]').filter(
        has_text=re.compile(r"^z = \(")).first.inner_text(timeout=1_000)


def parse_z(text: str) -> tuple[float, float]:
    inside = text[text.index("(") + 1 : text.index(")")]
    x, y = (float(v) for v in inside.split(","))
    return x, y


# --- every page --------------------------------------------------------------------------------

PAGES = [  # (url path, model, screenshot name)
    ("", "mnist-vae-2d", "latent-map"), ("decode", "mnist-vae-2d", "click-to-decode"),
    ("reconstructions", "mnist-vae-2d", "reconstructions"),
    ("interpolation", "mnist-vae-2d", "interpolation"),
    ("posterior", "mnist-betavae-2d", "posterior"), ("draw", "mnist-vae-2d", "draw-or-upload"),
    ("prior", "mnist-vae-2d", "prior-sampling"), ("conditional", "mnist-cvae-2d", "conditional-generation"),
    ("denoising", "mnist-dae-2d", "denoising"), ("latents", "mnist-vae-16d", "higher-dimensional-latents"),
    ("toy", "toy-vae-1d", "toy-demo"), ("card", "mnist-vae-2d", "model-card"),
]


def lost_webgl_canvases(page) -> int:
    """How many WebGL canvases on the page have lost their context (a plot drawn blank)."""
    return page.evaluate("""() => [...document.querySelectorAll('canvas')]
        .map(c => c.getContext('webgl2') || c.getContext('webgl'))
        .filter(gl => gl && gl.isContextLost()).length""")


def test_every_page_renders_offline_and_its_webgl_plots_stay_alive(page, server):
    shots = _artifacts() / "pages"
    shots.mkdir(exist_ok=True)
    extra = {"": {"manifold": "1", "compare": "mnist-ae-2d"},
             "decode": {"z": "0.8,-0.6", "compare": "mnist-betavae-2d"},
             "conditional": {"z": "-1.2,1.5"}}
    for path, model, name in PAGES:
        open_view(page, server, path, model=model, **extra.get(path, {}))
        if path == "draw":  # show the page at work: a photo of a handwritten 4
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
                files=[{"name": "four.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg()}])
            wait_for(lambda: image_src(page, "as MNIST input"), what="the uploaded digit")
        time.sleep(1.5)  # let plotly and the images finish drawing
        assert page.locator('[data-testid="stException"]').count() == 0, path
        assert page.locator('[data-testid="stAlert"]', has_text="This view needs").count() == 0, path
        page.screenshot(path=str(shots / f"{name}.png"), full_page=False)
        if os.environ.get("UPDATE_SCREENSHOTS"):  # the README's pictures, kept small
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.jpg"), type="jpeg", quality=80)
        # Within one session, after many plots: nothing has lost its WebGL context.
    page.get_by_role("link", name="Latent map").click()
    page.locator('[data-testid="latent-plane"]').first.wait_for(timeout=30_000)
    time.sleep(1.0)
    assert lost_webgl_canvases(page) == 0
    assert page.remote_hosts == []  # fonts, scripts and plots all come from the local server


# --- the live latent plane (decodes in the browser) ---------------------------------------------

PLANE_MODELS = ["mnist-vae-2d", "mnist-ae-2d", "mnist-dae-2d", "mnist-betavae-2d", "fashion-vae-2d"]
TWO_D_IMAGE_MODELS = PLANE_MODELS + ["mnist-cvae-2d"]
DECODER_JS = (REPO / "explorer" / "frontend" / "decoder.js").read_text(encoding="utf-8")


def test_the_browser_decoder_matches_torch_for_every_shipped_2d_model(browser):
    """decoder.js, run in Chromium on the weights the app sends, against torch: 200 random z and the
    plane's four corners per model, max |pixel difference| <= 1e-4 (float32 weights)."""
    import torch

    from explorer.geometry import plane_extent
    from explorer.inference import load_explorer_model
    from explorer.testdata import load_test_set
    from explorer.webdecoder import export_decoder, pack

    page = browser.new_page()
    page.set_content("<!doctype html><title>decoder parity</title>")
    page.add_script_tag(content=DECODER_JS)
    worst = {}
    for name in TWO_D_IMAGE_MODELS:
        images, labels = load_test_set("mnist")
        if name.startswith("fashion"):
            images, labels = load_test_set("fashion-mnist")
        m = load_explorer_model(REPO / "checkpoints" / name, images, labels)
        x0, x1, y0, y1 = plane_extent(m.codes)
        rng = np.random.default_rng(0)
        corners = [[x0, y0], [x0, y1], [x1, y0], [x1, y1]]
        z = np.vstack([rng.normal(size=(200, 2)) * 1.5, corners]).astype(np.float32)
        y = rng.integers(0, 10, size=len(z)) if m.model.config.conditional else None
        got = np.asarray(page.evaluate(
            """([message, zs, ys]) => {
                 const payload = unpackData(base64Bytes(message));  // as the plane receives it
                 const decoder = createDecoder(payload.spec, weightsFromPayload(payload));
                 return zs.map((z, i) => Array.from(decoder.decode(z, ys ? ys[i] : null)));
               }""", [base64.b64encode(pack(export_decoder(m.model).payload())).decode(), z.tolist(),
                      None if y is None else y.tolist()]),
            np.float32)
        with torch.inference_mode():
            expected = m.model.decode(torch.from_numpy(z), None if y is None else torch.from_numpy(y)) \
                .clamp(0, 1).reshape(len(z), -1).numpy()
        worst[name] = float(np.abs(got - expected).max())
    page.close()
    assert all(diff <= 1e-4 for diff in worst.values()), worst


def live_plane(page):
    """The live plane of the open page, once drawn and the app idle: (locator, bounding box)."""
    plane = page.locator('[data-testid="latent-plane"]').first
    plane.wait_for(timeout=60_000)
    wait_for(lambda: plane.get_attribute("data-z"), what="the plane's first decode")
    wait_until_idle(page)
    plane.scroll_into_view_if_needed()
    box = plane.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100
    return plane, box


def shown_z(plane) -> tuple[float, float]:
    x, y = (float(v) for v in plane.get_attribute("data-z").split(","))
    return x, y


def decoded_pixels(page) -> list[np.ndarray]:
    """Each decoded image on the live plane as float [28, 28] in [0, 1] (read from its canvas)."""
    images = page.locator('[data-testid="decoded-image"]')
    return [np.asarray(images.nth(i).evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"), np.float32)
        .reshape(28, 28, 4)[..., 0] / 255 for i in range(images.count())]


def url_z(page):
    """The z in the page's URL (read in the page: page.url is only refreshed by other Playwright calls)."""
    query = urllib.parse.parse_qs(urllib.parse.urlparse(page.evaluate("() => location.href")).query).get("z")
    return tuple(float(v) for v in query[0].split(",")) if query else None


def readout_z(page) -> tuple[float, float]:
    text = page.locator('[data-testid="z-readout"]').first.inner_text(timeout=1_000)
    assert re.match(r"^z = \(−?\d+\.\d\d, −?\d+\.\d\d\)", text), text
    return parse_z(text.replace("\u2212", "-"))


@pytest.mark.parametrize("model", PLANE_MODELS)
def test_hovering_decodes_in_the_browser_and_a_click_keeps_z(page, server, model):
    from explorer.inference import decode
    from train import load_checkpoint

    open_view(page, server, "decode", model=model)
    plane, box = live_plane(page)
    assert readout_z(page) == (0.0, 0.0) and url_z(page) is None  # the prior's mean until a move
    partners = 0 if model.startswith("fashion") else 1  # the one Fashion-MNIST model has no partner
    assert page.locator('[data-testid="decoded-image"]').count() == 1 + partners
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    before = len(sent)
    page.mouse.move(box["x"] + 0.1 * box["width"], box["y"] + 0.12 * box["height"], steps=8)
    first = wait_for(lambda: (z := shown_z(plane)) != (0.0, 0.0) and z, what="a decode under the pointer")
    first_pixels = decoded_pixels(page)
    page.mouse.move(box["x"] + 0.9 * box["width"], box["y"] + 0.88 * box["height"], steps=8)
    second = wait_for(lambda: (z := shown_z(plane))[0] > 0 and z, what="a second decode")
    time.sleep(0.3)
    assert len(sent) == before  # hovering never talked to the server
    assert first[0] < second[0] and first[1] > second[1]  # top left, then bottom right
    vae = load_checkpoint(REPO / "checkpoints" / model)
    shown = decoded_pixels(page)
    assert np.abs(shown[0] - decode(vae, np.float32(shown_z(plane)))).max() <= 1 / 255 + 1e-6
    assert np.abs(shown[0] - first_pixels[0]).max() > 0.1  # a different image
    page.mouse.click(box["x"] + 0.9 * box["width"], box["y"] + 0.88 * box["height"])
    kept = wait_for(lambda: url_z(page), what="the clicked z in the URL")
    assert abs(kept[0] - second[0]) < 0.01 and abs(kept[1] - second[1]) < 0.01  # a bookmark
    # the page's caption after the commit's rerun (the plane's own readout also starts "Kept z =")
    caption = re.compile(r"^Kept z = .*the nearest test image in latent space is #")
    wait_for(lambda: page.get_by_text(caption).first.inner_text(timeout=1_000), what="the page's caption")
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] - 40)  # leave the plane: the kept z is shown
    wait_for(lambda: abs(shown_z(plane)[0] - kept[0]) < 0.01, what="the kept z again")


def test_the_plane_takes_arrow_keys_and_enter_and_says_where_it_is(page, server):
    open_view(page, server, "decode", model="mnist-vae-2d")
    plane, _ = live_plane(page)
    assert plane.get_attribute("tabindex") == "0" and "arrow keys" in plane.get_attribute("aria-label")
    plane.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    small = wait_for(lambda: (z := shown_z(plane))[0] > 0 and z, what="two small steps")
    page.keyboard.press("Shift+ArrowUp")
    big = wait_for(lambda: (z := shown_z(plane))[1] > 0 and z, what="a large step")
    assert big[1] > 2 * small[0]  # Shift moves five times as far as a plain arrow
    live = page.locator('.lp-live[aria-live="polite"]')
    wait_for(lambda: live.inner_text().startswith("z = ("), what="the spoken position")
    assert "nearest test digit: a " in live.inner_text()
    page.keyboard.press("Enter")
    kept = wait_for(lambda: url_z(page), what="the z kept by Enter")
    assert abs(kept[0] - big[0]) < 0.01 and abs(kept[1] - big[1]) < 0.01


def test_a_tap_on_a_touch_screen_decodes_and_keeps_z(browser, server):
    context = browser.new_context(viewport={"width": 820, "height": 1180}, has_touch=True, is_mobile=True,
                                  device_scale_factor=2)
    page = context.new_page()
    try:
        open_view(page, server, "decode", model="mnist-vae-2d")
        plane, box = live_plane(page)
        page.touchscreen.tap(box["x"] + 0.25 * box["width"], box["y"] + 0.3 * box["height"])
        kept = wait_for(lambda: url_z(page), what="the tapped z in the URL")
        z = shown_z(plane)
        assert abs(kept[0] - z[0]) < 0.01 and abs(kept[1] - z[1]) < 0.01 and z[0] < 0 < z[1]
    finally:
        context.close()


def test_without_a_canvas_the_page_falls_back_to_the_server_plot_with_a_note(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    # No canvas 2D inside the component's shadow root (the rest of the app keeps its canvases).
    context.add_init_script("""(() => {
        const original = HTMLCanvasElement.prototype.getContext;
        HTMLCanvasElement.prototype.getContext = function (...args) {
            return this.getRootNode() instanceof ShadowRoot ? null : original.apply(this, args);
        };
    })()""")
    page = context.new_page()
    try:
        open_view(page, server, "decode", model="mnist-vae-2d")
        wait_for(lambda: page.get_by_text("could not start in this browser").count(), what="the note")
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)  # the click-to-decode plot
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        context.close()


def test_the_style_plane_decodes_the_chosen_class_under_the_pointer(page, server):
    open_view(page, server, "conditional", model="mnist-cvae-2d")
    plane, box = live_plane(page)
    assert page.locator("figcaption", has_text="a 3 in this style").count() == 1
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.3 * box["height"], steps=4)
    first = wait_for(lambda: (z := shown_z(plane)) != (0.0, 0.0) and z, what="a style under the pointer")
    pixels = decoded_pixels(page)[0]
    page.mouse.click(box["x"] + 0.7 * box["width"], box["y"] + 0.7 * box["height"])
    kept = wait_for(lambda: url_z(page), what="the clicked style z in the URL")
    assert first[0] < kept[0] and np.abs(decoded_pixels(page)[0] - pixels).max() > 0.1


def test_a_click_on_the_interpolation_plane_makes_the_nearest_digit_the_end(page, server):
    open_view(page, server, "interpolation", model="mnist-vae-2d", to="2")
    plane, box = live_plane(page)
    page.mouse.click(box["x"] + 0.15 * box["width"], box["y"] + 0.2 * box["height"])
    field = page.get_by_role("spinbutton", name="To test index")
    end = wait_for(lambda: (v := field.input_value(timeout=1_000)) != "2" and v, what="the new end")
    assert 0 <= int(end) < 10_000
    wait_for(lambda: urllib.parse.parse_qs(urllib.parse.urlparse(page.evaluate("() => location.href")).query)
             .get("to") == [end], what="the new end in the URL")


# --- drawing, uploading, sliders ---------------------------------------------------------------


def draw_stroke(page, box, points) -> None:
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
    page.mouse.up()


def drawing_mark(page) -> tuple[float, float]:
    """Where the live plane puts the drawing: the z it decodes while the pointer is elsewhere (the
    drawing's own code, which is also its marked dot)."""
    return shown_z(page.locator('[data-testid="latent-plane"]').first)


def test_drawing_strokes_moves_the_digit_on_the_plane(page, server):
    open_view(page, server, "draw", model="mnist-vae-2d", compare="none")
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    draw_stroke(page, box, [(70, 50), (170, 50)])  # the bar of a 7
    wait_for(lambda: image_src(page, "as MNIST input"), what="the first stroke's digit")
    first_input = image_src(page, "as MNIST input")
    first_mark = wait_for(lambda: drawing_mark(page), what="the drawing's mark")
    draw_stroke(page, box, [(170, 50), (100, 200)])  # its stem
    wait_for(lambda: image_src(page, "as MNIST input") != first_input, what="the second stroke's digit")
    second_mark = wait_for(lambda: (m := drawing_mark(page)) != first_mark and m, what="the mark to move")
    assert second_mark != first_mark
    assert page.locator('[data-testid="stImage"]', has_text="VAE: ").count() == 1  # its reconstruction
    assert page.get_by_text("5 nearest test digits in the VAE").count() == 1
    page.screenshot(path=str(_artifacts() / "drawing.png"))


def photo_jpeg() -> bytes:
    """A phone-photo-like JPEG: a dark 4 on uneven grey paper, blurred, with noise."""
    rng = np.random.default_rng(0)
    paper = np.linspace(170, 225, 480)[None, :] + rng.normal(0, 6, (640, 480))
    image = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))
    ImageDraw.Draw(image).line([(300, 120), (140, 380), (360, 380)], fill=40, width=26)
    ImageDraw.Draw(image).line([(300, 120), (300, 540)], fill=40, width=26)
    buffer = io.BytesIO()
    image.filter(ImageFilter.GaussianBlur(2)).convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def test_uploading_a_photo_shows_it_as_mnist_input_with_its_reconstruction(page, server):
    open_view(page, server, "draw", model="mnist-vae-2d")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "four.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg()}])
    wait_for(lambda: image_src(page, "as MNIST input (inverted)"), what="the uploaded digit")
    assert image_src(page, "your upload")
    assert page.locator('[data-testid="stImage"]', has_text="VAE: ").count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0


def first_active_dimension() -> int:
    metrics = json.loads((REPO / "checkpoints" / "mnist-vae-16d" / "metrics.json").read_text())
    return int(np.argmax(np.asarray(metrics["mean_variance_per_dim"]) > metrics["active_unit_threshold"]))


def test_moving_a_traversal_slider_changes_the_decoded_image(page, server):
    open_view(page, server, "latents", model="mnist-vae-16d")
    before = wait_for(lambda: image_src(page, "decoded z (0 of 16"), what="the decoded digit")
    i = first_active_dimension()
    slider = page.locator('[data-testid="stSlider"]').filter(
        has=page.get_by_text(re.compile(rf"^z{i + 1}$"))).get_by_role("slider")
    slider.focus()
    for _ in range(15):  # +1.5 in steps of 0.1
        page.keyboard.press("ArrowRight")
    after = wait_for(lambda: image_src(page, "decoded z (1 of 16"), what="the traversed digit")
    assert after != before


def test_clicking_a_digit_on_the_latent_map_makes_it_an_interpolation_end(page, server):
    """The default page's live plane: a click on a test digit picks it (its hand-offs work); a class
    hidden with the legend is neither drawn nor picked."""
    from explorer.geometry import plane_extent
    from explorer.inference import load_explorer_model
    from explorer.testdata import load_test_set

    images, labels = load_test_set()
    vae = load_explorer_model(REPO / "checkpoints" / "mnist-vae-2d", images, labels)
    # A test digit far from the crowd near the plane's edge (inside it), so the pointer finds it alone.
    x0, x1, y0, y1 = plane_extent(vae.codes)
    inside = ((vae.codes[:, 0] > x0 + 0.05 * (x1 - x0)) & (vae.codes[:, 0] < x1 - 0.05 * (x1 - x0))
              & (vae.codes[:, 1] > y0 + 0.05 * (y1 - y0)) & (vae.codes[:, 1] < y1 - 0.05 * (y1 - y0)))
    index = int(np.flatnonzero(inside)[np.argmax(np.linalg.norm(vae.codes[inside], axis=1))])
    open_view(page, server, "", model="mnist-vae-2d", compare="none")
    plane, _ = live_plane(page)
    assert page.locator('[data-testid="decoded-image"]').count() == 1  # the VAE decodes under the pointer
    x, y = plane.evaluate("(el, z) => el.latentPoint(z)", [float(v) for v in vae.codes[index]])
    page.mouse.move(x, y, steps=4)
    wait_for(lambda: f"(#{index})" in page.locator('[data-testid="z-readout"]').first.inner_text(),
             what="the digit under the pointer named in the readout")
    # Hide its class with the legend: the readout names another class's digit, and so does a click.
    legend = page.get_by_role("button", name=str(labels[index]), exact=True).first
    legend.click()
    assert legend.get_attribute("aria-pressed") == "false"
    page.mouse.move(x + 1, y, steps=2)
    wait_for(lambda: f"(#{index})" not in page.locator('[data-testid="z-readout"]').first.inner_text(),
             what="another digit once its class is hidden")
    page.mouse.click(x, y)
    picked = wait_for(lambda: page.get_by_text(re.compile(r"^#\d+: a ")).first.inner_text(timeout=1_000),
                      what="the picked digit")
    assert picked.split(": a ")[1].split()[0] != str(labels[index])
    legend.click()  # shown again: a click picks it
    page.mouse.move(x + 1, y, steps=2)
    page.mouse.click(x, y)
    page.get_by_text(f"#{index}: a {labels[index]}").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Interpolate to this digit").first.click()
    time.sleep(0.5)
    page.get_by_role("link", name="Interpolation").click()
    field = page.get_by_role("spinbutton", name="To test index")
    wait_for(lambda: field.input_value() == str(index), what="the interpolation end")


def test_concurrent_sessions_each_see_the_decode_of_their_own_clicks(server):
    """Four browser sessions at once click the plane and upload a digit: no errors, and each one's
    last image is the decode of its own z (the models are shared read-only across sessions).

    The pages are opened one after another (four software-rendered first draws at once on two
    cores once took over a minute), then all four click and upload at the same time; every wait
    lasts as long as the page makes progress (explorer/browser.py)."""
    from concurrent.futures import ThreadPoolExecutor

    from playwright.async_api import async_playwright

    from explorer.browser import open_plane, session
    from train import load_checkpoint

    vae = load_checkpoint(REPO / "checkpoints" / "mnist-vae-2d")

    async def run() -> list[dict]:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            opened = [await open_plane(browser, server) for _ in range(4)]
            results = await asyncio.gather(*[session(browser, server, 4, seed, vae, opened=pages)
                                             for seed, pages in enumerate(opened, start=1)])
            await browser.close()
            return results

    with ThreadPoolExecutor(1) as pool:  # a thread of its own: the sync Playwright above owns this one
        results = pool.submit(asyncio.run, run()).result(timeout=600)
    for r in results:
        assert r["errors"] == [] and len(r["latencies"]) == 4, r
        assert r["pixel_error"] is not None and r["pixel_error"] < 0.01, r


def test_concurrent_sessions_dragging_the_live_plane_each_see_their_own_decode(server):
    """Three sessions drag on the live plane at once, then each keeps its z: no errors, and each
    one's VAE image is torch's decode of its own z (to the 1/255 of an 8-bit canvas)."""
    from concurrent.futures import ThreadPoolExecutor

    from playwright.async_api import async_playwright

    from explorer.browser import live_session
    from train import load_checkpoint

    vae = load_checkpoint(REPO / "checkpoints" / "mnist-vae-2d")

    async def run() -> list[dict]:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            results = await asyncio.gather(*[live_session(browser, server, 2.0, seed, vae)
                                             for seed in (1, 2, 3)])
            await browser.close()
            return results

    with ThreadPoolExecutor(1) as pool:  # a thread of its own: the sync Playwright above owns this one
        results = pool.submit(asyncio.run, run()).result(timeout=600)
    for r in results:
        assert r["errors"] == [] and len(r["latencies"]) > 10, r
        assert r["pixel_error"] is not None and r["pixel_error"] <= 1 / 255 + 1e-6, r


# --- the audience board -------------------------------------------------------------------------

def test_a_phone_sends_a_digit_to_the_presenters_board(page, browser, server):
    """The presenter starts a board; a phone (390x844, touch) opens its page with the room code from
    the presenter's screen, draws a 7 with a finger and sends it, and it appears on the presenter's
    live map; a second digit at once (a photo) hits the rate limit; a wrong room code is refused."""
    page.goto(f"{server}/audience?model=mnist-vae-2d", timeout=60_000)
    page.get_by_role("button", name="Start an audience board").click(timeout=60_000)
    room = wait_for(lambda: urllib.parse.parse_qs(urllib.parse.urlparse(
        page.evaluate("() => location.href")).query).get("room", [None])[0], what="the room code in the URL")
    plane, _ = live_plane(page)
    assert plane.get_attribute("data-marks") == "0"
    page.get_by_text(re.compile(r"^Join at http://")).first.wait_for(timeout=10_000)
    phone_context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                        is_mobile=True, device_scale_factor=3)
    phone = phone_context.new_page()
    try:
        phone.goto(f"{server}/audience?room={room}", timeout=60_000)
        send = phone.get_by_role("button", name="Send to the screen")
        canvas = phone.locator("canvas.upper-canvas").first  # a digit drawn with a finger
        canvas.wait_for(timeout=60_000)
        canvas.scroll_into_view_if_needed()
        wait_until_idle(phone)
        box = canvas.bounding_box()

        def at(fx: float, fy: float) -> tuple[float, float]:
            return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

        finger_stroke(phone_context, phone, [at(0.25 + 0.5 * i / 10, 0.2) for i in range(11)])
        finger_stroke(phone_context, phone, [at(0.75 - 0.3 * i / 14, 0.2 + 0.65 * i / 14) for i in range(15)])
        wait_until_idle(phone)
        send.tap()
        sent = wait_for(lambda: phone.get_by_text(re.compile(r"^Sent! Your digit is #\d+")).first.inner_text(
            timeout=1_000), what="the phone's acknowledgement")
        number = re.search(r"#(\d+)", sent).group(1)
        wait_for(lambda: plane.get_attribute("data-marks") == "1", what="the digit on the presenter's map")
        phone.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            files=[{"name": "four.jpg", "mimeType": "image/jpeg", "buffer": photo_jpeg()}])
        wait_until_idle(phone)
        phone.get_by_role("button", name="Send to the screen").tap()
        phone.get_by_text(re.compile("^Slow down")).first.wait_for(timeout=30_000)
        open_view(phone, server, "audience", room="ABCDEFGHJK")
        phone.get_by_text("No board has this room code").first.wait_for(timeout=30_000)
        assert phone.locator('[data-testid="stException"]').count() == 0
    finally:
        phone_context.close()
    time.sleep(2 * 1.0)  # two polls of the presenter's map: still one digit, no error
    assert plane.get_attribute("data-marks") == "1"
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "1 digit from the room" in page.locator('[data-testid="stMarkdownContainer"]').filter(
        has_text="from the room").first.inner_text()
    # A click on its ring (where the server's database has its code) shows it, by its number.
    from explorer.audience import DB_NAME, AudienceStore, state_dir

    z = AudienceStore(state_dir() / DB_NAME).submissions(room)[0].z
    x, y = plane.evaluate("(el, z) => el.latentPoint(z)", [float(v) for v in z])
    page.mouse.click(x, y)
    page.get_by_text(re.compile(rf"^#{number}: among the ")).first.wait_for(timeout=30_000)


# --- the training time-lapse --------------------------------------------------------------------

def test_the_time_lapse_plays_in_the_browser_and_the_scrubber_moves_both_runs(page, server):
    """Training time-lapse with the shipped VAE and AE: the player shows frame 0 (the untrained
    networks), plays without a Streamlit rerun per frame, and the scrubber jumps to a step."""
    sent = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda frame: sent.append(frame)))
    page.goto(f"{server}/timelapse?model=mnist-vae-2d&compare=mnist-ae-2d", timeout=60_000)
    player = page.locator('[data-testid="timelapse"]').first
    player.wait_for(timeout=60_000)
    wait_until_idle(page)
    assert player.get_attribute("data-frame") == "0" and player.get_attribute("data-step") == "0"
    assert page.locator('[data-testid="timelapse"] figure').count() == 2  # VAE and AE side by side
    before = len(sent)
    player.locator("select").select_option("4")
    page.locator('[data-testid="timelapse-play"]').click()
    wait_for(lambda: int(player.get_attribute("data-frame")) >= 10, what="playback")
    assert len(sent) == before  # the frames play in the browser: nothing went to the server
    stats = player.evaluate("el => el.timelapseStats")
    assert len(stats["shown"]) >= 10
    scrubber = page.locator('[data-testid="timelapse-scrubber"]')
    scrubber.fill("5")
    wait_for(lambda: player.get_attribute("data-frame") == "5", what="the scrubbed frame")
    assert int(player.get_attribute("data-step")) > 0
    assert page.locator('[data-testid="stException"]').count() == 0


# --- touch: a finger draws --------------------------------------------------------------------------

def finger_stroke(context, page, points) -> None:
    """A finger dragged through ``points`` (viewport px): real touch events (touchStart, touchMove
    at each point, touchEnd) through the Chrome DevTools Protocol, as a phone's screen sends them."""
    cdp = context.new_cdp_session(page)

    def touch(kind: str, at: list) -> None:
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y} for x, y in at]})

    touch("touchStart", points[:1])
    for point in points[1:]:
        touch("touchMove", [point])
        time.sleep(0.015)
    touch("touchEnd", [])
    cdp.detach()


@pytest.mark.parametrize("viewport", [(390, 844), (820, 1180)], ids=["phone", "tablet"])
def test_a_finger_draws_a_digit_on_a_phone_or_a_tablet(browser, server, viewport):
    """On a touch screen the canvas takes a finger's strokes (it draws, the page does not scroll),
    and each stroke reaches the page as an MNIST input, as with a mouse."""
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height}, has_touch=True, is_mobile=True,
                                  device_scale_factor=2)
    page = context.new_page()
    try:
        open_view(page, server, "draw", model="mnist-vae-2d", compare="none")
        canvas = page.locator("canvas.upper-canvas").first
        canvas.wait_for(timeout=30_000)
        canvas.scroll_into_view_if_needed()
        wait_until_idle(page)
        box = canvas.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width  # the canvas fits the screen
        scrolled = page.evaluate("() => window.scrollY")
        def at(fx: float, fy: float) -> tuple[float, float]:
            return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

        finger_stroke(context, page, [at(0.5, 0.15 + 0.7 * i / 24) for i in range(25)])  # a 1
        first = wait_for(lambda: image_src(page, "as MNIST input"), what="the finger's digit")
        assert page.evaluate("() => window.scrollY") == scrolled  # the finger drew; it did not scroll
        finger_stroke(context, page, [at(0.3 + 0.4 * i / 12, 0.2) for i in range(13)])  # a bar: a 7
        wait_for(lambda: image_src(page, "as MNIST input") != first, what="the second stroke's digit")
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        context.close()
