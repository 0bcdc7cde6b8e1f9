"""Explorer speed in a real browser (Playwright + Debian's Chromium): a benchmark that prints numbers.

    python benchmarks/bench_explorer.py                 # everything below, about 3 minutes on 2 cores
    python benchmarks/bench_explorer.py --restarts 1 --clicks 10 --sessions 3   # a quick look

In one run, side by side: the live plane on Click to decode (``/decode?model=mnist-vae-2d``), which
decodes in the browser under the pointer (explorer/latent_plane.py, explorer/frontend/plane.js), and
today's click path, where each click goes to the server (the same page with ``classic=1``). It ends
with one block of numbers, each with its target where there is one:

1. The live plane, one session: pointer event -> the end of the animation frame that drew the new
   pixels of both decoded images (the VAE's and the AE's), measured inside the page (the plane's
   ``latentStats``), median and p95, while hovering (no button) and while dragging; frames with new
   pixels per second of a drag (``--drag-seconds``, default 3); the time to draw the 10,000 test-set
   points once (``latentStats.pointsMs``).
2. Today's click path (classic=1): the time from a mouse click on the plotly plane to the new
   decoded image loaded in the page (performance.now() in the page), median and p95; and the same on
   a bare Streamlit page (benchmarks/baseline_app.py), the floor of any server round trip.
3. Load: ``--sessions`` browser contexts at once (default 10), each opening Click to decode and
   dragging; errors (exceptions on the page, page and console errors, failed checks), per-move
   latency and frame rate against one session alone, measured the same way just before; each session
   then releases (z goes to the URL) and its shown image is compared with torch's decode of its z.
4. First full render after a fresh `streamlit run explorer/app.py` (and `python -m explorer`, which
   warms the caches before it listens): from the browser's request to the default page (the VAE's
   Latent map, on the live plane) fully drawn (the plane has decoded its first z and the script has
   finished); a later visit; the same for Click to decode. Side by side: the server's start-up (to
   healthy) and its background warm-up (imports, default models: explorer/startup.py, from its log
   line); the default page as it was (plotly scatter: ``classic=1``, every WebGL canvas present); and
   a bare Streamlit page (benchmarks/floor_app.py), the floor of any first render.
5. Bytes sent to the browser on a first visit (a fresh browser context), for the default page and
   for Click to decode (which sends the decoders' weights and the test-set codes once per session):
   HTTP response bodies (static assets: /static/; other HTTP: media, health, host config) and
   websocket frames received.

Progress goes to stderr; the numbers to stdout. Servers listen on 127.0.0.1 and are stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from explorer.browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    LIVE_READY_JS,
    STREAMLIT_PROBE,
    click_latencies,
    drag_stats,
    live_session,
    start_server,
    stop_server,
    wait_while_progressing,
)

DECODE = "/decode?model=mnist-vae-2d"
VIEWPORT = {"width": 1400, "height": 1000}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(values: list[float]) -> str:
    """median and p95 of ms values, with max and n."""
    if not values:
        return "no values"
    return (f"median {median(values):6.1f} ms, p95 {percentile(values, 95):6.1f} ms "
            f"(max {max(values):.0f}, n = {len(values)})")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cores"


async def first_visit_bytes(browser, url: str, ready_js: str) -> dict:
    """Bytes sent to a first visit of ``url`` in a fresh context, until ``ready_js`` holds and the app
    is idle (plus 1 s): {static: HTTP bodies under /static/, http: other HTTP bodies, ws: websocket
    frames received, requests: HTTP responses}."""
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    responses, frames = [], []
    page.on("response", lambda response: responses.append(response))
    page.on("websocket", lambda socket: socket.on(
        "framereceived", lambda payload: frames.append(len(payload.encode() if isinstance(payload, str)
                                                           else payload))))
    await page.goto(url)
    await wait_while_progressing(page, ready_js, "the page")
    await asyncio.sleep(1.0)
    static = other = 0
    for response in responses:
        try:
            size = len(await response.body())
        except Exception:  # noqa: BLE001 - redirects, the websocket upgrade and aborted requests
            continue
        if "/static/" in urllib.parse.urlparse(response.url).path:
            static += size
        else:
            other += size
    await context.close()
    return {"static": static, "http": other, "ws": sum(frames), "requests": len(responses)}


PLOTS_READY_JS = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return plots.length >= 1 && plots.every(p => p.querySelector('.gl-canvas-context'))
    && !document.querySelector('[data-testid="stStatusWidget"]');
}"""


