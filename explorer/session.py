"""The script Streamlit runs for each browser session, on every rerun (the server is
``explorer/app.py``: run the explorer with ``streamlit run explorer/app.py``).

This file holds only the layout: the sidebar (model picker, presenter switch) and the page list.
Each page is a module in ``explorer/views/``; figures live in ``explorer/plots.py``, torch logic in
the modules without streamlit (``explorer/inference.py`` and others) and cached resources in
``explorer/resources.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if REPO_ROOT not in sys.path:  # `streamlit run explorer/app.py` without `pip install -e .`; once, not on
    sys.path.insert(0, REPO_ROOT)  # every rerun (each rerun runs this file, and sys.path grew by one)

from explorer import startup  # noqa: E402

startup.wait_for_imports()  # the server's warm-up thread may be importing these right now
from explorer import sidebar, state, ui  # noqa: E402
from explorer.views import (  # noqa: E402
    audience,
    conditional,
    decode,
    denoising,
    draw,
    high_dim,
    interpolation,
    latent_map,
    model_card,
    posterior,
    prior,
    reconstructions,
    timelapse,
    toy,
    workshop,
)

# (module, title, url path, icon) by section; the first page is the default.
PAGES = {
    "Latent space": [
        (latent_map, "Latent map", "latent-map", ":material/scatter_plot:"),
        (decode, "Click to decode", "decode", ":material/touch_app:"),
        (reconstructions, "Reconstructions", "reconstructions", ":material/compare:"),
        (interpolation, "Interpolation", "interpolation", ":material/timeline:"),
        (posterior, "Posterior q(z|x)", "posterior", ":material/blur_on:"),
        (draw, "Draw or upload", "draw", ":material/draw:"),
    ],
    "Generation": [
        (prior, "Prior sampling", "prior", ":material/casino:"),
        (conditional, "Conditional generation", "conditional", ":material/category:"),
        (denoising, "Denoising", "denoising", ":material/auto_fix_high:"),
    ],
    "Models": [
        (high_dim, "Higher-dimensional latents", "latents", ":material/view_in_ar:"),
        (toy, "Toy demo", "toy", ":material/bubble_chart:"),
        (model_card, "Model card", "card", ":material/badge:"),
    ],
    "Talks": [
        (timelapse, "Training time-lapse", "timelapse", ":material/movie:"),
        (workshop, "Train live", "train-live", ":material/model_training:"),
        (audience, "Audience board", "audience", ":material/groups:"),
    ],
}
ALL_PARAMS = state.GLOBAL_PARAMS + tuple(p for views in PAGES.values() for m, *_ in views for p in m.PARAMS)

state.restore(state.GLOBAL_PARAMS)  # a bookmarked URL, before any widget is drawn
state.persist(ALL_PARAMS)
st.set_page_config(page_title="latent-explorer", page_icon="🔭", layout="wide",
                   initial_sidebar_state="collapsed" if ui.presenting() else "auto")

sidebar.render()
# Each page is its view module's file, run as a script (so AppTest can switch to it by path).
pages = {section: [st.Page(m.__file__, title=title, url_path=path, icon=icon, default=m is latent_map)
                   for m, title, path, icon in views] for section, views in PAGES.items()}
modules = {path: m for views in PAGES.values() for m, _, path, _ in views}
page = st.navigation(pages)
page_params = modules[page.url_path or "latent-map"].PARAMS
state.restore(page_params)  # only this page's: pages may use the same name in the URL for different state
st.title(page.title)
page.run()
state.publish(state.GLOBAL_PARAMS + page_params)
