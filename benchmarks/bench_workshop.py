"""Train live (workshop mode) while the explorer is in use: a benchmark that prints.

    python benchmarks/bench_workshop.py      # about 2 minutes on 2 cores

One `streamlit run explorer/app.py` (127.0.0.1) and one headless Chromium. First, idle: the live
plane's pointer move -> new pixels latency while hovering (``--seconds``), and today's click path
(Click to decode with classic=1: click -> the server's decoded image shown, ``--clicks`` clicks).
Then a live run starts exactly as the Train live page starts one (``explorer.workshop``: a 2-D VAE
on MNIST, ``python -m train`` in a child process with one torch thread and a lower priority), and
the time from Start to its first frame on disk (the untrained network) is measured; while it
trains, the same two measurements again. The run is cancelled at the end (its checkpoint folder is
a temporary one). Targets: first frame within 5 s; latency while training within 2x of idle.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from explorer.browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    click_latencies,
    drag_stats,
    open_plane,
    start_server,
    stop_server,
)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def measure(browser, url: str, args, seed: int) -> tuple[list[float], list[float]]:
    """(hover latencies of the live plane in ms, click-path latencies in ms)."""
    rng = np.random.default_rng(seed)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    await page.goto(f"{url}/decode?model=mnist-vae-2d")
    hover = (await drag_stats(page, args.seconds, rng, button=False))["latencies"]
    await context.close()
    context, page = await open_plane(browser, url)
    clicks = await click_latencies(page, args.clicks, rng)
    await context.close()
    return hover, clicks


async def run(args) -> None:
    from playwright.async_api import async_playwright

    from explorer import workshop
    from train.frames import read_frames

    state = Path(tempfile.mkdtemp(prefix="bench-workshop-"))
    os.environ["LATENT_EXPLORER_STATE"] = str(state)
    log = REPO / "test-artifacts"
    log.mkdir(exist_ok=True)
    proc, url = start_server(log / "bench-workshop.log")
    ws = workshop.Workshop(state / "checkpoints", state / "work")
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            progress("idle: hover and clicks")
            idle = await measure(browser, url, args, 0)
            progress("Start: a 2-D VAE, 20 epochs")
            started = time.perf_counter()
            live = ws.start(workshop.Settings("VAE", 20))
            first = None
            while first is None and time.perf_counter() - started < 120:
                try:
                    read_frames(live.live)
                    first = time.perf_counter() - started
                except Exception:  # noqa: BLE001 - not written yet
                    await asyncio.sleep(0.05)
            progress("while it trains: hover and clicks")
            busy = await measure(browser, url, args, 1)
            frames = len(read_frames(live.live).step)
            still = live.state() == "running"
            await browser.close()
    finally:
        ws.cancel()
        stop_server(proc)

    def line(what: str, a: list[float], b: list[float]) -> None:
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"  {what:<44} idle median {ma:6.1f} ms (p95 {np.percentile(a, 95):6.1f}); while training "
              f"median {mb:6.1f} ms (p95 {np.percentile(b, 95):6.1f}): {mb / ma:.2f}x   [target: <= 2x]")

    print("\n" + "=" * 100)
    print(f"Train live beside the explorer, 2 cores ({os.cpu_count()}), load average "
          + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print("=" * 100)
    print(f"  Start -> first frame on disk                 {first:.2f} s   [target: <= 5 s]" if first else
          "  no frame within 120 s")
    line("live plane: pointer move -> new pixels", idle[0], busy[0])
    line("click path (classic=1): click -> image", idle[1], busy[1])
    print(f"  the run was {'still training' if still else 'finished'} after the measurements "
          f"({frames} frames recorded); then cancelled")
    print("=" * 100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="hover for this long")
    parser.add_argument("--clicks", type=int, default=20, help="clicks on the click path")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
