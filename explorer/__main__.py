"""``python -m explorer`` (or ``latent-explorer``): warm up, then serve the app.

Same as ``streamlit run explorer/app.py [ARGS]``, except that the heavy work of a first visit is done
before the server starts listening: importing torch, loading the test set and the default models,
encoding the test set and building the clickable planes. The first page a browser opens is then as
fast as any later one. Extra arguments go to ``streamlit run`` (e.g. ``--server.port 8502``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def warm_up(names: tuple[str, ...] = ("mnist-vae-2d", "mnist-ae-2d")) -> float:
    """Fill the app's caches (shared by every session) for the default page; returns seconds taken.

    What cannot be warmed (a missing or broken checkpoint, damaged test images) is reported on
    stderr, one line each, and skipped: the server starts all the same, and the page that needs it
    says why.
    """
    start = time.perf_counter()
    from streamlit.runtime.caching import cache_data_api  # noqa: F401 - its logger must exist first

    from explorer import catalogue, resources

    quiet = _quiet_streamlit_loggers()  # "no runtime" warnings are expected before the server runs
    try:
        for name in names:
            try:
                resources.warm_up(str(catalogue.CHECKPOINT_DIR / name))
            except (ValueError, OSError, RuntimeError, MemoryError) as e:  # CheckpointError, TestSetError
                print(f"latent-explorer: {name} is not warmed up: {' '.join(str(e).split())}",
                      file=sys.stderr, flush=True)
    finally:
        for logger, level in quiet:
            logger.setLevel(level)
    return time.perf_counter() - start


def _quiet_streamlit_loggers() -> list:
    """Raise every streamlit logger to ERROR; returns (logger, old level) pairs to restore."""
    import logging

    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name.startswith("streamlit")]
    old = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    return old


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    print(f"latent-explorer: warming up ({warm_up():.1f} s)…", flush=True)
    from streamlit.web import cli

    # As in .streamlit/config.toml, which is only read when started from the repository root: no
    # gc.collect(2) after every run (it held each click's image back by ~150-200 ms).
    if not any(a.startswith("--runner.postScriptGC") for a in args):
        args = ["--runner.postScriptGC", "false", *args]
    sys.argv = ["streamlit", "run", str(APP), *args]
    cli.main()


if __name__ == "__main__":
    main()
