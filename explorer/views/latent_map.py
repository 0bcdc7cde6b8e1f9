"""Latent map: the encoded test set by class, with an optional manifold of decoded tiles.

A 2-D latent is drawn by the browser plane (explorer/latent_plane.py): the model's decoder runs in
the browser under the pointer, and a click picks the nearest test digit. The manifold overlay, a
PCA of a larger latent and browsers where the plane cannot run use the plotly scatter."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from explorer import catalogue, geometry, latent_plane, resources, state, ui

if TYPE_CHECKING:
    from explorer.encoded import ExplorerModel

# This is the default page: its first render on the live plane imports neither torch nor explorer.plots
# (pandas; see explorer/encoded.py). The plotly scatter and the hand-offs to other pages import them
# when used.

NEED = catalogue.NEEDS["latent_map"]  # what this page needs of the picked model
COMPARE = state.Param("compare", "map-compare", state.parse_text)
MANIFOLD = state.Param("manifold", "manifold", state.parse_flag, state.show_flag)
TILES = state.Param("tiles", "manifold-n", state.int_in(5, 20))
SPACING = state.Param("spacing", "manifold-spacing", state.one_of(*geometry.MANIFOLD_SPACINGS))
PARAMS = (COMPARE, MANIFOLD, TILES, SPACING)


def render() -> None:
    m = ui.selected_model(NEED)
    if m is None:
        return
    labels = resources.test_labels(m.dataset)
    intro = st.empty()
    live = latent_plane.available()
    compare_col, on_col, spacing_col, n_col = st.columns([3, 2, 3, 3])
    with compare_col:
        # One scatter by default: the first page renders faster; AE vs VAE is one pick away.
        other_name = ui.compare_picker("Side by side with", m.name, NEED.fits, COMPARE,
                                       default_first=False)
    MANIFOLD.default(False)
    SPACING.default("prior")
    TILES.default(12)
    overlay = on_col.toggle("Manifold overlay", key=MANIFOLD.key,
                            help="Tile decoded images over the plane (2-D latents only).")
    spacing, n = SPACING.get(), TILES.get()
    if overlay:  # the overlay's own settings only with it (and the first page loads no slider code)
        spacings = {"prior": "prior quantiles", "data": "the data's range"}
        spacing = spacing_col.radio("Tiles spaced by", geometry.MANIFOLD_SPACINGS, horizontal=True,
                                    key=SPACING.key, format_func=spacings.get)
        n = n_col.slider("Tiles per side", 5, 20, key=TILES.key)
    shown = ui.with_comparison(m, other_name)
    planes = [live and not overlay and model.config.latent_dim == 2 for model in shown]
    what = ("Each dot is one of the 10,000 test digits at its latent location (the posterior mean E[q(z|x)] "
            "for the VAE family).")
    if any(planes):
        intro.markdown(f"{what} Point anywhere: the decoder, running in your browser, decodes the z under "
                       "the pointer. Click to pick the nearest test digit; click a class below the plane "
                       "to hide it.")
    else:
        intro.markdown(f"{what} Hover a dot for its label and index, click it to see the digit; click a "
                       "digit in the legend to hide it.")
        if not live and not overlay and any(model.config.latent_dim == 2 for model in shown):
            latent_plane.explain_fallback()
    for column, model, on_plane in zip(st.columns(len(shown)), shown, planes, strict=True):
        with column:
            if on_plane:
                live_map(model, labels)
            else:
                scatter(model, labels, overlay, spacing, n)


@st.fragment
def live_map(m: ExplorerModel, labels: np.ndarray) -> None:
    """The browser plane of the 2-D model ``m``: its decoder under the pointer (none for the CVAE,
    which needs a class too); a commit picks the nearest shown test digit (only this fragment
    reruns), marked with a cross and shown below with its hand-offs."""
    key = f"map-plane-{m.name}"
    picked = state.Key(f"map-picked-{m.name}")

    def pick(z: np.ndarray) -> None:
        index = geometry.nearest_shown_index(m.codes, labels, z,
                                             latent_plane.hidden_classes(key, len(m.class_names)))
        if index is not None:
            picked.set(index)

    if catalogue.decodes_z_alone(m.config):
        decoders = [latent_plane.Decoder(str(m.folder), f"{m.label} · {m.name}")]
        hint = "Hover or drag to decode; click (or press Enter) to pick the nearest test digit."
    else:
        decoders = []
        hint = (f"The {m.label} decodes a style z only together with a class y: decode it on Conditional "
                "generation. Click to pick the nearest test digit.")
    index = picked.get()
    latent_plane.plane(key, m, decoders, z=None if index is None else m.codes[index], on_commit=pick,
                       hint=hint)
    if index is not None:
        picked_digit(index, labels, m)


def scatter(m: ExplorerModel, labels: np.ndarray, overlay: bool, spacing: str, n: int) -> None:
    from explorer import plots  # noqa: PLC0415 (plotly: see the imports)

    points, proj = resources.view_points(m)
    title = f"{m.label}: {m.name}"
    if proj is not None:
        title += f" (PCA of {m.config.latent_dim}-D codes)"
    # The tiles decode z alone: a 2-D latent, and not the CVAE, which needs a class y as well.
    tiled = overlay and proj is None and catalogue.decodes_z_alone(m.config)
    fig = plots.latent_scatter(points, labels, title, faint=tiled, names=m.class_names)
    if proj is not None:
        fig.update_layout(xaxis_title="PC1", yaxis_title="PC2")
    if tiled:
        xs, ys, tiles = resources.manifold(str(m.folder), n, spacing)
        plots.add_manifold(fig, xs, ys, tiles)
    elif overlay and proj is not None:
        st.caption("The manifold overlay needs a 2-D latent; this one is shown through PCA.")
    elif overlay:
        st.caption(f"The {m.label} decodes a style z only together with a class y, so there is no "
                   "single image per point: see its mosaic for each class on Conditional generation.")
    event = ui.chart(fig, f"scatter-{m.name}", clickable=True)
    index = plots.picked_index(event)
    if index is not None:
        picked_digit(index, labels, m)


def picked_digit(index: int, labels: np.ndarray, m: ExplorerModel) -> None:
    """A clicked test digit, with buttons that hand it to other pages (through their parameters)."""
    from explorer.views import interpolation, posterior, reconstructions  # noqa: PLC0415 (see the imports)

    left, right = st.columns([1, 2])
    key = m.name
    images = resources.test_arrays(m.dataset)[0]
    ui.image(images[index] / np.float32(255), caption=ui.digit_caption(index, labels, m.class_names),
             scale=ui.ROW_SCALE, target=left)
    right.button("Interpolate from this digit", key=f"pick-start-{key}",
                 on_click=interpolation.START.set, args=(index,))
    right.button("Interpolate to this digit", key=f"pick-end-{key}",
                 on_click=interpolation.END.set, args=(index,))
    right.button("Reconstruct this digit", key=f"pick-recon-{key}",
                 on_click=reconstructions.DIGITS.set, args=(str(index),))
    right.button("Its posterior q(z|x)", key=f"pick-post-{key}",
                 on_click=posterior.INDEX.set, args=(index,))


if __name__ == "__main__":  # run as a page by st.navigation
    render()
