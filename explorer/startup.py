"""Start-up work done once per server process, before or while the first browser connects.

``streamlit run explorer/app.py`` starts :func:`start_warm_up` when the server starts (``app.py``'s
lifespan hook): a background thread imports the app's modules (torch among them, ~1.5 s on 2 cores)
and fills the caches of the default models (their test-set codes and the weights the browser plane
decodes with) while the browser is still loading Streamlit's own scripts. ``python -m explorer`` runs
:func:`warm_up` before the server even listens. Either way the first visit finds the work done, or
waits only for what is left of it.
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

THREAD_NAME = "latent-explorer-warm-up"
_started = threading.Event()
_imported = threading.Event()


def import_app_modules() -> None:
    """Import every module a session's script (``explorer/session.py``) imports: the sidebar, the
    Streamlit glue and each page of ``explorer/views`` (raises what a failing import raises)."""
    from explorer import latent_plane, sidebar, views  # noqa: F401

    for info in pkgutil.iter_modules(views.__path__):
        importlib.import_module(f"explorer.views.{info.name}")


def warm_up(names: tuple[str, ...] = DEFAULT_MODELS) -> float:
    """Fill the caches (shared by every session) that the first pages of the checkpoints ``names``
    need: the model, its test-set codes, its plane, and what the browser plane is sent (the codes and
    the decoder's weights). Returns the seconds taken.

    What cannot be warmed (a missing or broken checkpoint, damaged test images, a decoder the
    browser cannot run) is reported on stderr, one line each, and skipped: the server runs all the
    same, and the page that needs it says why.
    """
    start = time.perf_counter()
    from explorer import catalogue, latent_plane, resources

    for name in names:
        try:
            folder = str(catalogue.CHECKPOINT_DIR / name)
            resources.warm_up(folder)
            latent_plane.warm_up(folder)
        except (ValueError, OSError, RuntimeError, MemoryError) as e:  # CheckpointError, TestSetError
            print(f"latent-explorer: {name} is not warmed up: {' '.join(str(e).split())}",
                  file=sys.stderr, flush=True)
    return time.perf_counter() - start


class _NotFromWarmUp(logging.Filter):
    """Drops the log records of the warm-up thread (Streamlit warns that it has no session: the
    cache spinners it would show have no page), and only those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD_NAME


def _warm_in_background(names: tuple[str, ...]) -> None:
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NotFromWarmUp())
    start = time.perf_counter()
    try:
        import_app_modules()
    except Exception as e:  # noqa: BLE001 - the session's own import shows it on the page
        print(f"latent-explorer: warm-up stopped: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return
    finally:
        _imported.set()
    imports = time.perf_counter() - start
    models = warm_up(names)
    print(f"latent-explorer: warmed up in {imports + models:.2f} s (imports {imports:.2f} s, "
          f"default models {models:.2f} s)", file=sys.stderr, flush=True)


def start_warm_up(names: tuple[str, ...] = DEFAULT_MODELS) -> threading.Thread:
    """Start :func:`import_app_modules` and then :func:`warm_up` in a daemon thread; returns it.

    Sessions that start meanwhile call :func:`wait_for_imports` first, so that only this thread
    imports the app's modules until it is done (two threads importing the same modules at once can
    each find the other's half-initialised).
    """
    _started.set()
    thread = threading.Thread(target=_warm_in_background, args=(names,), name=THREAD_NAME, daemon=True)
    thread.start()
    return thread


def wait_for_imports(timeout: float = IMPORT_WAIT_S) -> bool:
    """Block until a started warm-up has imported the app's modules (at most ``timeout`` seconds);
    returns at once, True, if no warm-up was started (e.g. under ``streamlit.testing``). Returns
    whether the imports are done."""
    if not _started.is_set():
        return True
    return _imported.wait(timeout)
