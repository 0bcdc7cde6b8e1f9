"""The training time-lapse page in a real browser (Playwright + Debian's Chromium): a benchmark that prints.

    python benchmarks/bench_timelapse.py            # about a minute on 2 cores

For ``--restarts`` fresh `streamlit run explorer/app.py` servers (127.0.0.1), the first full render
of Training time-lapse with ``mnist-vae-2d`` beside ``mnist-ae-2d``: from the browser's request to
the player drawn ([data-testid="timelapse"] with data-frame) and the script finished; then playback
at the fastest speed (4x: 32 frames a second asked) for ``--seconds``: frames shown per second and
the time to draw one (both runs' points, manifold tiles and the loss cursor), measured in the page
(the player's ``timelapseStats``); and the bytes sent (websocket). Targets: first render <= 3 s,
playback >= 20 frames per second. Progress goes to stderr, numbers to stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from explorer.browser import CHROMIUM, CHROMIUM_ARGS, find_js, start_server, stop_server  # noqa: E402

URL = "/timelapse?model=mnist-vae-2d&compare=mnist-ae-2d"
READY_JS = f"""() => {{
  const player = ({find_js("timelapse")})();
  return player && player.dataset.frame !== undefined
    && !document.querySelector('[data-testid="stStatusWidget"]');
}}"""


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--restarts", type=int, default=3, help="fresh servers for the first render")
    parser.add_argument("--seconds", type=float, default=3.0, help="playback measured for this long")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    log = REPO / "test-artifacts"
    log.mkdir(exist_ok=True)
    renders, fps, draws, ws_bytes = [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        for run in range(args.restarts):
            progress(f"fresh server #{run + 1}")
            proc, url = start_server(log / "bench-timelapse.log")
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                frames: list[int] = []
                page.on("websocket", lambda ws, frames=frames: ws.on(
                    "framereceived", lambda payload: frames.append(len(payload))))
                start = time.perf_counter()
                page.goto(url + URL)
                page.wait_for_function(READY_JS, timeout=120_000, polling=20)
                renders.append(time.perf_counter() - start)
                ws_bytes.append(sum(frames))
                player = page.locator('[data-testid="timelapse"]').first
                player.locator("select").select_option("4")
                page.locator('[data-testid="timelapse-play"]').click()
                time.sleep(args.seconds)
                stats = player.evaluate("el => el.timelapseStats")
                shown = stats["shown"]
                if len(shown) > 1:
                    fps.append((len(shown) - 1) / ((shown[-1] - shown[0]) / 1000))
                draws += stats["draws"]
                context.close()
            finally:
                stop_server(proc)
        browser.close()
    print("\n" + "=" * 100)
    print(f"Training time-lapse ({URL}), {args.restarts} fresh `streamlit run` servers, headless "
          "Chromium, 2 cores")
    print("=" * 100)
    print(f"  first full render        {', '.join(f'{r:.2f}' for r in renders)} s "
          f"(median {statistics.median(renders):.2f})   [target: <= 3 s]")
    print(f"  playback at 4x           {', '.join(f'{f:.1f}' for f in fps)} frames/s   [target: >= 20]")
    print(f"  drawing one frame        median {statistics.median(draws):.1f} ms, max {max(draws):.1f} ms "
          f"(n = {len(draws)})")
    print(f"  websocket bytes          {statistics.median(ws_bytes) / 1e6:.2f} MB (both runs' frames, once)")
    print("=" * 100)


if __name__ == "__main__":
    main()
