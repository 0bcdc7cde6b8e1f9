"""Higher-dimensional latents: PCA scatter, one traversal slider per dimension, KL per dimension."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import catalogue, inference, plots, resources, state, ui

NEED = catalogue.NEEDS["high_dim"]  # what this page needs of the picked model
INDEX = state.Param("digit", "hd-index", state.int_in(0, 9_999))
PARAMS = (INDEX,)
TRAVERSAL = state.Key("hd-traversal")  # one slider per latent dimension and chosen digit
SLIDER_RANGE = 4.0
MAX_SLIDERS = 32


def render() -> None:
    m = ui.selected_model(NEED)
    if m is None:
        return
    images, labels = resources.test_set(m.dataset)
    d = m.model.latent_dim
    variances = m.metrics.get("mean_variance_per_dim") or m.codes.var(axis=0).tolist()
    threshold = m.metrics.get("active_unit_threshold", 0.01)
    active = [v > threshold for v in variances]
    st.caption(f"`{m.name}` has a {d}-D latent. The scatter shows its test-set codes projected on their "
               f"first two principal components; the sliders move one latent dimension at a time around "
               f"a chosen digit (a traversal). {sum(active)} of {d} dimensions are active "
               f"(Var_x(E[z_i]) > {threshold}); moving an inactive one changes almost nothing.")
    proj = resources.projection(str(m.folder))
    left, right = st.columns([3, 2])
    with right:
        index = ui.index_input("Traverse around test digit", INDEX, 0)
        base = np.clip(m.codes[index], -SLIDER_RANGE, SLIDER_RANGE)
        # One slider per dimension; for a large latent, the MAX_SLIDERS with the most variance.
        shown = sorted(np.argsort(variances)[::-1][:MAX_SLIDERS].tolist())
        if len(shown) < d:
            st.caption(f"Sliders for the {len(shown)} of {d} dimensions whose codes vary most.")
        sliders = st.columns(4)
        z = base.astype(np.float32).copy()
        for n, i in enumerate(shown):
            label = f"z{i + 1}" + ("" if active[i] else " (inactive)")
            z[i] = sliders[n % 4].slider(label, min_value=-SLIDER_RANGE, max_value=SLIDER_RANGE,
                                         value=float(base[i]), step=0.1, key=TRAVERSAL.item(index, i).key)
        pair = st.columns(2)
        ui.image(np.asarray(images[index, 0]), caption=ui.digit_caption(index, labels, m.class_names),
                 scale=ui.ROW_SCALE * 2, target=pair[0])
        moved = int(np.sum(~np.isclose(z, base, atol=0.05)))
        ui.image(inference.decode(m.model, z), caption=f"decoded z ({moved} of {d} dimensions moved)",
                 scale=ui.ROW_SCALE * 2, target=pair[1])
    with left:
        title = (f"PCA of the {d}-D codes: PC1 {proj.explained[0]:.0%}, PC2 {proj.explained[1]:.0%} "
                 "of the variance")
        marks = [("traversed z", proj.transform(z))] if moved else []
        fig = plots.latent_scatter(proj.points, labels, title, height=480, names=m.class_names,
                                   marks=[(f"#{index}", proj.transform(m.codes[index])), *marks])
        fig.update_layout(xaxis_title="PC1", yaxis_title="PC2")
        ui.chart(fig, "hd-pca")
        if "kl_per_dim" in m.metrics:
            ui.chart(plots.kl_per_dimension(m.metrics["kl_per_dim"], variances, threshold), "hd-kl")


if __name__ == "__main__":  # run as a page by st.navigation
    render()
