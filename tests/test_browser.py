"""Real-browser test: Playwright drives Debian's Chromium against `streamlit run explorer/app.py`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]

pytestmark = pytest.mark.browser

if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip("Debian chromium is not installed (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    log = open(_artifacts() / "streamlit.log", "w")  # noqa: SIM115 - closed after the server stops
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "explorer" / "app.py"),
         "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start within 60 s")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _artifacts() -> Path:
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.console_messages = []  # every console message, for tests that check for warnings
        page.on("console", lambda message: page.console_messages.append(message.text))
        page.goto(server, timeout=60_000)
        page.get_by_role("tab", name="Click to decode").wait_for(timeout=60_000)
        yield page
        browser.close()


def decoded_image(page, timeout=30_000) -> tuple[str, str]:
    """(src of the decoded image, the z text) once they are shown."""
    img = page.locator('[data-testid="stImage"]', has_text="decoded by the").locator("img")
    img.first.wait_for(timeout=timeout)
    z_text = page.get_by_text("z = (").first.inner_text(timeout=timeout)
    return img.first.get_attribute("src"), z_text


def test_clicking_two_empty_spots_decodes_two_different_images(page):
    page.get_by_role("tab", name="Click to decode").click()
    panel = page.get_by_role("tabpanel").filter(has_text="Decode with")
    plot = panel.locator(".js-plotly-plot").first
    plot.wait_for(timeout=60_000)
    drag = plot.locator(".nsewdrag").first  # the plot area that receives clicks
    drag.wait_for(timeout=30_000)
    box = drag.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100

    # Near two opposite corners of the plane: empty space, away from the encoded digits.
    page.mouse.click(box["x"] + 0.06 * box["width"], box["y"] + 0.08 * box["height"])
    first_src, first_z = wait_for_change(page, None)
    page.mouse.click(box["x"] + 0.92 * box["width"], box["y"] + 0.9 * box["height"])
    second_src, second_z = wait_for_change(page, first_z)
    page.screenshot(path=str(_artifacts() / "zplane-click.png"), full_page=False)

    assert first_src and second_src and first_src != second_src
    assert first_z != second_z
    (x1, y1), (x2, y2) = parse_z(first_z), parse_z(second_z)
    assert x1 < x2 and y1 > y2  # top-left then bottom-right of the plane


def wait_for_change(page, previous_z, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            src, z = decoded_image(page, timeout=2_000)
            if z != previous_z:
                return src, z
        except Exception:  # noqa: BLE001 - playwright timeouts while the fragment reruns
            pass
        time.sleep(0.2)
    raise AssertionError(f"the decoded image did not update after the click (still {previous_z})")


def parse_z(text: str) -> tuple[float, float]:
    inside = text[text.index("(") + 1 : text.index(")")]
    x, y = (float(v) for v in inside.split(","))
    return x, y


def test_clicking_a_digit_in_the_scatter_makes_it_an_interpolation_end(page):
    from explorer.core import load_explorer_model, load_test_set

    images, labels = load_test_set()
    vae = load_explorer_model(REPO / "checkpoints" / "mnist-vae-2d", images[:1000])
    # A test digit far from the crowd near its cluster's edge, so the click lands on it alone.
    index = int(np.argmax(np.linalg.norm(vae.codes, axis=1)))
    page.get_by_role("tab", name="Latent scatter").click()
    panel = page.get_by_role("tabpanel").filter(has_text="Each dot is one of")
    plot = panel.locator(".js-plotly-plot").nth(1)  # the VAE's scatter
    plot.locator(".nsewdrag").first.wait_for(timeout=30_000)
    x, y = page.evaluate(
        """([el, z]) => {
             const L = el._fullLayout, b = el.getBoundingClientRect();
             return [b.left + L.xaxis._offset + L.xaxis.l2p(z[0]),
                     b.top + L.yaxis._offset + L.yaxis.l2p(z[1])];
           }""",
        [plot.element_handle(), [float(vae.codes[index, 0]), float(vae.codes[index, 1])]],
    )
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.get_by_text(f"#{index}: a {labels[index]}").first.wait_for(timeout=30_000)
    panel.get_by_role("button", name="Interpolate to this digit").first.click()
    page.get_by_role("tab", name="Interpolation").click()
    field = page.get_by_label("To test index")
    deadline = time.monotonic() + 20
    while field.input_value() != str(index) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert field.input_value() == str(index)


TABS = ["Latent scatter", "Click to decode", "Reconstructions", "Interpolation", "Posterior",
        "Upload a digit", "Denoising", "Prior sampling", "Conditional generation", "16-D latents", "Toy demo",
        "Model card"]


def open_tab(page, name: str):
    """Click a tab and wait until its panel shows content; returns the panel locator."""
    tab = page.get_by_role("tab", name=name)
    tab.scroll_into_view_if_needed()
    tab.click()
    panel = page.get_by_role("tabpanel")
    content = '[data-testid="stImage"], .js-plotly-plot, [data-testid="stFileUploader"]'
    panel.locator(content).first.wait_for(timeout=30_000)
    return panel


def lost_webgl_canvases(page) -> int:
    """How many WebGL canvases on the page have lost their context (a plot drawn blank)."""
    return page.evaluate("""() => [...document.querySelectorAll('canvas')]
        .map(c => c.getContext('webgl2') || c.getContext('webgl'))
        .filter(gl => gl && gl.isContextLost()).length""")


def test_every_tab_renders_in_the_browser_and_its_webgl_plots_stay_alive(page):
    # Only the open tab runs. With every tab drawn at once, the page needed more live WebGL
    # contexts than Chromium keeps (about 16) and the oldest scatters went blank.
    for i, name in enumerate(TABS):
        open_tab(page, name)
        assert page.locator('[data-testid="stException"]').count() == 0, name
        page.screenshot(path=str(_artifacts() / f"tab-{i:02d}.png"), full_page=True)
    for name in ("Latent scatter", "16-D latents"):  # back to WebGL-heavy tabs after all the others
        open_tab(page, name)
        page.locator(".js-plotly-plot canvas").first.wait_for(timeout=30_000)
        time.sleep(1.0)  # let plotly draw
        assert lost_webgl_canvases(page) == 0, name