FLOOR_READY_JS = """() => document.body.innerText.includes('Drawn: the floor')
  && !document.querySelector('[data-testid="stStatusWidget"]')"""


def warm_up_line(log_path: Path) -> str:
    """The server's "warmed up in ..." line (explorer/startup.py), once it is in its log (<= 30 s)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for text in log_path.read_text(errors="replace").splitlines():
            if "latent-explorer: warmed up in" in text:
                return text.split("latent-explorer: ", 1)[1]
        time.sleep(0.1)
    return "no warm-up line"


async def first_render(browser, url: str, ready_js: str) -> float:
    """Seconds from the request of ``url`` to the page fully drawn: when ``ready_js`` holds."""
    page = await browser.new_page(viewport=VIEWPORT)
    start = time.perf_counter()
    await page.goto(url)
    await page.wait_for_function(ready_js, timeout=120_000, polling=20)
    elapsed = time.perf_counter() - start
    await page.close()
    return elapsed


async def first_renders(browser, args, log: Path) -> tuple[dict, object, str]:
    """Fresh servers: start-up and first full render, for `streamlit run` and `python -m explorer`,
    then Click to decode's; returns (numbers, the last launcher server's process, its url), which
    stays up for the rest of the run."""
    out = {}
    proc = url = None
    for launcher in (False, True):
        renders, startups, warm = [], [], []
        for run in range(args.restarts):
            progress(f"first render, {'python -m explorer' if launcher else 'streamlit run'} #{run + 1}")
            t = time.perf_counter()
            proc, url = start_server(log / "bench-streamlit.log", launcher=launcher)
            startups.append(time.perf_counter() - t)
            kept = launcher and run == args.restarts - 1  # the last server stays up for the rest
            try:
                renders.append(await first_render(browser, url, LIVE_READY_JS))
                warm.append(warm_up_line(log / "bench-streamlit.log"))
            except BaseException:
                stop_server(proc)
                raise
            if not kept:
                stop_server(proc)
        out["launcher" if launcher else "run"] = (startups, renders, warm)
    try:
        out["warm"] = await first_render(browser, url, LIVE_READY_JS)
        live = []
        for run in range(args.restarts):
            progress(f"first render of Click to decode (live plane), streamlit run #{run + 1}")
            proc_live, live_url = start_server(log / "bench-streamlit.log")
            try:
                first = await first_render(browser, live_url + DECODE, LIVE_READY_JS)
                live.append((first, await first_render(browser, live_url + DECODE, LIVE_READY_JS)))
            finally:
                stop_server(proc_live)
        out["live"] = live
        for name, app, path, ready in (("classic", None, "/?classic=1", PLOTS_READY_JS),
                                       ("floor", REPO / "benchmarks" / "floor_app.py", "", FLOOR_READY_JS)):
            times = []
            for run in range(args.restarts):
                progress(f"first render, {name} #{run + 1}")
                proc_other, other_url = start_server(log / f"bench-{name}.log", app=app)
                try:
                    times.append(await first_render(browser, other_url + path, ready))
                finally:
                    stop_server(proc_other)
            out[name] = times
    except BaseException:
        stop_server(proc)
        raise
    return out, proc, url


def watch_errors(page, errors: list[str], probes: list[str]) -> None:
    """Collect ``page``'s page errors and console errors; Streamlit's own 404 probes of a page URL's
    path (streamlit/streamlit#7074) go to ``probes``."""
    def console(message) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            probe = STREAMLIT_PROBE.search(urllib.parse.urlparse(where).path)
            (probes if probe else errors).append(f"console error: {message.text} ({where})")

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))


async def one_session(p, url: str, args) -> dict:
    """In a fresh browser: today's click path (classic=1), then hovering and dragging on the live
    plane, in one page each; and the console errors of both pages."""
    browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    console, probes = [], []
    try:
        page = await browser.new_page(viewport=VIEWPORT)
        watch_errors(page, console, probes)
        progress(f"today's click path (classic=1): {args.clicks} clicks")
        await page.goto(f"{url}{DECODE}&classic=1")
        clicks = await click_latencies(page, args.clicks, np.random.default_rng(0))
        await page.close()
        page = await browser.new_page(viewport=VIEWPORT)
        watch_errors(page, console, probes)
        progress(f"live plane: hover {args.drag_seconds:g} s, then drag {args.drag_seconds:g} s")
        await page.goto(url + DECODE)
        hover = await drag_stats(page, args.drag_seconds, np.random.default_rng(1), button=False)
        drag = await drag_stats(page, args.drag_seconds, np.random.default_rng(2))
        await asyncio.sleep(1.0)  # the commit's rerun, for any console error it causes
    finally:
        await browser.close()
    return {"clicks": clicks, "hover": hover, "drag": drag, "console": console, "probes": probes}


