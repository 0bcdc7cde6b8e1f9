"""Click to decode: the 2-D z-plane decodes under the pointer in the browser, by the picked model and
a second one on the same z (the VAE and the AE by default); a click keeps z (URL, nearest digit)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import catalogue, geometry, inference, latent_plane, resources, state, ui

NEED = catalogue.NEEDS["decode"]  # what this page needs of the picked model
Z = state.Param("z", "decode-z", state.parse_z, state.show_z)
COMPARE = state.Param("compare", "decode-compare", state.parse_text)
PARAMS = (Z, COMPARE)


def render() -> None:
    m = ui.selected_model(NEED)
    if m is None:
        return
    compare = ui.compare_picker("Also decode the same z with", m.name, catalogue.is_2d, COMPARE)
    if latent_plane.available():
        live(m, compare)
    else:
        latent_plane.explain_fallback()
        plane(m, compare)


def decoder_of(name: str) -> latent_plane.Decoder:
    """The decoder of the listed checkpoint ``name``, captioned "VAE · mnist-vae-2d"."""
    info = resources.checkpoint(name)
    label = info.model_config.label if info and info.model_config else "model"
    return latent_plane.Decoder(str(catalogue.CHECKPOINT_DIR / name), f"{label} · {name}")


@st.fragment
def live(m: inference.ExplorerModel, compare: str | None) -> None:
    """The browser plane: moves decode in the browser; a commit reruns only this fragment, which
    keeps z in the URL and names the nearest test digit."""
    decoders = [decoder_of(m.name)] + ([decoder_of(compare)] if compare else [])
    latent_plane.plane("decode-plane", m, decoders, z=Z.get(), on_commit=Z.set)
    state.publish_one(Z)
    z = Z.get()
    if z is None:
        st.caption("Before any click, z = 0 (the prior's mean) is decoded.")
        return
    labels = resources.test_set(m.dataset)[1]
    nearest = geometry.nearest_test_index(m.codes, z)
    st.caption(f"Kept z = ({z[0]:.2f}, {z[1]:.2f}): the nearest test image in latent space is #{nearest} "
               f"(a {m.class_names[labels[nearest]]}). The URL keeps this z.")


@st.fragment
def plane(m: inference.ExplorerModel, compare: str | None) -> None:
    """The server-side plane (when the browser plane cannot run). Only this reruns on a click, and
    only the decoded image and its text change: the plot is the same cached figure each time, so
    the browser does not redraw it. Before any click, z = 0 (the
    prior's mean) is decoded."""
    labels = resources.test_set(m.dataset)[1]
    chart_key = f"zplane-{m.name}"
    clicked = ui.last_click(chart_key, Z)
    plot_col, image_col = st.columns([3, 2])
    ui.plane_chart(m, f"{m.label} z-plane: click anywhere", chart_key, clicked, target=plot_col)
    z = np.zeros(2, np.float32) if clicked is None else np.asarray(clicked, dtype=np.float32)
    with image_col:
        if compare is None:
            ui.image(inference.decode(m.model, z), caption=f"decoded by the {m.label}")
        else:
            other = ui.load_or_report(resources.plain_model, catalogue.CHECKPOINT_DIR / compare)
            left, right = st.columns(2)
            ui.image(inference.decode(m.model, z), caption=f"decoded by the {m.label}",
                     scale=ui.ROW_SCALE * 2, target=left)
            if other is not None:
                ui.image(inference.decode(other, z), caption=f"same z, {compare}", scale=ui.ROW_SCALE * 2,
                         target=right)
        hint = "" if clicked is not None else " (the prior's mean): click the plane, empty space too"
        st.markdown(f"**z = ({z[0]:.2f}, {z[1]:.2f})**{hint}")
        nearest = geometry.nearest_test_index(m.codes, z)
        st.caption(f"Nearest test image in latent space: index {nearest} "
                   f"(a {m.class_names[labels[nearest]]}).")

if __name__ == "__main__":  # run as a page by st.navigation
    render()
