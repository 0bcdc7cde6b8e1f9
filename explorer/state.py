"""Per-session view state, mirrored in the URL query string so a view can be bookmarked.

Each page declares the state it keeps as ``Param``s: a name in the URL (``?model=mnist-vae-2d&z=0.5,-1``)
and a key in ``st.session_state``. When a session opens a URL, the values in it are restored
(``restore``) before any widget is drawn; after the page has run, its current values are written
back (``publish``). Values kept for one page survive visits to the others (``persist``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st


class _SessionValue:
    """Reading and writing one value of ``st.session_state`` through its declared key, so that code
    never spells a key: a renamed key then fails at import, not silently."""

    key: str

    def get(self, default: Any = None) -> Any:
        """The current value, or ``default`` if the session has none."""
        return st.session_state.get(self.key, default)

    def set(self, value: Any) -> None:
        """Set the value (also a widget callback: ``on_click=PAGE.PARAM.set, args=(value,)``)."""
        st.session_state[self.key] = value

    def default(self, value: Any) -> None:
        """Give the value (e.g. a widget's first value) unless the session already has one (from a
        bookmark, or kept by ``persist``); widgets keyed here never pass value=."""
        st.session_state.setdefault(self.key, value)

    def clear(self) -> None:
        """Forget the value."""
        st.session_state.pop(self.key, None)

    def item(self, *parts: Any) -> Key:
        """A key derived from this one, for one of several widgets of the same kind (e.g. one
        traversal slider per latent dimension): ``f"{key}-{part}-..."``."""
        return Key("-".join([self.key, *map(str, parts)]))


@dataclass(frozen=True)
class Key(_SessionValue):
    """A piece of per-session state kept out of the URL (e.g. the user's drawn digit)."""

    key: str


@dataclass(frozen=True)
class Param(_SessionValue):
    """One piece of view state: ``name`` in the URL, ``key`` in session state.

    parse: URL text -> value, raising ValueError for a value the page cannot show (it is ignored);
    show: value -> URL text; quiet: a value left out of the URL (e.g. presenter mode off).
    """

    name: str
    key: str
    parse: Callable[[str], Any]
    show: Callable[[Any], str] = str
    quiet: Any = None


def int_in(low: int, high: int) -> Callable[[str], int]:
    """A parser of whole numbers in [low, high]."""
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return value
    return parse


def float_in(low: float, high: float) -> Callable[[str], float]:
    """A parser of finite numbers in [low, high]."""
    def parse(text: str) -> float:
        value = float(text)
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"{value} is outside {low}..{high}")
        return value
    return parse


def one_of(*choices: str) -> Callable[[str], str]:
    """A parser that accepts only ``choices``."""
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {choices}")
        return text
    return parse


def parse_flag(text: str) -> bool:
    """"1", "true", "yes", "on" -> True; "0", "false", "no", "off" -> False."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a flag")


def show_flag(value: bool) -> str:
    return "1" if value else "0"


# Bound of each coordinate of a latent point in the URL. The shipped models' test codes lie within
# |z| < 50 (the AEs; the VAEs within 6), so this leaves room to explore far outside them while every
# value stays finite in float32 (1e308 is finite in float64 but inf in float32: a black image).
Z_LIMIT = 1000.0


def parse_z(text: str) -> np.ndarray:
    """"0.5,-1.25" -> float32 [2]; raises ValueError unless there are two numbers in
    [-Z_LIMIT, Z_LIMIT]."""
    values = [float(v) for v in text.split(",")]
    if len(values) != 2 or not all(math.isfinite(v) and abs(v) <= Z_LIMIT for v in values):
        raise ValueError(f"{text!r} is not a 2-D latent point with coordinates within ±{Z_LIMIT:g}")
    return np.array(values, dtype=np.float32)


def show_z(z) -> str:
    return ",".join(f"{float(v):.3f}" for v in np.asarray(z).ravel())


def parse_text(text: str) -> str:
    if len(text) > 200:
        raise ValueError("too long")
    return text


MODEL = Param("model", "model", parse_text)
PRESENT = Param("present", "present", parse_flag, show_flag, quiet=False)
CONTRAST = Param("contrast", "contrast", parse_flag, show_flag, quiet=False)  # high-contrast planes
CLASSIC = Param("classic", "classic", parse_flag, show_flag, quiet=False)  # server-side planes instead
GLOBAL_PARAMS = (MODEL, PRESENT, CONTRAST, CLASSIC)


def restore(params: Iterable[Param]) -> None:
    """Copy values from the URL into session state for keys the session does not hold yet (a freshly
    opened bookmark). Values a page cannot show are ignored, so a hand-edited URL never breaks it."""
    query = st.query_params
    for p in params:
        if p.key in st.session_state or p.name not in query:
            continue
        try:
            st.session_state[p.key] = p.parse(query[p.name])
        except (ValueError, TypeError):
            pass


def persist(params: Iterable[Param]) -> None:
    """Keep widget values while their page is not shown: Streamlit drops the state of widgets that
    were not drawn in a run, but not values written by the script (its documented workaround)."""
    for p in params:
        if p.key in st.session_state:
            st.session_state[p.key] = st.session_state[p.key]


def publish(params: Iterable[Param]) -> None:
    """Write the current values of ``params`` to the URL (and only those), if they changed."""
    wanted = {}
    for p in params:
        if _shown(p) is not None:
            wanted[p.name] = _shown(p)
    if wanted != st.query_params.to_dict():
        st.query_params.from_dict(wanted)


def publish_one(p: Param) -> None:
    """Write one value to the URL (e.g. from inside a fragment, which does not rerun the page)."""
    shown = _shown(p)
    if shown is None:
        st.query_params.pop(p.name, None)
    elif st.query_params.get(p.name) != shown:
        st.query_params[p.name] = shown


def _shown(p: Param) -> str | None:
    """The URL text of ``p``'s current value, or None if it has none or is left out."""
    value = st.session_state.get(p.key)
    if value is None or (p.quiet is not None and p.show(value) == p.show(p.quiet)):
        return None
    return p.show(value)

