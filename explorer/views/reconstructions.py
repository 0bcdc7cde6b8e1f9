"""Reconstructions: test digits through the selected model and a second one, scored in nats."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import catalogue, inference, resources, state, testdata, ui

NEED = catalogue.NEEDS["reconstructions"]  # what this page needs of the picked model
DIGITS = state.Param("digits", "recon-indices", state.parse_text)  # test indices, e.g. "0, 1, 2"
COMPARE = state.Param("compare", "recon-compare", state.parse_text)
PARAMS = (DIGITS, COMPARE)


def render() -> None:
    m = ui.selected_model(NEED)
    if m is None:
        return
    images, labels = resources.test_set(m.dataset)
    n_test = len(labels)
    compare_col, text_col, button_col = st.columns([2, 3, 1])
    with compare_col:
        other_name = ui.compare_picker("Compare with", m.name, NEED.fits, COMPARE)
    if button_col.button("Random digits", icon=":material/casino:", key="recon-random"):
        rng = np.random.default_rng()
        DIGITS.set(", ".join(map(str, rng.choice(n_test, 5, replace=False))))
    DIGITS.default("0, 1, 2, 3, 4")
    text = text_col.text_input("Test indices (comma-separated, 0–9999)", key=DIGITS.key)
    try:
        indices = testdata.parse_indices(text, n_test)
    except ValueError as e:
        st.error(str(e))
        return
    models = ui.with_comparison(m, other_name)
    st.caption("Per-image reconstruction error: −log p(x|z) summed over the 784 pixels, in nats, with z "
               "the latent location (the posterior mean for the VAE family); lower is better.")
    x = images[indices]
    results = [inference.reconstruct(model.model, x) for model in models]
    header = st.columns(1 + len(models))
    header[0].markdown("**original**")
    for col, model in zip(header[1:], models, strict=True):
        col.markdown(f"**{model.label}** `{model.name}`")
    for row, index in enumerate(indices):
        cols = st.columns(1 + len(models))
        ui.image(x[row, 0].numpy(), caption=ui.digit_caption(index, labels, m.class_names),
                 scale=ui.ROW_SCALE, target=cols[0])
        for col, model, (recon, nll) in zip(cols[1:], models, results, strict=True):
            ui.image(recon[row], caption=f"{model.label}: {nll[row]:.1f} nats", scale=ui.ROW_SCALE,
                     target=col)


if __name__ == "__main__":  # run as a page by st.navigation
    render()
