"""latent-explorer: see what autoencoders and VAEs learn. Run with ``streamlit run explorer/app.py``.

This file is the server: a Streamlit ``st.App`` whose script, ``explorer/session.py`` (the sidebar
and the page list), Streamlit runs for each browser session. When the server starts, before any
browser connects, it starts warming the caches in a background thread (``explorer/startup.py``):
first what the default page needs, without torch (its modules, the default models' test-set codes
and browser weights, read from the checkpoints), while the browser loads Streamlit's own scripts;
then, once the server is quiet, torch (~1.5 s on 2 cores) and the other pages.
"""

from __future__ import annotations

import sys
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if REPO_ROOT not in sys.path:  # `streamlit run explorer/app.py` without `pip install -e .`
    sys.path.insert(0, REPO_ROOT)

from explorer import startup  # noqa: E402

SCRIPT = Path(__file__).resolve().with_name("session.py")


@asynccontextmanager
async def lifespan(_app):
    """Runs once when the server starts: warming starts in the background and the server listens
    at once (a session that arrives early waits only for what is left of the warm-up)."""
    startup.start_warm_up()
    yield


app = st.App(str(SCRIPT), lifespan=lifespan)
