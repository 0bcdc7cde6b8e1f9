"""``python -m explorer`` (or ``latent-explorer``): warm up, then serve the app.

Same as ``streamlit run explorer/app.py [ARGS]``, except that the heavy work of a first visit is done
before the server starts listening: the default page's caches, importing torch and every page,
loading the default models' networks. Every first page a browser opens is then as fast as any
later one. Extra arguments go to ``streamlit run`` (e.g. ``--server.port 8502``);
``--audience`` makes it listen on the local network for the audience board (with a warning).
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def warm_up(names: tuple[str, ...] | None = None) -> float:
    """``startup.warm_up`` (the default models, or ``names``) with Streamlit's "no runtime" warnings
    silenced (there is no server yet); returns the seconds taken."""
    from streamlit.runtime.caching import cache_data_api  # noqa: F401 - its logger must exist first

    from explorer import startup

    quiet = _quiet_streamlit_loggers()  # "no runtime" warnings are expected before the server runs
    try:
        return startup.warm_up(names or startup.DEFAULT_MODELS)
    finally:
        for logger, level in quiet:
            logger.setLevel(level)


def _quiet_streamlit_loggers() -> list:
    """Raise every streamlit logger to ERROR; returns (logger, old level) pairs to restore."""
    import logging

    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name.startswith("streamlit")]
    old = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    return old


def audience_args(args: list[str]) -> list[str]:
    """``--audience``: listen on every network interface (phones in the room join the audience
    board), and say so, with a warning; returns the Streamlit arguments without it. Raises
    SystemExit if ``--server.address`` is given too (the two contradict)."""
    if "--audience" not in args:
        return args
    args = [a for a in args if a != "--audience"]
    if any(a.startswith("--server.address") for a in args):
        raise SystemExit("latent-explorer: --audience listens on every interface; drop --server.address")
    from explorer.audience import lan_address

    port = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--server.port"), None)
    port = port or next((a.split("=", 1)[1] for a in args if a.startswith("--server.port=")), "8501")
    host = lan_address()
    print("latent-explorer: AUDIENCE MODE. The explorer listens on every network interface: anyone on "
          "this network can open it (and every page of it), not only the audience board.", flush=True)
    if host:
        print(f"latent-explorer: phones join at http://{host}:{port}/audience (the board shows a QR code)",
              flush=True)
    else:
        print("latent-explorer: this computer has no network address right now: phones cannot join.",
              flush=True)
    return ["--server.address", "0.0.0.0", *args]


def main(argv: list[str] | None = None) -> None:
    args = audience_args(sys.argv[1:] if argv is None else argv)
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