async def baseline_clicks(p, args, log: Path) -> list[float]:
    """The click path of a bare Streamlit page (benchmarks/baseline_app.py), in a fresh browser."""
    progress(f"bare Streamlit page: {args.clicks} clicks")
    proc, url = start_server(log / "bench-baseline.log", app=REPO / "benchmarks" / "baseline_app.py")
    try:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport=VIEWPORT)
            await page.goto(url)
            return await click_latencies(page, args.clicks, np.random.default_rng(0))
        finally:
            await browser.close()
    finally:
        stop_server(proc)


async def main_async(args) -> None:
    from playwright.async_api import async_playwright

    from explorer.catalogue import CHECKPOINT_DIR
    from train import load_checkpoint

    began = time.perf_counter()
    load_before = load()
    vae = load_checkpoint(CHECKPOINT_DIR / "mnist-vae-2d")
    log = REPO / "test-artifacts"
    log.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            renders, proc, url = await first_renders(browser, args, log)
            try:
                progress("bytes on a first visit")
                sizes = {name: await first_visit_bytes(browser, url + path, ready)
                         for name, path, ready in (("default page (Latent map)", "", LIVE_READY_JS),
                                                   (f"Click to decode ({DECODE})", DECODE, LIVE_READY_JS))}
                single = await one_session(p, url, args)
                progress(f"live plane, one session alone dragging {args.drag_seconds:g} s")
                alone = await live_session(browser, url, args.drag_seconds, 0, vae)
                progress(f"live plane, {args.sessions} sessions dragging at once")
                start = time.perf_counter()
                results = await asyncio.gather(*[live_session(browser, url, args.drag_seconds, seed, vae)
                                                 for seed in range(1, args.sessions + 1)])
                wall = time.perf_counter() - start
            finally:
                stop_server(proc)
        finally:
            await browser.close()
        floor = await baseline_clicks(p, args, log)
    report(args, renders, sizes, single, alone, results, wall, floor,
           load_before, time.perf_counter() - began)


