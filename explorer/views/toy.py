"""Toy demo: two Gaussian clusters through a 1-D bottleneck, AE vs VAE."""

from __future__ import annotations

import streamlit as st

from explorer import catalogue, plots, resources, ui

NEED = catalogue.NEEDS["toy"]  # what this page needs of the picked model
PARAMS = ()


def render() -> None:
    info = ui.require(NEED)
    if info is None:
        return
    others = [i for i in resources.checkpoints() if i.name != info.name and i.model_config
              and NEED.fits(i.model_config) and i.dataset == info.dataset]
    shown = {}
    for i in [info, *others]:
        demo = ui.load_or_report(resources.toy_demo, i.folder)
        if demo is not None:
            shown[i.name] = (i.model_config, demo)
    if not shown:
        return
    data = resources.toy_data()
    st.caption("2-D points from two Gaussian clusters, squeezed through a 1-D latent z. The AE maps every "
               "point onto one curve: its reconstructions collapse the clusters' spread. The VAE also "
               "decodes to a curve, but its likelihood p(x|z) has a learned variance and its prior covers "
               "the code range, so sampling z ~ N(0, 1) and then x ~ p(x|z) gives back both clusters.")
    x, y = data.test_x.numpy(), data.test_y.numpy()
    for column, (name, (config, demo)) in zip(st.columns(len(shown)), shown.items(), strict=True):
        overlays = [] if demo.generated is None else [("samples x ~ p(x)", demo.generated, "#2ca02c")]
        overlays.append(("reconstructions E[x|z]", demo.reconstructions, "#d62728"))
        title = f"{config.label} ({name})"
        ui.chart(plots.toy_plane(x, y, overlays, title), f"toy-{name}", target=column)
    ui.chart(plots.toy_codes({name: demo.codes for name, (_, demo) in shown.items()}, y), "toy-codes")




if __name__ == "__main__":  # run as a page by st.navigation
    render()
