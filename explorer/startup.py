"""Start-up work done once per server process, before or while the first browser connects.

``streamlit run explorer/app.py`` starts :func:`start_warm_up` when the server starts (``app.py``'s
lifespan hook), a background thread in two steps:

1. the default page (the Latent map on the live plane) without torch or pandas: its modules and
   what it sends, i.e. the default models' test-set codes (from their checkpoints'
   codes.safetensors) and their decoders' weights (read with safetensors' NumPy reader). Sessions
   wait only for these imports (:func:`wait_for_first_page`, ~0.3 s), not for torch.
2. once the server is quiet (no session script has ended for ``QUIET_S`` since a first page was
   served; or ``HEAVY_DELAY_S`` after step 1 if no browser came), or as soon as a session needs
   another page (:func:`wait_for_imports`): everything else, i.e. torch (~1.5 s on 2 cores) and
   every page's modules, then the default models' networks. Importing torch beside the first page
   would only slow it down: the imports hold the GIL that the server needs to send the page (the
   decoder's weights are ~3 MB) and rerun it.

``python -m explorer`` runs :func:`warm_up` before the server even listens. Either way the first
visit finds the work done, or waits only for what is left of it.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys
import threading
import time

# The models of the default page (the VAE) and of its usual comparison (the AE).
DEFAULT_MODELS = ("mnist-vae-2d", "mnist-ae-2d")
IMPORT_WAIT_S = 120  # a session waits at most this long for the warm-up's imports
HEAVY_DELAY_S = 5.0  # step 2 starts at the latest this long after step 1 if no session came
QUIET_S = 1.0  # ... or once no session script has ended for this long, after a first page
# The default page's modules: they import neither torch nor pandas (tests/test_app.py checks).
FIRST_PAGE_MODULES = ("explorer.sidebar", "explorer.latent_plane", "explorer.views.latent_map")
# What Streamlit itself imports on a first script run, measured with cProfile: its emoji table
# (~0.1 s, for the page icon). Imported here, before a browser connects, if it exists. (Pandas, ~0.6 s,
# is imported when a component's data is a dict; the plane sends bytes: explorer.webdecoder.pack.)
STREAMLIT_FIRST_RUN_MODULES = ("streamlit.emojis",)

THREAD_NAME = "latent-explorer-warm-up"
_started = threading.Event()
_first_page_imported = threading.Event()
_heavy_wanted = threading.Event()
_imported = threading.Event()
_served = threading.Event()  # a session script run has ended
_last_run_end = [0.0]  # time.monotonic() when the latest session script run ended


def import_first_page_modules() -> None:
    """Import what the default page's script run imports (raises what a failing import raises)."""
    for name in FIRST_PAGE_MODULES:
        importlib.import_module(name)
    for name in STREAMLIT_FIRST_RUN_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # another Streamlit version: nothing to warm
            pass


def import_app_modules() -> None:
    """Import every module a session's script (``explorer/session.py``) may import: the sidebar, the
    Streamlit glue and each page of ``explorer/views`` (torch and plotly among them; raises what a
    failing import raises)."""
    from explorer import latent_plane, sidebar, views  # noqa: F401

    for info in pkgutil.iter_modules(views.__path__):
        importlib.import_module(f"explorer.views.{info.name}")


def warm_first_page(names: tuple[str, ...] = DEFAULT_MODELS) -> tuple[float, tuple[str, ...]]:
    """Fill the caches (shared by every session) that the default page needs for the checkpoints
    ``names``, without torch where their checkpoints store their codes: the test-set codes, the plane
    and what the browser plane is sent (the codes and the decoder's weights). Returns the seconds
    taken and the names warmed.

    What cannot be warmed (a missing or broken checkpoint, damaged test images, a decoder the
    browser cannot run) is reported on stderr, one line each, and skipped: the server runs all the
    same, and the page that needs it says why.
    """
    from explorer import latent_plane, resources

    return _each(names, lambda folder: (resources.warm_up(folder), latent_plane.warm_up(folder)))


def warm_models(names: tuple[str, ...] = DEFAULT_MODELS) -> tuple[float, tuple[str, ...]]:
    """Load the networks (torch) of the checkpoints ``names`` into the shared cache, for the pages that
    run them on the server; reports and skips what fails, as :func:`warm_first_page`. Returns the
    seconds taken and the names warmed."""
    from explorer import resources

    return _each(names, lambda folder: resources.explorer_model(folder).model)


def warm_up(names: tuple[str, ...] = DEFAULT_MODELS) -> float:
    """Everything at once, in the calling thread (``python -m explorer``, before the server listens):
    the default page (:func:`warm_first_page`), every page's modules and the networks of ``names``.
    Returns the seconds taken."""
    start = time.perf_counter()
    _, warmed = warm_first_page(names)
    import_app_modules()
    warm_models(warmed)
    return time.perf_counter() - start


