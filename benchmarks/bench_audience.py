"""The audience board under load: phone sessions sending digits to one server, a benchmark that prints.

    python benchmarks/bench_audience.py                         # 30 phones, 60 s (about 3 minutes)
    python benchmarks/bench_audience.py --phones 5 --seconds 20 # a quick look

One `streamlit run explorer/app.py` on 127.0.0.1, with its database in a temporary folder. A
presenter's page (1400x1000) starts a board; ``--phones`` phone pages (Playwright contexts with touch
and a 390x844 portrait viewport, all in one headless Chromium: real Streamlit sessions, each with
its own websocket) open the board's phone page and, for ``--seconds``, each sends a digit (a
photographed-looking MNIST test digit, a different one each time, through the uploader) every 8 to
15 s, which keeps each phone within the rate limit. Printed:

- errors: page exceptions, page/console errors, Streamlit exceptions on a page, refusals the phones
  got (a rate limit or a full board), acknowledgements that did not come (target: 0);
- lost submissions: rows in the database against the acknowledgements the phones saw (target: 0
  lost, no row without an acknowledgement);
- from a submission stored (its timestamp in the database) to its mark on the presenter's live
  map (the plane's ``latentMarks``, polled every 50 ms from the benchmark): median, p95, max
  (target: median <= 2 s); the presenter's map polls the database every second
  (explorer/views/audience.py ``POLL_S``);
- the phones' time from a tap on "Send" to the acknowledgement on the phone.

Progress goes to stderr, numbers to stdout. The server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from explorer.browser import CHROMIUM, CHROMIUM_ARGS, STREAMLIT_PROBE, start_server, stop_server  # noqa: E402

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
         "device_scale_factor": 2}


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def photo(index: int) -> bytes:
    """MNIST test digit ``index`` as a photo of dark ink on light, unevenly lit paper (JPEG)."""
    from explorer.testdata import load_test_set

    images, _ = load_test_set()
    ink = np.asarray(images[index, 0], dtype=np.float32)
    big = np.asarray(Image.fromarray(np.uint8(ink * 255)).resize((280, 280), Image.BILINEAR), np.float32)
    big /= 255
    paper = np.linspace(200, 235, 280)[None, :] * np.ones((280, 1))
    pixels = np.clip(paper * (1 - 0.8 * big), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    image = Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(1)).convert("RGB")
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


async def watch(page, errors: list[str], who: str) -> None:
    """Page errors and console errors of ``page`` go to ``errors``, except Streamlit's own 404 probes
    of a page URL's path (``explorer.browser.STREAMLIT_PROBE``, streamlit/streamlit#7074)."""
    def console(message) -> None:
        where = message.location.get("url", "")
        if message.type == "error" and not STREAMLIT_PROBE.search(urllib.parse.urlparse(where).path):
            errors.append(f"{who}: console error: {message.text[:150]} ({where})")

    page.on("pageerror", lambda e: errors.append(f"{who}: page error: {e}"))
    page.on("console", console)


async def phone(browser, url: str, room: str, number: int, seconds: float, errors: list[str],
                acks: list[tuple[int, float]], rng: np.random.Generator) -> None:
    """One phone: open the board's page, then send a digit every 8-15 s for ``seconds``."""
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    who = f"phone {number}"
    await watch(page, errors, who)
    try:
        await page.goto(f"{url}/audience?room={room}", timeout=120_000)
        send = page.get_by_role("button", name="Send to the screen")
        await send.wait_for(timeout=120_000)
        await asyncio.sleep(float(rng.uniform(0, 8)))  # phones do not all start at once
        end = time.monotonic() + seconds
        last = None
        while time.monotonic() < end:
            name = f"digit-{int(rng.integers(10_000))}.jpg"
            await page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
                files=[{"name": name, "mimeType": "image/jpeg", "buffer": photo(int(name[6:-4]))}])
            await page.get_by_text(name).first.wait_for(timeout=60_000)
            # The upload's own rerun: wait until the app has been idle for half a second, as a person
            # looks at the chosen photo before tapping (a tap while it runs can be lost: see README).
            idle_since = None
            while idle_since is None or time.monotonic() - idle_since < 0.5:
                busy = await page.locator('[data-testid="stStatusWidget"]').count()
                idle_since = None if busy else (idle_since or time.monotonic())
                await asyncio.sleep(0.05)
            tapped = time.monotonic()
            await send.tap(timeout=60_000)
            deadline = time.monotonic() + 60
            ack = None
            while time.monotonic() < deadline:
                for text in await page.locator('[data-testid="stAlertContentSuccess"]').all_inner_texts():
                    sent = re.search(r"Sent! Your digit is #(\d+)", text)
                    if sent and int(sent.group(1)) != last:
                        ack = int(sent.group(1))
                for text in await page.locator('[data-testid="stAlertContentError"]').all_inner_texts():
                    errors.append(f"{who}: refused: {' '.join(text.split())[:150]}")
                    ack = -1
                if ack is not None:
                    break
                await asyncio.sleep(0.05)
            if ack is None:
                errors.append(f"{who}: no acknowledgement within 60 s")
            elif ack > 0:
                acks.append((ack, time.monotonic() - tapped))
                last = ack
            if await page.locator('[data-testid="stException"]').count():
                errors.append(f"{who}: a Streamlit exception on the page")
            await asyncio.sleep(float(rng.uniform(8, 15)))
    except Exception as e:  # noqa: BLE001 - a phone that fails is counted, the others go on
        errors.append(f"{who}: {type(e).__name__}: {str(e)[:200]}")
    finally:
        await context.close()


