"""Drive the explorer in a real browser (Playwright, Debian's Chromium): a local server, timed clicks on
the server-side plane (`classic=1`), drags on the live plane that decodes in the browser, an upload,
and checks that the decoded image shown is the decode of the session's own z.
Shared by tests/test_browser.py and benchmarks/bench_explorer.py; the app never imports it."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import socket
import subprocess
import sys
import time
import traceback
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CHROMIUM = "/usr/bin/chromium"  # Debian's package; never a browser downloaded by playwright install
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(log_path: Path, launcher: bool = False,
                 app: Path | None = None) -> tuple[subprocess.Popen, str]:
    """`streamlit run explorer/app.py` (or ``app``; or, with ``launcher``, `python -m explorer`, which
    warms the caches first) on a free port; returns (process, url) once it is healthy."""
    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115 - the process owns it until it exits
    app = str(app or REPO / "explorer" / "app.py")
    command = ["-m", "explorer"] if launcher else ["-m", "streamlit", "run", app]
    proc = subprocess.Popen(
        [sys.executable, *command, "--server.port", str(port), "--server.address", "127.0.0.1",
         "--server.headless", "true"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("streamlit did not start within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


# Resolves when the decoded image's <img> has a new src that has finished loading.
WATCH_JS = """() => {
  window.__clicks = [];
  const current = () => {
    const fig = [...document.querySelectorAll('[data-testid="stImage"]')]
      .find(e => e.innerText.includes('decoded by the'));
    return fig ? fig.querySelector('img') : null;
  };
  window.__currentSrc = () => { const img = current(); return img ? img.src : null; };
  document.addEventListener('mousedown', () => { window.__clickAt = performance.now(); }, true);
  window.__waitForNewImage = (previous) => new Promise(resolve => {
    const poll = () => {
      const img = current();
      if (img && img.src && img.src !== previous && img.complete && img.naturalWidth > 0) {
        resolve([img.src, performance.now() - window.__clickAt]);
      } else { setTimeout(poll, 2); }  // not requestAnimationFrame: paused in hidden pages
    };
    poll();
  });
}"""


# How a page shows that it is still getting somewhere: the script runs (Streamlit's status widget)
# or the document grows or changes. Read in the page.
PROGRESS_JS = """() => [document.querySelector('[data-testid="stStatusWidget"]') !== null,
                      document.getElementsByTagName('*').length]"""


async def wait_while_progressing(page, ready_js: str, what: str, stall_s: float = 60,
                                 cap_s: float = 900) -> None:
    """Wait until ``ready_js`` (a JS function returning a truthy value) holds in ``page``.

    There is no fixed deadline: the wait goes on as long as the page makes progress (its script
    runs, or its element count changes), so a machine that is merely busy makes it slower, not
    failing. It raises TimeoutError only after ``stall_s`` seconds without any progress, or after
    ``cap_s`` seconds in all (a bound, so a test can never hang).
    """
    loop = asyncio.get_running_loop()
    start = last_progress = loop.time()
    seen = None
    while True:
        if await page.evaluate(ready_js):
            return
        running, count = await page.evaluate(PROGRESS_JS)
        now = loop.time()
        if running or count != seen:
            seen, last_progress = count, now
        if now - last_progress > stall_s or now - start > cap_s:
            raise TimeoutError(f"waited {now - start:.0f} s for {what}; no progress in the last "
                               f"{now - last_progress:.0f} s")
        await asyncio.sleep(0.25)


async def plane_box(page) -> dict:
    """The clickable area of the page's first plot, once the page has finished running."""
    await wait_while_progressing(
        page, "() => document.querySelector('.js-plotly-plot .nsewdrag') !== null && "
              "!document.querySelector('[data-testid=\"stStatusWidget\"]')", "the plane")
    return await page.locator(".js-plotly-plot").first.locator(".nsewdrag").first.bounding_box()


