"""The training time-lapse player, a Streamlit Components v2 component in the page (its code is
``explorer/frontend/timelapse.js``): it plays recorded frames in the browser, with no rerun per frame.

Data sent (``component.data`` in timelapse.js, packed by ``explorer.webdecoder.pack``):
``explorer.timelapse.payload`` plus ``dark`` (bool).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from . import state, timelapse, ui, webdecoder

FRONTEND = Path(__file__).resolve().parent / "frontend"
NAME = "latent_explorer_timelapse"
FAILED = state.Key("timelapse-failed")  # why the player could not run in this browser, once it said so


@st.cache_resource(show_spinner=False)
def _component():
    """The registered component's mount function, or None if this Streamlit has no Components v2."""
    try:
        from streamlit.components.v2 import component  # noqa: PLC0415 (Streamlit >= 1.51 only)
    except ImportError:
        return None
    files = ("dom.js", "decoder.js", "timelapse.js")
    js = "\n".join((FRONTEND / f).read_text(encoding="utf-8") for f in files)
    return component(NAME, css=(FRONTEND / "timelapse.css").read_text(encoding="utf-8"), js=js)


def player(key: str, panels: list[timelapse.Panel], class_names: list[str], start: str = "first") -> bool:
    """Mount the player of ``panels`` (one or two runs, played in sync) under ``key``, showing the
    first frame (``start`` "first") or the newest ("end": a run that is still training); returns False
    (and mounts nothing) if it cannot run here: no Components v2, or it failed in this browser
    (``FAILED`` says why)."""
    mount = _component()
    if mount is None or FAILED.get() is not None:
        return False
    data = timelapse.payload(panels, class_names)
    data["dark"] = ui.dark_theme()
    data["start"] = start

    def failed() -> None:
        reason = (st.session_state.get(key) or {}).get("failed")
        if reason:
            FAILED.set(str(reason)[:300])

    mount(key=key, data=webdecoder.pack(data), on_failed_change=failed)  # raw bytes: no pandas import
    return True
