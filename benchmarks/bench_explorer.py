"""Explorer latency in a real browser (Playwright + Chromium): a benchmark that prints numbers, not a test.

    python benchmarks/bench_explorer.py                 # everything below, about 5 minutes
    python benchmarks/bench_explorer.py --restarts 1 --clicks 10 --sessions 3   # a quick look

In one run, side by side: the live plane, which decodes in the browser under the pointer
(explorer/latent_plane.py), and today's click path, where each click goes to the server (the same
page with classic=1).

1. First full render: a fresh server (`streamlit run explorer/app.py`, then `python -m explorer`,
   which warms the caches before it listens); the time from the browser's request of the app to the
   default page (the VAE's latent map) fully drawn: every plot's WebGL canvas present and the script
   finished. The server's own start-up time is printed separately.
2. Click latency: on Click to decode, the time from a mouse click on the plane to the new decoded
   image loaded in the page (measured in the page with performance.now()), median and p90.
3. The live plane: pointer event -> the animation frame that drew the new pixels of both decoded
   images (the VAE's and the AE's), measured inside the page (the plane's ``latentStats``), while
   hovering and while dragging for 3 s; frames with new pixels per second of a drag; the time to draw
   the 10,000 points once.
4. Load: N browser sessions at once (one browser context each) dragging on the live plane; each
   then releases (z goes to the URL) and its shown image is compared with torch's decode of its z.
5. Bytes sent to the browser on a first visit (HTTP bodies and websocket frames), for the default
   page and for Click to decode (which sends the decoders' weights and the test-set codes once).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from explorer.browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    LIVE_READY_JS,
    click_latencies,
    drag_stats,
    live_session,
    start_server,
    stop_server,
    wait_while_progressing,
)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def fmt(values: list[float]) -> str:
    if not values:
        return "no values"
    return (f"median {statistics.median(values):.1f} ms, p90 {percentile(values, 90):.1f} ms, "
            f"p95 {percentile(values, 95):.1f} ms, max {max(values):.0f} ms (n = {len(values)})")


async def first_visit_bytes(browser, url: str, ready_js: str) -> tuple[int, int]:
    """(HTTP body bytes, websocket bytes received) of a first visit to ``url`` in a fresh context,
    until ``ready_js`` holds and the app is idle."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    http, ws = [], []
    responses = []
    page.on("response", lambda response: responses.append(response))
    page.on("websocket", lambda socket: socket.on("framereceived", lambda frame: ws.append(len(frame))))
    await page.goto(url)
    await wait_while_progressing(page, ready_js, "the page")
    await asyncio.sleep(1.0)
    for response in responses:
        try:
            http.append(len(await response.body()))
        except Exception:  # noqa: BLE001 - redirects and aborted requests have no body
            pass
    await context.close()
    return sum(http), sum(ws)


