"""Posterior uncertainty: q(z|x) of one digit as 1- and 2-sigma ellipses, and decoded samples."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import catalogue, geometry, imaging, inference, plots, resources, state, ui

NEED = catalogue.NEEDS["posterior"]  # what this page needs of the picked model
SOURCES = ("test digit", "your digit")
INDEX = state.Param("digit", "post-index", state.int_in(0, 9_999))
SOURCE = state.Param("source", "post-source", state.one_of(*SOURCES))
SEED = state.Param("seed", "post-seed", state.int_in(0, 2**31 - 1))
PARAMS = (INDEX, SOURCE, SEED)


def render() -> None:
    m = ui.selected_model(NEED)
    if m is None:
        return
    images, labels = resources.test_set(m.dataset)
    st.caption("The encoder gives each digit a whole distribution q(z|x) = N(μ, diag σ²), not a point. "
               "The ellipses are its 1σ and 2σ contours; the dots are samples z = μ + σ·ε "
               "(reparameterization), decoded below. A β-VAE pays β times more for information in z, so "
               "its posteriors are wider: compare by picking `mnist-betavae-2d` in the sidebar.")
    user = ui.USER_DIGIT.get()
    source_col, index_col, seed_col = st.columns(3)
    SOURCE.default("test digit")
    source = "test digit"
    if user is not None:
        source = source_col.radio("Digit", SOURCES, horizontal=True, key=SOURCE.key)
    if source == "your digit":
        x, name = user, ui.USER_DIGIT_SOURCE.get("your digit")
    else:
        index = ui.index_input("Test digit", INDEX, 0, target=index_col)
        x, name = np.asarray(images[index, 0]), ui.digit_caption(index, labels, m.class_names)
    SEED.default(0)
    seed = int(seed_col.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=SEED.key))
    mu, sigma = inference.posterior_of(m.model, x)
    samples = inference.posterior_samples(mu, sigma, 10, seed)
    left, right = st.columns([3, 2])
    fig = plots.latent_scatter(m.codes, labels, f"{m.label}: q(z|x) of {name}", faint=True,
                               names=m.class_names)
    contours = [(f"{k}σ", geometry.ellipse(mu, sigma, k)) for k in (1, 2)]
    fig.add_traces(plots.posterior_traces(mu, contours, samples))
    pad = max(6 * float(sigma.max()), 0.05)  # zoom so the 2σ ellipse fills a third of the view
    fig.update_xaxes(range=[float(mu[0]) - pad, float(mu[0]) + pad])
    fig.update_yaxes(range=[float(mu[1]) - pad, float(mu[1]) + pad])
    ui.chart(fig, f"post-plot-{m.name}", target=left)
    with right:
        ui.image(x, caption=name, scale=ui.ROW_SCALE * 2)
        st.markdown(f"μ = ({mu[0]:.2f}, {mu[1]:.2f}), σ = ({sigma[0]:.3f}, {sigma[1]:.3f})")
        ui.picture(imaging.strip(inference.decode(m.model, samples), scale=2),
                   caption="10 samples z ~ q(z|x), decoded")


if __name__ == "__main__":  # run as a page by st.navigation
    render()
