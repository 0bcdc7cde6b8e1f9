"""The latent plane that decodes under the pointer, in the browser (a Streamlit Components v2
component; its code is ``explorer/frontend/``).

What runs where: the server sends, once per browser session and model, the test set's 2-D codes
(float32) and each decoder's weights (``explorer.webdecoder``); the browser then draws the plane
and decodes every pointer move, drag, touch or arrow key itself, with no round trip. Releasing the
pointer (or Enter) commits z: one rerun, in which the page's ``on_commit`` stores it (session state
and the URL), so everything that follows a click (nearest test digit, bookmarks, hand-offs) stays on
the server, the source of truth.

Data sent to the browser (``component.data`` in plane.js, as raw bytes: ``webdecoder.pack``):
    extent [x0, x1, y0, y1]; points {digest, payload | None}; classNames [str];
    decoders [{digest, payload | None, title, name, label (class for the CVAE) | None}];
    z [2] | None (the committed z); start [2] | None (shown before any z, default the prior mean 0);
    marks [{z [2], text}]; path [[2], ...] | None; dark, contrast (bool); height, imageSize (px); hint.
A payload is None once this session has sent it; if the browser lost it (a reload), the component
reports the digest as ``missing`` and the next run sends it again.

If the component fails in the browser (it reports ``failed``, e.g. no canvas), or Streamlit has no
Components v2, ``available()`` is False and pages show the server-side click-to-decode plot with a
note (``explain_fallback``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from . import resources, state, ui, webdecoder

if TYPE_CHECKING:
    from .encoded import ExplorerModel

FRONTEND = Path(__file__).resolve().parent / "frontend"
NAME = "latent_explorer_plane"
SENT = state.Key("plane-sent")  # digests of points and decoders this browser session has received
FAILED = state.Key("plane-failed")  # why the component could not run in this browser, once it said so
IMAGE_SIZE = 168  # px: a 28x28 image at 6x
WEIGHT_DTYPE = "float32"  # exact decoding; see the README's Speed section for float16


@dataclass(frozen=True)
class Decoder:
    """One decoder the plane runs on the z under the pointer.

    folder: the checkpoint folder of a 2-D image model; title: its caption (e.g. "VAE ·
    mnist-vae-2d"); label: the class 0..9 given to a conditional decoder (the CVAE), else None.
    """

    folder: str
    title: str
    label: int | None = None


@st.cache_resource(show_spinner=False)
def _component():
    """The registered component's mount function, or None if this Streamlit has no Components v2."""
    try:
        from streamlit.components.v2 import component  # noqa: PLC0415 (Streamlit >= 1.51 only)
    except ImportError:
        return None
    js = "\n".join((FRONTEND / f).read_text(encoding="utf-8") for f in ("dom.js", "decoder.js", "plane.js"))
    return component(NAME, css=(FRONTEND / "plane.css").read_text(encoding="utf-8"), js=js)


def available() -> bool:
    """Whether the browser plane is used in this session: not if the viewer chose classic planes
    (``state.CLASSIC``), the component failed in this browser, or Streamlit has no Components v2."""
    return not state.CLASSIC.get() and FAILED.get() is None and _component() is not None


def explain_fallback() -> None:
    """The note shown above the server-side plot when the browser plane is not used."""
    if state.CLASSIC.get() and FAILED.get() is None:
        st.caption("Classic planes (sidebar): each click decodes on the server.")
        return
    reason = FAILED.get() or "this Streamlit has no Components v2"
    st.info(f"The live plane could not start in this browser ({reason}), so this is the click-to-decode "
            "plot: each click decodes on the server.", icon=":material/info:")


def hidden_classes(key: str, n_classes: int) -> frozenset[int]:
    """The classes hidden with the legend of the plane ``key`` at its latest commit (for
    ``on_commit`` callbacks that pick a test digit: hidden ones are not offered)."""
    return webdecoder.hidden_classes((st.session_state.get(key) or {}).get("commit"), n_classes)


def warm_up(folder: str) -> None:
    """Compute what the plane sends for the 2-D image model in ``folder`` (its test-set codes and
    its decoder's weights), so the first page that shows it does not wait (raises CheckpointError,
    webdecoder.UnsupportedDecoder; nothing for other latent sizes)."""
    if resources.explorer_model(folder).config.latent_dim == 2:
        resources.browser_points(folder)
        resources.browser_decoder(folder, WEIGHT_DTYPE)


def _points_entry(folder: str, sent: set) -> dict:
    digest, payload = resources.browser_points(folder)
    return {"digest": digest, "payload": None if digest in sent else payload}


def _decoder_entry(d: Decoder, sent: set) -> dict:
    digest, payload = resources.browser_decoder(d.folder, WEIGHT_DTYPE)
    return {"digest": digest, "payload": None if digest in sent else payload, "title": d.title,
            "name": Path(d.folder).name, "label": d.label}


def plane(key: str, m: ExplorerModel, decoders: Sequence[Decoder], *, z: np.ndarray | None,
          on_commit: Callable[[np.ndarray], None] | None = None, start: np.ndarray | None = None,
          marks: Sequence[tuple[str, np.ndarray]] = (), path: np.ndarray | None = None, height: int = 460,
          hint: str = "Hover or drag to decode; click, release or press Enter to keep a z.",
          target=st) -> None:
    """Draw the browser plane of the 2-D model ``m`` (its test-set codes) with ``decoders``.

    key: a key unique on the page (the component keeps its browser state under it).
    z: float [2], the committed z (drawn as a cross and decoded while the pointer is away), or None.
    on_commit: called with the z float32 [2] the user commits (before the page reruns).
    start: the z decoded before any commit (default the prior's mean, 0).
    marks: (text, z float [2]) points to label, e.g. the user's digit; path: float [T, 2] polyline.
    Raises ValueError if ``m`` does not have a 2-D latent.
    """
    if m.config.latent_dim != 2:
        raise ValueError(f"the latent plane needs a 2-D latent, {m.name} has {m.config.latent_dim}")
    if not available():  # it just reported a failure, and only its fragment reran: the whole page
        st.rerun(scope="app")  # reruns, and shows the server-side plot instead
    mount = _component()
    SENT.default(set())
    sent = SENT.get()
    data = {
        "extent": list(resources.plane(str(m.folder))[0]),
        "points": _points_entry(str(m.folder), sent),
        "classNames": list(m.class_names),
        "decoders": [e for e in (ui.load_or_report(lambda _, d=d: _decoder_entry(d, sent), d.folder)
                                 for d in decoders) if e is not None],
        "z": None if z is None else [float(v) for v in z],
        "start": None if start is None else [float(v) for v in start],
        "marks": [{"text": text, "z": [float(v) for v in mz]} for text, mz in marks],
        "path": None if path is None else np.asarray(path, dtype=float).tolist(),
        "dark": ui.dark_theme(),
        "contrast": bool(state.CONTRAST.get()),
        "height": int(height * (1.2 if ui.presenting() else 1)),
        "imageSize": int(IMAGE_SIZE * (1.25 if ui.presenting() else 1)),
        "hint": hint,
    }
    sent.add(data["points"]["digest"])
    sent.update(d["digest"] for d in data["decoders"])

    def committed() -> None:
        value = webdecoder.committed_z((st.session_state.get(key) or {}).get("commit"), state.Z_LIMIT)
        if value is not None and on_commit is not None:
            on_commit(value)

    def missing() -> None:
        event = (st.session_state.get(key) or {}).get("missing") or {}
        for digest in event.get("digests", []) if isinstance(event, dict) else []:
            sent.discard(digest)

    def failed() -> None:
        reason = (st.session_state.get(key) or {}).get("failed")
        if reason:
            FAILED.set(str(reason)[:300])

    with target.container():
        mount(key=key, data=webdecoder.pack(data), on_commit_change=committed, on_missing_change=missing,
              on_failed_change=failed)