PLOTS_READY_JS = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return plots.length >= 1 && plots.every(p => p.querySelector('.gl-canvas-context'))
    && !document.querySelector('[data-testid="stStatusWidget"]');
}"""


async def first_render(browser, url: str) -> float:
    """Seconds from the request of the app to the default page fully drawn."""
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    start = time.perf_counter()
    await page.goto(url)
    await page.wait_for_function(
        """() => {
             const plots = [...document.querySelectorAll('.js-plotly-plot')];
             return plots.length >= 1 && plots.every(p => p.querySelector('.gl-canvas-context'))
               && !document.querySelector('[data-testid="stStatusWidget"]');
           }""", timeout=60_000, polling=20)
    elapsed = time.perf_counter() - start
    await page.close()
    return elapsed


async def main_async(args) -> None:
    from playwright.async_api import async_playwright

    from explorer.catalogue import CHECKPOINT_DIR
    from train import load_checkpoint

    vae = load_checkpoint(CHECKPOINT_DIR / "mnist-vae-2d")
    log = REPO / "test-artifacts"
    log.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)

        for launcher in (False, True):
            renders, startups = [], []
            for run in range(args.restarts):
                t = time.perf_counter()
                proc, url = start_server(log / "bench-streamlit.log", launcher=launcher)
                startups.append(time.perf_counter() - t)
                try:
                    renders.append(await first_render(browser, url))
                finally:
                    if not (launcher and run == args.restarts - 1):  # the last server stays up
                        stop_server(proc)
            name = "python -m explorer" if launcher else "streamlit run explorer/app.py"
            print(f"{name}: server start to healthy "
                  + ", ".join(f"{s:.2f}" for s in startups) + " s; first full render after it started "
                  + ", ".join(f"{s:.2f}" for s in renders)
                  + f" s (median {statistics.median(renders):.2f} s)")
        print(f"a later visit (warm server): {await first_render(browser, url):.2f} s")

        try:
            for path, ready, what in (("", PLOTS_READY_JS, "the default page (Latent map)"),
                                      ("/decode?model=mnist-vae-2d", LIVE_READY_JS, "Click to decode")):
                http, ws = await first_visit_bytes(browser, url + path, ready)
                print(f"bytes to the browser on a first visit to {what}: {http / 1e6:.2f} MB over HTTP "
                      f"(scripts, styles, fonts) + {ws / 1e6:.2f} MB over the websocket")

            fresh = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = await fresh.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(f"{url}/decode?model=mnist-vae-2d&classic=1")
            alone = await click_latencies(page, args.clicks, np.random.default_rng(0))
            await page.goto(f"{url}/decode?model=mnist-vae-2d")
            hover = await drag_stats(page, args.drag_seconds, np.random.default_rng(1), button=False)
            drag = await drag_stats(page, args.drag_seconds, np.random.default_rng(2))
            await fresh.close()

            baseline, baseline_url = start_server(log / "bench-baseline.log",
                                                  app=REPO / "benchmarks" / "baseline_app.py")
            try:
                fresh = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = await fresh.new_page(viewport={"width": 1400, "height": 1000})
                await page.goto(baseline_url)
                floor = await click_latencies(page, args.clicks, np.random.default_rng(0))
                await fresh.close()
            finally:
                stop_server(baseline)

            print("\nOne session, the same page, side by side:")
            secs = f"{args.drag_seconds:.0f}"
            print(f"  live plane, pointer move -> new pixels of both images (hover, {secs} s): "
                  f"{fmt(hover['latencies'])}   [target: median <= 16 ms, p95 <= 33 ms]")
            print(f"  live plane, the same while dragging: {fmt(drag['latencies'])}")
            print(f"  live plane, a {secs}-second drag: {drag['fps']:.1f} frames with new pixels "
                  f"per second ({drag['moves']} pointer events sent)   [target: >= 50]")
            print(f"  live plane, drawing the 10,000 points once (canvas 2D): {drag['points_ms']:.1f} ms")
            print(f"  today's click path (classic=1), click -> decoded image: {fmt(alone)}")
            print(f"  a bare Streamlit page's click path (benchmarks/baseline_app.py): {fmt(floor)}")
            ratio = statistics.median(alone) / statistics.median(drag["latencies"])
            print(f"  click path / live plane, medians: {ratio:.1f}x")

            start = time.perf_counter()
            results = await asyncio.gather(*[live_session(browser, url, args.drag_seconds, seed, vae)
                                             for seed in range(1, args.sessions + 1)])
            wall = time.perf_counter() - start
        finally:
            stop_server(proc)
        await browser.close()
    moves = [ms for r in results for ms in r["latencies"]]
    errors = [e for r in results for e in r["errors"]]
    pixel = [r["pixel_error"] for r in results if r["pixel_error"] is not None]
    fps = [r["fps"] for r in results]
    print(f"\n{args.sessions} sessions dragging at once ({args.drag_seconds:.0f} s each, {wall:.1f} s wall):")
    print(f"  errors: {len(errors)}   [target: 0]" + "".join(f"\n    {e}" for e in errors))
    print(f"  pointer move -> new pixels, all sessions: {fmt(moves)} (one session alone: median "
          f"{statistics.median(drag['latencies']):.1f} ms)")
    print(f"  frames with new pixels per second per session: median {statistics.median(fps):.1f}, "
          f"min {min(fps):.1f}")
    print(f"  sessions whose shown image is torch's decode of their z (max |diff| <= 1/255): "
          f"{sum(e <= 1 / 255 + 1e-6 for e in pixel)}/{args.sessions}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--restarts", type=int, default=3, help="fresh servers for the first-render time")
    parser.add_argument("--clicks", type=int, default=50, help="clicks for the single-session latency")
    parser.add_argument("--sessions", type=int, default=10, help="concurrent browser sessions dragging")
    parser.add_argument("--drag-seconds", type=float, default=3.0, help="length of each hover or drag")
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