async def click_latencies(page, n: int, rng: np.random.Generator,
                          latencies: list | None = None) -> list[float]:
    """Click n random spots of the plane; ms from each mousedown to its decoded image loaded (also
    appended to ``latencies`` as they come)."""
    await page.evaluate(WATCH_JS)
    box = await plane_box(page)
    latencies = [] if latencies is None else latencies
    previous = await page.evaluate("() => window.__currentSrc()")  # the image shown before a click
    for _ in range(n):
        fx, fy = rng.uniform(0.05, 0.95), rng.uniform(0.15, 0.95)  # below plotly's toolbar (top right)
        await page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        previous, ms = await asyncio.wait_for(page.evaluate("(p) => window.__waitForNewImage(p)", previous),
                                              timeout=30)
        latencies.append(ms)
        await asyncio.sleep(0.4)  # between two clicks, as a person would pause
    return latencies


def digit_png() -> bytes:
    image = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(image).ellipse((80, 40, 200, 240), outline=0, width=20)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def check_decoded_image(page, vae) -> float:
    """Mean absolute pixel difference between the shown decoded image and the decode of the page's
    own z (read from its URL); a correct image differs only by the URL's 3-decimal rounding."""
    from explorer.inference import decode

    query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    z = np.array([float(v) for v in query["z"][0].split(",")], np.float32)
    src = await page.locator('[data-testid="stImage"]', has_text="decoded by the").locator("img").first \
        .get_attribute("src")
    if src.startswith("data:"):
        body = base64.b64decode(src.split(",", 1)[1])
    else:
        body = await (await page.request.get(urllib.parse.urljoin(page.url, src))).body()
    shown = np.asarray(Image.open(io.BytesIO(body)).convert("L"), np.float32) / 255
    shown = shown.reshape(28, shown.shape[0] // 28, 28, shown.shape[1] // 28).mean(axis=(1, 3))
    return float(np.abs(shown - decode(vae, z)).mean())


# The Draw or upload page shows the preprocessed upload and its reconstruction.
UPLOAD_SHOWN_JS = """() => ['as MNIST input', 'VAE: '].every(caption =>
    [...document.querySelectorAll('[data-testid="stImage"]')].some(e => e.innerText.includes(caption)))"""


async def open_plane(browser, url: str):
    """A new browser context and page showing Click to decode, once its plane is drawn: (context, page)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    await page.goto(f"{url}/decode?model=mnist-vae-2d&classic=1")  # the server-side click path
    await plane_box(page)
    return context, page


async def session(browser, url: str, clicks: int, seed: int, vae, screenshot_dir: str | None = None,
                  opened: tuple | None = None) -> dict:
    """One user: click the plane ``clicks`` times, check the last image, then upload a digit.

    opened: (context, page) from ``open_plane``, to start from a page that is already drawn (the
    test opens its sessions one after another, then clicks in all at once); else one is opened here.
    """
    result = {"latencies": [], "errors": [], "pixel_error": None}
    context = page = None
    try:
        context, page = opened or await open_plane(browser, url)
        await click_latencies(page, clicks, np.random.default_rng(seed), result["latencies"])
        await asyncio.sleep(0.3)  # the URL follows the fragment's rerun
        result["pixel_error"] = await check_decoded_image(page, vae)
        await page.goto(f"{url}/draw?model=mnist-vae-2d")
        await page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            files=[{"name": f"zero-{seed}.png", "mimeType": "image/png", "buffer": digit_png()}])
        await wait_while_progressing(page, UPLOAD_SHOWN_JS, "the upload's images")
        exceptions = await page.locator('[data-testid="stException"]').count()
        if exceptions:
            result["errors"].append(f"{exceptions} exception(s) on the page")
    except Exception as e:  # noqa: BLE001 - a benchmark reports failures, it does not stop on them
        where = traceback.extract_tb(e.__traceback__)[-1]
        result["errors"].append(f"{e!r} at {where.name}:{where.lineno} "
                                f"(after {len(result['latencies'])} clicks)")
        if screenshot_dir is not None and page is not None:
            await page.screenshot(path=f"{screenshot_dir}/session-{seed}-error.png")
    finally:
        if context is not None:
            await context.close()
    return result


# --- the live plane (explorer/latent_plane.py): decodes in the browser ---------------------------

# The plane's canvas lives in a component's open shadow root: look in the document and in every
# shadow root (CSS locators pierce them, querySelector does not).
def find_js(test_id: str) -> str:
    """A JS function returning the first element with ``data-testid`` ``test_id`` in the document or
    in any open shadow root (a component's), or null."""
    return f"""() => {{
  const find = (root) => {{
    const hit = root.querySelector('[data-testid="{test_id}"]');
    if (hit) return hit;
    for (const e of root.querySelectorAll('*')) {{
      if (e.shadowRoot) {{ const inner = find(e.shadowRoot); if (inner) return inner; }}
    }}
    return null;
  }};
  return find(document);
}}"""


FIND_PLANE_JS = find_js("latent-plane")

# Ready: the plane has decoded its first z (data-z), has a nonzero box, and the script has finished.
LIVE_READY_JS = f"""() => {{
  const plane = ({FIND_PLANE_JS})();
  if (!plane || !plane.dataset.z) return false;
  const box = plane.getBoundingClientRect();
  return box.width > 0 && box.height > 0 && !document.querySelector('[data-testid="stStatusWidget"]');
}}"""


async def live_plane_box(page) -> dict:
    """The live plane's bounding box, once it is present, has decoded its first z, has a nonzero
    box and the app is idle (waits as long as the page makes progress: ``wait_while_progressing``)."""
    await wait_while_progressing(page, LIVE_READY_JS, "the live plane")
    plane = page.locator('[data-testid="latent-plane"]').first
    await plane.scroll_into_view_if_needed()
    return await plane.bounding_box()


async def plane_stats(page) -> dict:
    """The live plane's measurements (a copy of its ``latentStats``): {latencies: [ms from each input
    event to the end of the animation frame that drew both decoded images], frames: [performance.now()
    of those frames], draws, pointsMs (ms to draw the test set's points once), now (performance.now())}."""
    return await page.locator('[data-testid="latent-plane"]').first.evaluate(
        "e => ({latencies: [...e.latentStats.latencies], frames: [...e.latentStats.frames], "
        "draws: e.latentStats.draws, pointsMs: e.latentStats.pointsMs, now: performance.now()})")


MOVES_IN_FLIGHT = 4


async def drag_stats(page, seconds: float, rng: np.random.Generator, button: bool = True) -> dict:
    """Move the pointer over the live plane for ``seconds`` along a smooth random curve, in small
    steps (a move every 4 ms or so, as a real mouse reports at 125-1000 Hz), with the button held if
    ``button`` (a drag; released at the end, which commits z), else hovering.

    returns {latencies: [ms] of the frames drawn for this drag's moves, fps: frames with new pixels
    of both images per second of the drag (frames drawn during it / its duration, page clock),
    moves: pointer events sent, seconds: the drag's duration, points_ms: the points layer's draw time}.
    """
    box = await live_plane_box(page)
    phase = rng.uniform(0, 2 * np.pi, size=2)
    speed = rng.uniform(0.8, 1.6, size=2)  # about one sweep of the plane per 2-4 s

    def at(t: float) -> tuple[float, float]:
        fx = 0.5 + 0.4 * np.sin(speed[0] * t + phase[0])
        fy = 0.5 + 0.4 * np.sin(speed[1] * t + phase[1])
        return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

    await page.mouse.move(*at(0.0))
    if button:
        await page.mouse.down()
    t0 = await page.evaluate("() => performance.now()")  # the drag starts: frames after this count
    start = time.perf_counter()
    moves = 0
    in_flight: set[asyncio.Future] = set()
    while (elapsed := time.perf_counter() - start) < seconds:
        # A mouse reports on its own clock and does not wait for the page: up to MOVES_IN_FLIGHT
        # moves are sent before the first is acknowledged (Chromium acknowledges a move only once
        # its frame has run, so awaiting each one would tie the input rate to the frame rate).
        in_flight = {move for move in in_flight if not move.done()}
        if len(in_flight) < MOVES_IN_FLIGHT:
            in_flight.add(asyncio.ensure_future(page.mouse.move(*at(elapsed))))
            moves += 1
        await asyncio.sleep(0.004)  # less than a frame (16.7 ms at 60 Hz)
    await asyncio.gather(*in_flight)
    t1 = await page.evaluate("() => performance.now()")
    await asyncio.sleep(0.05)  # the frame of the last move
    stats = await plane_stats(page)
    if button:
        await page.mouse.up()
    mine = [(f, ms) for f, ms in zip(stats["frames"], stats["latencies"], strict=True) if f > t0]
    during = sum(f <= t1 for f, _ in mine)
    duration = (t1 - t0) / 1000
    return {"latencies": [ms for _, ms in mine], "fps": during / duration if duration > 0 else 0.0,
            "moves": moves, "seconds": duration, "points_ms": stats["pointsMs"]}


def _url_z(url: str) -> np.ndarray | None:
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    if "z" not in query:
        return None
    return np.array([float(v) for v in query["z"][0].split(",")], np.float32)


# Opened at a page's URL (/decode), Streamlit's frontend first looks for its server under that path
# (/decode/_stcore/health, /decode/_stcore/host-config: 404, logged as console errors), then at the
# root: streamlit/streamlit#7074, not the app's doing. live_session keeps these out of its errors.
STREAMLIT_PROBE = re.compile(r"^/.+/_stcore/(health|host-config)$")
READOUT_Z = re.compile(r"z = \(([−\-]?\d+\.\d+), ([−\-]?\d+\.\d+)\)")


async def live_session(browser, url: str, seconds: float, seed: int, vae) -> dict:
    """One user of the live plane: open Click to decode (``/decode?model=mnist-vae-2d``) in a new
    browser context, drag for ``seconds``, release (which commits z: it must appear in the URL), and
    check the shown VAE image (the first decoded-image canvas's pixels) against torch's decode
    (``explorer.inference.decode``) of the shown z (the plane's data-z, full precision; the URL's z
    and the readout must agree with it to their rounding).

    returns {latencies (ms per frame of the drag), fps, errors (exceptions shown on the page, page
    errors, console errors other than Streamlit's own 404 probes (``STREAMLIT_PROBE``), failed
    checks), console (every console error, with its URL), pixel_error (max |diff| in [0, 1]; 1/255
    is the canvas's rounding), pixel_mean_error (mean |diff|)}.
    """
    from explorer.inference import decode

    result = {"latencies": [], "fps": 0.0, "errors": [], "console": [], "pixel_error": None,
              "pixel_mean_error": None}
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.on("pageerror", lambda e: result["errors"].append(f"page error: {e}"))

    def console(message) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            result["console"].append(f"{message.text} ({where})")
            if not STREAMLIT_PROBE.search(urllib.parse.urlparse(where).path):
                result["errors"].append(f"console error: {message.text[:300]} ({where})")

    page.on("console", console)
    try:
        await page.goto(f"{url}/decode?model=mnist-vae-2d")
        drag = await drag_stats(page, seconds, np.random.default_rng(seed))
        result["latencies"], result["fps"] = drag["latencies"], drag["fps"]
        await wait_while_progressing(page, "() => new URL(location.href).searchParams.has('z')",
                                     "the kept z in the URL")
        plane = page.locator('[data-testid="latent-plane"]').first
        z = np.array([float(v) for v in (await plane.get_attribute("data-z")).split(",")], np.float32)
        url_z = _url_z(page.url)
        if url_z is None or np.abs(url_z - z).max() > 0.0051:
            result["errors"].append(f"the URL's z {url_z} is not the shown z {z}")
        readout = await page.locator('[data-testid="z-readout"]').first.inner_text()
        match = READOUT_Z.search(readout)
        shown_z = None if match is None else np.array(
            [float(v.replace("−", "-")) for v in match.groups()], np.float32)
        if shown_z is None or np.abs(shown_z - z).max() > 0.0051:
            result["errors"].append(f"the readout {readout!r} is not the shown z {z}")
        pixels = await page.locator('[data-testid="decoded-image"]').first.evaluate(
            "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)")
        shown = np.asarray(pixels, np.float32).reshape(28, 28, 4)[..., 0] / 255
        difference = np.abs(shown - decode(vae, z))
        result["pixel_error"] = float(difference.max())
        result["pixel_mean_error"] = float(difference.mean())
        exceptions = await page.locator('[data-testid="stException"]').count()
        if exceptions:
            result["errors"].append(f"{exceptions} exception(s) on the page")
    except Exception as e:  # noqa: BLE001 - a benchmark reports failures, it does not stop on them
        where = traceback.extract_tb(e.__traceback__)[-1]
        result["errors"].append(f"{e!r} at {where.name}:{where.lineno}")
    finally:
        await context.close()
    return result