async def run(args) -> None:
    from playwright.async_api import async_playwright

    data = tempfile.mkdtemp(prefix="bench-audience-")
    os.environ["LATENT_EXPLORER_STATE"] = data  # the server (a child process) inherits it
    from explorer.audience import DB_NAME, AudienceStore

    log = REPO / "test-artifacts"
    log.mkdir(exist_ok=True)
    proc, url = start_server(log / "bench-audience.log")
    errors: list[str] = []
    acks: list[tuple[int, float]] = []
    seen: dict[str, float] = {}
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            presenter = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await watch(presenter, errors, "presenter")
            await presenter.goto(f"{url}/audience?model=mnist-vae-2d", timeout=120_000)
            await presenter.get_by_role("button", name="Start an audience board").click(timeout=120_000)
            room = None
            while room is None:
                query = urllib.parse.urlparse(await presenter.evaluate("() => location.href")).query
                room = urllib.parse.parse_qs(query).get("room", [None])[0]
                await asyncio.sleep(0.1)
            plane = presenter.locator('[data-testid="latent-plane"]').first
            await plane.wait_for(timeout=120_000)
            progress(f"board {room}; {args.phones} phones, {args.seconds:g} s of sending")
            stop = asyncio.Event()

            async def look() -> None:  # the presenter's map, every 50 ms
                while not stop.is_set():
                    try:
                        for text in await plane.evaluate("el => el.latentMarks || []"):
                            seen.setdefault(text, time.time())
                    except Exception:  # noqa: BLE001 - the fragment redraws the plane now and then
                        pass
                    await asyncio.sleep(0.05)

            looker = asyncio.create_task(look())
            rng = np.random.default_rng(0)
            phones = [phone(browser, url, room, i, args.seconds, errors, acks,
                            np.random.default_rng(rng.integers(1 << 31))) for i in range(args.phones)]
            started = time.perf_counter()
            await asyncio.gather(*phones)
            progress(f"phones done after {time.perf_counter() - started:.0f} s; the map's last polls")
            await asyncio.sleep(3)
            stop.set()
            await looker
            if await presenter.locator('[data-testid="stException"]').count():
                errors.append("presenter: a Streamlit exception on the page")
            await browser.close()
    finally:
        stop_server(proc)
    rows = AudienceStore(Path(data) / DB_NAME).submissions(room, include_hidden=True)
    report(args, rows, acks, seen, errors)


def report(args, rows, acks, seen, errors) -> None:
    acknowledged = {n for n, _ in acks}
    stored = {s.id for s in rows}
    delays = [seen[f"#{s.id}"] - s.created for s in rows if f"#{s.id}" in seen]
    never = [s.id for s in rows if f"#{s.id}" not in seen]
    tap_to_ack = [t for _, t in acks]

    def stats(values: list[float]) -> str:
        if not values:
            return "no values"
        return (f"median {statistics.median(values):.2f} s, p95 {np.percentile(values, 95):.2f} s, "
                f"max {max(values):.2f} s (n = {len(values)})")

    print("\n" + "=" * 100)
    print(f"Audience board: {args.phones} phone sessions (Playwright, touch, 390x844, one Chromium) sending "
          f"for {args.seconds:g} s to one server; {os.cpu_count()} cores, load average "
          + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print("=" * 100)
    print(f"  errors                                   {len(errors)}   [target: 0]")
    for e in errors[:10]:
        print(f"      {e}")
    print(f"  submissions acknowledged on the phones   {len(acknowledged)}")
    print(f"  rows in the database                     {len(stored)}; lost (acknowledged, not stored): "
          f"{len(acknowledged - stored)}; stored, never acknowledged: {len(stored - acknowledged)}   "
          "[target: 0 lost]")
    print(f"  stored -> on the presenter's map         {stats(delays)}   [target: median <= 2 s]")
    print(f"  never on the map                         {len(never)}")
    print(f"  tap on Send -> acknowledgement (phone)   {stats(tap_to_ack)}")
    print("=" * 100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phones", type=int, default=30, help="phone sessions at once")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each phone keeps sending")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
