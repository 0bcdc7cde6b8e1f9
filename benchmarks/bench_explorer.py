"""Explorer latency in a real browser (Playwright + Chromium): a benchmark that prints numbers, not a test.

    python benchmarks/bench_explorer.py                 # first render, click latency, 10-session load
    python benchmarks/bench_explorer.py --clicks 50 --sessions 10 --session-clicks 10

1. First full render: a fresh server (`streamlit run explorer/app.py`, then `python -m explorer`,
   which warms the caches before it listens); the time from the browser's request of the app to the
   default page (the VAE's latent map) fully drawn: every plot's WebGL canvas present and the script
   finished. The server's own start-up time is printed separately.
2. Click latency: on Click to decode, the time from a mouse click on the plane to the new decoded
   image loaded in the page (measured in the page with performance.now()), median and p90.
3. Load: N browser sessions at once (one browser context each), each clicking the plane and then
   uploading a digit. Every decoded image is fetched and compared with the decode of that session's
   own z (from its URL), so a mixed-up or wrong image is caught; errors are counted; click latency
   under load is reported.
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

from explorer.browser import CHROMIUM, CHROMIUM_ARGS, click_latencies, session, start_server, stop_server  # noqa: E402,E501


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def fmt(values: list[float]) -> str:
    return (f"median {statistics.median(values):.0f} ms, p90 {percentile(values, 90):.0f} ms, "
            f"max {max(values):.0f} ms (n = {len(values)})")


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
            fresh = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = await fresh.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(f"{url}/decode?model=mnist-vae-2d")
            alone = await click_latencies(page, args.clicks, np.random.default_rng(0))
            await fresh.close()
            cold = args.cold_clicks
            print(f"click to decoded image, one session in a fresh browser, all clicks: {fmt(alone)}")
            print(f"  its first {cold} clicks: {fmt(alone[:cold])}")
            print(f"  clicks {cold + 1}-{len(alone)}: {fmt(alone[cold:])}")

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
            ratio = statistics.median(alone) / statistics.median(floor)
            print(f"  the same on a bare page (benchmarks/baseline_app.py: one 2,500-point WebGL scatter, "
                  f"one image): {fmt(floor)}; the explorer takes {ratio:.2f}x its median")

            start = time.perf_counter()
            results = await asyncio.gather(*[session(browser, url, args.session_clicks, seed, vae, str(log))
                                             for seed in range(1, args.sessions + 1)])
            wall = time.perf_counter() - start
        finally:
            stop_server(proc)
        await browser.close()
    loaded = [ms for r in results for ms in r["latencies"]]
    errors = [e for r in results for e in r["errors"]]
    pixel = [r["pixel_error"] for r in results if r["pixel_error"] is not None]
    print(f"{args.sessions} sessions at once, {args.session_clicks} clicks + 1 upload each, "
          f"{wall:.1f} s wall:")
    print(f"  click to decoded image under load: {fmt(loaded) if loaded else 'no clicks completed'}")
    print(f"  sessions with a correct decoded image (mean |pixel diff| < 0.01 vs own z): "
          f"{sum(e < 0.01 for e in pixel)}/{args.sessions} (worst {max(pixel, default=float('nan')):.4f})")
    print(f"  errors: {len(errors)}" + "".join(f"\n    {e}" for e in errors))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--restarts", type=int, default=3, help="fresh servers for the first-render time")
    parser.add_argument("--clicks", type=int, default=50, help="clicks for the single-session latency")
    parser.add_argument("--cold-clicks", type=int, default=15,
                        help="clicks reported apart: a fresh browser is slower until it has warmed up")
    parser.add_argument("--sessions", type=int, default=10, help="concurrent browser sessions")
    parser.add_argument("--session-clicks", type=int, default=10, help="clicks per concurrent session")
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
