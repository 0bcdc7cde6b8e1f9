"""Prior sampling: the same z ~ N(0, I) decoded by the selected model and a second one."""

from __future__ import annotations

import streamlit as st

from explorer import catalogue, imaging, inference, plots, resources, state, ui

NEED = catalogue.NEEDS["prior"]  # what this page needs of the picked model
SEED = state.Param("seed", "prior-seed", state.int_in(0, 2**31 - 1))
SAMPLES = state.Param("samples", "prior-n", state.int_in(8, 48))
COMPARE = state.Param("compare", "prior-compare", state.parse_text)
PARAMS = (SEED, SAMPLES, COMPARE)


def render() -> None:
    m = ui.selected_model(NEED)
    if m is None:
        return
    labels = resources.test_set(m.dataset)[1]
    st.caption("A VAE's KL term pulls its codes towards the prior p(z) = N(0, I), so random z from the "
               "prior decode to digits. A plain AE was never asked to: many prior samples land where it "
               "encoded nothing (its holes) and decode to blurs.")
    compare_col, seed_col, n_col = st.columns([2, 1, 2])
    with compare_col:
        latent_dim = m.model.latent_dim
        other_name = ui.compare_picker("Compare with", m.name,
                                       lambda c: NEED.fits(c) and c.latent_dim == latent_dim,
                                       COMPARE)
    SEED.default(0)
    SAMPLES.default(24)
    seed = int(seed_col.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key=SEED.key))
    n = n_col.slider("Samples", min_value=8, max_value=48, step=8, key=SAMPLES.key)
    z = inference.prior_samples(n, m.model.latent_dim, seed)
    models = ui.with_comparison(m, other_name)
    for column, model in zip(st.columns(2), models, strict=False):
        with column:
            ui.picture(imaging.image_grid(inference.decode(model.model, z), columns=8, scale=3),
                     caption=f"z ~ N(0, I) decoded by the {model.label} ({model.name})")
            points, proj = resources.view_points(model)
            title = f"{model.label}: test-set codes and the samples" + ("" if proj is None else " (PCA)")
            fig = plots.latent_scatter(points, labels, title, height=420, names=m.class_names)
            fig.add_trace(plots.points_trace(z if proj is None else proj.transform(z), "prior samples z"))
            ui.chart(fig, f"prior-plane-{model.name}")


if __name__ == "__main__":  # run as a page by st.navigation
    render()
