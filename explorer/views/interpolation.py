"""Interpolation: linear or spherical paths between two digits' codes, decoded, animated, exported."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import catalogue, geometry, imaging, inference, latent_plane, plots, resources, state, ui

NEED = catalogue.NEEDS["interpolation"]  # what this page needs of the picked model
N_TEST = 10_000
ENDS = ("test digit", "your digit")  # what an end can be (a radio's options, kept in the URL)


class YourDigit:
    """The user's last drawn or uploaded digit as an end of the path (the other ends are test indices)."""


YOURS = YourDigit()
START = state.Param("from", "interp-start", state.int_in(0, N_TEST - 1))
END = state.Param("to", "interp-end", state.int_in(0, N_TEST - 1))
START_SOURCE = state.Param("from_source", "interp-start-source", state.one_of(*ENDS))
END_SOURCE = state.Param("to_source", "interp-end-source", state.one_of(*ENDS))
STEPS = state.Param("steps", "interp-steps", state.int_in(3, 16))
METHOD = state.Param("path", "interp-method", state.one_of(*geometry.INTERPOLATIONS))
COMPARE = state.Param("compare", "interp-compare", state.parse_text)
CLICK_SETS = state.Param("click_sets", "interp-click-sets", state.one_of("from", "to"))
PARAMS = (START, END, START_SOURCE, END_SOURCE, STEPS, METHOD, COMPARE, CLICK_SETS)


def render() -> None:
    m = ui.selected_model(NEED)
    if m is None:
        return
    images, labels = resources.test_set(m.dataset)
    user = ui.USER_DIGIT.get()
    c0, c1, c2, c3, c4 = st.columns([3, 3, 3, 2, 3])
    with c0:
        other_name = ui.compare_picker("Compare with", m.name, NEED.fits, COMPARE)
    start = end_ui(c1, "From", START, START_SOURCE, 3, user is not None)
    end = end_ui(c2, "To", END, END_SOURCE, 2, user is not None)
    STEPS.default(10)
    METHOD.default("linear")
    steps = c3.slider("Steps", 3, 16, key=STEPS.key)
    method = c4.radio("Path", geometry.INTERPOLATIONS, horizontal=True, key=METHOD.key,
                      format_func={"linear": "linear", "spherical": "spherical (slerp)"}.get)
    formula = ("z(t) = (1 − t)·z_start + t·z_end" if method == "linear" else
               "z(t) = sin((1 − t)ω)/sin ω · z_start + sin(tω)/sin ω · z_end, ω the angle between them")
    ends = [end_caption(e, labels, m.class_names) for e in (start, end)]
    st.caption(f"From {ends[0]} to {ends[1]}: {formula}; each step decoded, and played back as an animation.")
    models = ui.with_comparison(m, other_name)
    paths = {}
    for model in models:
        z_start, z_end = (code_of(model, e, images, user) for e in (start, end))
        path = geometry.interpolate(z_start, z_end, steps, method)
        paths[model.name] = path
        decoded = inference.decode(model.model, path)
        strip = imaging.strip(decoded, scale=3)
        animation = imaging.gif_bytes([imaging.enlarge(img, 4) for img in decoded])
        st.markdown(f"**{model.label}** `{model.name}`")
        strip_col, gif_col = st.columns([6, 1])
        ui.picture(strip, target=strip_col)
        ui.picture(animation, target=gif_col, mime="image/gif")
        stem = f"{model.name}-{method}-{slug(start)}-to-{slug(end)}"
        png_col, gif_download_col, _ = st.columns([1, 1, 3])
        png_col.download_button("Strip as PNG", imaging.png_bytes(strip), file_name=f"{stem}.png",
                                mime="image/png", key=f"interp-png-{model.name}", icon=":material/download:")
        gif_download_col.download_button("Animation as GIF", animation, file_name=f"{stem}.gif",
                                         mime="image/gif", key=f"interp-gif-{model.name}",
                                         icon=":material/download:")
    live = m.model.latent_dim == 2 and latent_plane.available()
    if live:
        path_plane(m, models, paths[m.name], codes=[code_of(m, e, images, user) for e in (start, end)],
                   texts=[f"from {ends[0]}", f"to {ends[1]}"])
    elif m.model.latent_dim == 2:
        latent_plane.explain_fallback()
    shown = [model for model in models if not (live and model is m)]
    for column, model in zip(st.columns(max(len(shown), 1)), shown, strict=False):
        points, proj = resources.view_points(model)
        path = paths[model.name] if proj is None else proj.transform(paths[model.name])
        title = f"{model.label}: interpolation path" + ("" if proj is None else " (PCA)")
        ui.chart(plots.latent_scatter(points, labels, title, path=path, height=420, names=m.class_names),
                 f"interp-plot-{model.name}", target=column)


def path_plane(m: inference.ExplorerModel, models: list[inference.ExplorerModel], path: np.ndarray,
               codes: list[np.ndarray], texts: list[str]) -> None:
    """The path on the live plane of ``m``: hovering decodes any z (by each 2-D model); a click makes
    the nearest test digit the start or the end (the radio says which)."""
    CLICK_SETS.default("to")
    which = st.radio("A click on the plane sets", ("from", "to"), horizontal=True, key=CLICK_SETS.key,
                     format_func={"from": "the start", "to": "the end"}.get)
    decoders = [latent_plane.Decoder(str(model.folder), f"{model.label} · {model.name}")
                for model in models if model.model.latent_dim == 2]
    latent_plane.plane("interp-plane", m, decoders, z=None, on_commit=lambda z: set_end(m, which, z),
                       start=codes[0], marks=list(zip(texts, codes, strict=True)), path=path, height=420,
                       hint="Hover to decode any z; a click makes the nearest test digit the "
                            f"{'start' if which == 'from' else 'end'} of the path.")


def set_end(m: inference.ExplorerModel, which: str, z: np.ndarray) -> None:
    """Make the test digit nearest to ``z`` in ``m``'s latent space the start or end (a callback)."""
    index, source = (START, START_SOURCE) if which == "from" else (END, END_SOURCE)
    index.set(geometry.nearest_test_index(m.codes, z))
    source.set("test digit")


def end_ui(column, label: str, index: state.Param, source: state.Param, default: int,
           has_user_digit: bool) -> int | YourDigit:
    """One end of the path: a test ``index``, or the user's drawn or uploaded digit if there is one
    and ``source`` says so."""
    source.default("test digit")
    chosen = "test digit"
    if has_user_digit:
        chosen = column.radio(f"{label}", ENDS, horizontal=True, key=source.key, label_visibility="collapsed")
    if chosen == "your digit":
        column.caption(f"{label}: {ui.USER_DIGIT_SOURCE.get('your digit')}")
        return YOURS
    return ui.index_input(f"{label} test index", index, default, target=column,
                          help="Or click a digit on the Latent map and choose it there.")


def code_of(model: inference.ExplorerModel, end: int | YourDigit, images,
            user: np.ndarray | None) -> np.ndarray:
    """The latent code of an end: a test digit's cached code, or the user's digit encoded now."""
    if end is YOURS:
        return inference.encode(model.model, user[None])[0]
    return model.codes[end]


def end_caption(end: int | YourDigit, labels: np.ndarray, names) -> str:
    if end is YOURS:
        return ui.USER_DIGIT_SOURCE.get("your digit")
    return f"a {names[labels[end]]} (#{end})"


def slug(end: int | YourDigit) -> str:
    return "yours" if end is YOURS else str(end)


if __name__ == "__main__":  # run as a page by st.navigation
    render()