def _each(names: tuple[str, ...], warm) -> tuple[float, tuple[str, ...]]:
    """``warm(folder)`` of each checkpoint in ``names``; one stderr line for each that fails."""
    start = time.perf_counter()
    from explorer import catalogue

    warmed = []
    for name in names:
        try:
            warm(str(catalogue.CHECKPOINT_DIR / name))
            warmed.append(name)
        except Exception as e:  # noqa: BLE001 - one checkpoint never stops the warm-up of the others
            print(f"latent-explorer: {name} is not warmed up: {' '.join(str(e).split())}",
                  file=sys.stderr, flush=True)
    return time.perf_counter() - start, tuple(warmed)


class _NotFromWarmUp(logging.Filter):
    """Drops the log records of the warm-up thread (Streamlit warns that it has no session: the
    cache spinners it would show have no page), and only those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD_NAME


def _check_for_a_repl_now() -> None:
    """Streamlit checks once per process, when a script draws its first element, whether it runs in a
    REPL, with ``inspect.stack()``, which reads the source lines of every frame: ~0.1 s of the first
    page (cProfile). The server runs, so the check prints nothing: it is done here, before a browser
    connects (if this Streamlit has it)."""
    try:
        from streamlit.delta_generator import _maybe_print_use_warning  # noqa: PLC0415
    except ImportError:
        return
    _maybe_print_use_warning()


def _warm_in_background(names: tuple[str, ...]) -> None:
    """The two steps of the module docstring. Whatever fails, sessions are released: the first page's
    imports and then all imports are marked done (a session then imports what it needs itself, and
    its page shows the error)."""
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NotFromWarmUp())
    start = time.perf_counter()
    try:
        try:
            import_first_page_modules()
            _check_for_a_repl_now()
        finally:
            _first_page_imported.set()
        first_imports = time.perf_counter() - start
        first_models, warmed = warm_first_page(names)
        _wait_until_quiet()
        heavy_start = time.perf_counter()
        try:
            import_app_modules()
        finally:
            _imported.set()
        imports = time.perf_counter() - heavy_start
        models, _ = warm_models(warmed)
    except Exception as e:  # noqa: BLE001 - the session's own import or page shows it
        print(f"latent-explorer: warm-up stopped: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return
    finally:
        _imported.set()  # also if step 1 failed, or warming its models did
    print(f"latent-explorer: warmed up in {first_imports + first_models + imports + models:.2f} s "
          f"(first page {first_imports + first_models:.2f} s: imports {first_imports:.2f} s, default models "
          f"{first_models:.2f} s; then the other pages' imports {imports:.2f} s, the networks "
          f"{models:.2f} s)", file=sys.stderr, flush=True)


def start_warm_up(names: tuple[str, ...] = DEFAULT_MODELS) -> threading.Thread:
    """Start the two steps of the module docstring in a daemon thread; returns it.

    Sessions that start meanwhile call :func:`wait_for_first_page` (and, for a page that imports
    torch, :func:`wait_for_imports`) first, so that they do not import the same modules beside this
    thread, only to share its work and the GIL. Some imports do race it (a digit picked on the default
    page imports its hand-off pages); Python's per-module import locks make that safe, since the
    modules import one another without cycles (``lint-imports``).
    """
    _started.set()
    thread = threading.Thread(target=_warm_in_background, args=(names,), name=THREAD_NAME, daemon=True)
    thread.start()
    return thread


def wait_for_first_page(timeout: float = IMPORT_WAIT_S) -> bool:
    """Block until a started warm-up has imported the default page's modules (at most ``timeout``
    seconds); returns at once, True, if no warm-up was started (e.g. under ``streamlit.testing``).
    Returns whether they are imported."""
    return not _started.is_set() or _first_page_imported.wait(timeout)


def script_run_ended() -> None:
    """A session's script run is over (called at the end of ``explorer/session.py``): step 2 of the
    warm-up waits until the server has been quiet for ``QUIET_S``."""
    _last_run_end[0] = time.monotonic()
    _served.set()


def _wait_until_quiet() -> None:
    """Block until step 2 may start (see the module docstring)."""
    deadline = time.monotonic() + HEAVY_DELAY_S
    while not _heavy_wanted.is_set():
        now = time.monotonic()
        if (now - _last_run_end[0] >= QUIET_S) if _served.is_set() else now >= deadline:
            return
        _heavy_wanted.wait(0.05)


def wait_for_imports(timeout: float = IMPORT_WAIT_S) -> bool:
    """Block until a started warm-up has imported every module of the app (at most ``timeout``
    seconds), asking it to start on them now; returns at once, True, if no warm-up was started
    (e.g. under ``streamlit.testing``). Returns whether the imports are done."""
    if not _started.is_set():
        return True
    _heavy_wanted.set()
    return _imported.wait(timeout)