def report(args, renders, sizes, single, alone, results, wall, floor, load_before, seconds) -> None:
    """The one block of numbers."""
    hover, drag, clicks = single["hover"], single["drag"], single["clicks"]
    secs = f"{args.drag_seconds:g}"
    w = 62

    def line(what: str, value: str, target: str = "") -> None:
        print(f"  {what:<{w}} {value}" + (f"   [{target}]" if target else ""))

    def latency_target(values: list[float]) -> str:
        ok = median(values) <= 16 and percentile(values, 95) <= 33
        return f"target: median <= 16 ms, p95 <= 33 ms: {verdict(ok)}"

    print("\n" + "=" * 100)
    print(f"latent-explorer in Chromium: {load_before} at the start, {load()} at the end; "
          f"{seconds / 60:.1f} min")
    print("=" * 100)
    print("The live plane, one session (decodes in the browser; inside the page, latentStats):")
    line(f"pointer move -> new pixels of both images, hovering {secs} s", fmt(hover["latencies"]),
         latency_target(hover["latencies"]))
    line(f"pointer move -> new pixels of both images, dragging {secs} s", fmt(drag["latencies"]),
         latency_target(drag["latencies"]))
    line(f"frames with new pixels per second, a {secs}-s drag",
         f"{drag['fps']:.1f} fps ({drag['moves']} pointer moves sent; hovering: {hover['fps']:.1f} fps)",
         f"target: >= 50: {verdict(drag['fps'] >= 50)}")
    line("drawing the 10,000 test-set points once (pointsMs)", f"{drag['points_ms']:.1f} ms")
    line("console or page errors (click path and live plane pages)", f"{len(single['console'])} "
         f"(and {len(single['probes'])} 404s of Streamlit's own /decode/_stcore/ probe, streamlit#7074)")
    for message in single["console"][:5]:
        print(f"      {message[:200]}")
    print("Today's click path, one session (each click goes to the server):")
    line("click -> decoded image loaded, Click to decode with classic=1", fmt(clicks))
    line("the same on a bare Streamlit page (baseline_app.py, the floor)", fmt(floor))
    if clicks and drag["latencies"]:
        line("click path / live plane dragging, medians",
             f"{median(clicks) / median(drag['latencies']):.0f}x slower")

    moves = [ms for r in results for ms in r["latencies"]]
    errors = [e for r in results for e in r["errors"]]
    fps = [r["fps"] for r in results]
    exact = sum(r["pixel_error"] is not None and r["pixel_error"] <= 1 / 255 + 1e-6 for r in results)
    means = [r["pixel_mean_error"] for r in results if r["pixel_mean_error"] is not None]
    print(f"{args.sessions} sessions dragging the live plane at once ({secs} s each; {wall:.1f} s wall "
          "from opening the pages to the last check):")
    probes = sum(len(r["console"]) for r in results) - sum(e.startswith("console error") for e in errors)
    line("errors (page exceptions, page/console errors, failed checks)",
         f"{len(errors)} (and {probes} 404s of Streamlit's /decode/_stcore/ probe, not counted)",
         f"target: 0: {verdict(not errors)}")
    for e in errors[:8]:
        print(f"      {e[:200]}")
    line("pointer move -> new pixels, all sessions", fmt(moves), latency_target(moves))
    line("   one session alone, measured the same way just before", fmt(alone["latencies"]))
    line("frames with new pixels per second per session",
         f"median {median(fps):.1f}, min {min(fps, default=float('nan')):.1f} fps "
         f"(alone: {alone['fps']:.1f})", f"target: >= 50: {verdict(min(fps, default=0) >= 50)}")
    line("sessions whose VAE image is torch's decode of their z",
         f"{exact}/{args.sessions} within 1/255 (mean |diff| max {max(means, default=float('nan')):.4f})",
         f"target: all, mean |diff| < 0.01: {verdict(exact == args.sessions)}")
    if alone["errors"]:
        print(f"      one session alone: {alone['errors']}")

    print("First full render after a fresh server (seconds from the browser's request, each restart):")
    for key, name in (("run", "streamlit run explorer/app.py"), ("launcher", "python -m explorer")):
        startups, times, warm = renders[key]
        line(f"{name}: default page drawn", ", ".join(f"{s:.2f}" for s in times)
             + f" s (median {median(times):.2f})", "target: <= 1.5 s: " + verdict(median(times) <= 1.5)
             if key == "run" else "")
        line("   server: launch to healthy", ", ".join(f"{s:.2f}" for s in startups) + " s")
        line("   server: its background warm-up (overlaps the browser's loading)", "; ".join(warm))
    line("default page, a later visit (warm server)", f"{renders['warm']:.2f} s")
    line("the default page as it was (plotly scatter, classic=1), streamlit run",
         ", ".join(f"{s:.2f}" for s in renders["classic"]) + f" s (median {median(renders['classic']):.2f})")
    line("a bare Streamlit page (floor_app.py: a title and a line)",
         ", ".join(f"{s:.2f}" for s in renders["floor"]) + f" s (median {median(renders['floor']):.2f})")
    line(f"Click to decode ({DECODE}) after streamlit run", "first visit "
         + ", ".join(f"{a:.2f}" for a, _ in renders["live"]) + " s; a later visit "
         + ", ".join(f"{b:.2f}" for _, b in renders["live"]) + " s")
    print("Bytes sent to the browser on a first visit (a fresh browser context):")
    for name, s in sizes.items():
        line(name, f"static assets {s['static'] / 1e6:.2f} MB + other HTTP {s['http'] / 1e3:.0f} kB "
             f"({s['requests']} responses) + websocket {s['ws'] / 1e6:.2f} MB "
             f"= {(s['static'] + s['http'] + s['ws']) / 1e6:.2f} MB")
    print("=" * 100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--restarts", type=int, default=3, help="fresh servers for the first-render times")
    parser.add_argument("--clicks", type=int, default=40, help="clicks on today's click path (and the floor)")
    parser.add_argument("--sessions", type=int, default=10, help="concurrent browser sessions dragging")
    parser.add_argument("--drag-seconds", type=float, default=3.0, help="length of each hover or drag")
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
