"""Conditional generation (CVAE): one style z with every class; one class across the style plane."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import catalogue, geometry, imaging, inference, latent_plane, resources, state, ui

NEED = catalogue.NEEDS["conditional"]  # what this page needs of the picked model
INDEX = state.Param("digit", "cvae-index", state.int_in(0, 9_999))
CLASS = state.Param("class", "cvae-class", state.int_in(0, 9))
Z = state.Param("z", "cvae-z", state.parse_z, state.show_z)
PARAMS = (INDEX, CLASS, Z)
PLANE = "cvae-plane"  # the style plane's chart (its selection is the click)


def render() -> None:
    m = ui.selected_model(NEED)
    if m is None:
        return
    images, labels = resources.test_set(m.dataset)
    st.caption("The conditional VAE is given the digit's class y, so its 2-D latent z only has to carry "
               "the *style*: slant, stroke width, size. Encode one digit with its own class, then decode "
               "its z with every class; or fix a class and click the style plane.")
    left, right = st.columns(2)
    with left:
        index = ui.index_input("Style of test digit", INDEX, 0)
        z = inference.style_of(m.model, images[index], int(labels[index]))
        caption = ui.digit_caption(index, labels, m.class_names)
        ui.image(np.asarray(images[index, 0]), caption=f"{caption}, style z = "
                 
                 f"({z[0]:.2f}, {z[1]:.2f})", scale=ui.ROW_SCALE * 2)
        ten = inference.decode_with_labels(m.model, np.repeat(z[None], 10, axis=0), list(range(10)))
        ui.picture(imaging.strip(ten, scale=3), caption=f"classes 0–9 decoded in the style of #{index}")
    with right:
        CLASS.default(3)
        digit = st.radio("Class", list(range(10)), horizontal=True, key=CLASS.key)
        if latent_plane.available():
            live_style_plane(m, digit)
        else:
            latent_plane.explain_fallback()
            style_plane(m, labels, digit)
    n = 12
    plane_images = inference.decode_with_labels(m.model, geometry.prior_quantile_grid(n), [digit] * n * n)
    ui.picture(imaging.image_grid(plane_images, columns=n, scale=2),
             caption=f"class {digit} across the style plane: z on prior quantiles 5 %…95 % per axis")


@st.fragment
def live_style_plane(m: inference.ExplorerModel, digit: int) -> None:
    """The style plane in the browser: the CVAE decodes class ``digit`` at the style z under the
    pointer; a click keeps the style z (and the URL)."""
    decoder = latent_plane.Decoder(str(m.folder), f"a {m.class_names[digit]} in this style", label=digit)
    latent_plane.plane(PLANE, m, [decoder], z=Z.get(), on_commit=Z.set, height=340,
                       hint="Hover or drag over the style plane; click to keep a style z.")
    state.publish_one(Z)


@st.fragment
def style_plane(m: inference.ExplorerModel, labels: np.ndarray, digit: int) -> None:
    """Click a style z: only this fragment reruns."""
    clicked = ui.last_click(PLANE, Z)
    plot_col, image_col = st.columns([3, 2])
    ui.plane_chart(m, "Click a style z", PLANE, clicked, target=plot_col, height=340, legend=False)
    # Before any click, the style z = 0 (the prior's mean) is drawn.
    style = np.zeros(2, np.float32) if clicked is None else np.asarray(clicked, dtype=np.float32)
    drawn = inference.decode_with_labels(m.model, style[None], [digit])[0]
    hint = " (click the plane)" if clicked is None else ""
    ui.image(drawn, caption=f"a {digit} at z = ({style[0]:.2f}, {style[1]:.2f}){hint}",
             scale=ui.ROW_SCALE * 2, target=image_col)


if __name__ == "__main__":  # run as a page by st.navigation
    render()
