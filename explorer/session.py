"""The script Streamlit runs for each browser session, on every rerun (the server is
``explorer/app.py``: run the explorer with ``streamlit run explorer/app.py``).

This file holds only the layout: the sidebar (model picker, presenter switch) and the page list.
Each page is a module in ``explorer/views/``; figures live in ``explorer/plots.py``, torch logic in
the modules without streamlit (``explorer/inference.py`` and others) and cached resources in
``explorer/resources.py``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import streamlit as st

REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if REPO_ROOT not in sys.path:  # `streamlit run explorer/app.py` without `pip install -e .`; once, not on
    sys.path.insert(0, REPO_ROOT)  # every rerun (each rerun runs this file, and sys.path grew by one)

from explorer import startup  # noqa: E402

startup.wait_for_first_page()  # the server's warm-up thread may be importing these right now
from explorer import sidebar, state, ui, views  # noqa: E402

# (view module in explorer/views, title, url path, icon) by section; each is imported when first shown.
DEFAULT_PAGE = "latent_map"
# Pages whose modules import neither torch (~1.5 s) nor pandas, so that they never wait for the warm-up
# (tests/test_app.py checks it): the default page, and the time-lapse that opens a talk.
LIGHT_PAGES = (DEFAULT_PAGE, "timelapse")
PAGES = {
    "Latent space": [
        ("latent_map", "Latent map", "latent-map", ":material/scatter_plot:"),
        ("decode", "Click to decode", "decode", ":material/touch_app:"),
        ("reconstructions", "Reconstructions", "reconstructions", ":material/compare:"),
        ("interpolation", "Interpolation", "interpolation", ":material/timeline:"),
        ("posterior", "Posterior q(z|x)", "posterior", ":material/blur_on:"),
        ("draw", "Draw or upload", "draw", ":material/draw:"),
    ],
    "Generation": [
        ("prior", "Prior sampling", "prior", ":material/casino:"),
        ("conditional", "Conditional generation", "conditional", ":material/category:"),
        ("denoising", "Denoising", "denoising", ":material/auto_fix_high:"),
    ],
    "Models": [
        ("high_dim", "Higher-dimensional latents", "latents", ":material/view_in_ar:"),
        ("toy", "Toy demo", "toy", ":material/bubble_chart:"),
        ("model_card", "Model card", "card", ":material/badge:"),
    ],
    "Talks": [
        ("timelapse", "Training time-lapse", "timelapse", ":material/movie:"),
        ("workshop", "Train live", "train-live", ":material/model_training:"),
        ("audience", "Audience board", "audience", ":material/groups:"),
    ],
}
VIEWS = Path(views.__file__).resolve().parent
MODULE_OF = {path: name for entries in PAGES.values() for name, _, path, _ in entries}


def view_module(name: str):
    """The page module ``explorer.views.<name>``, imported now if it is not yet (a page that imports
    torch waits for the warm-up's imports first, rather than importing the same modules beside it)."""
    if f"explorer.views.{name}" not in sys.modules and name not in LIGHT_PAGES:
        startup.wait_for_imports()
    return importlib.import_module(f"explorer.views.{name}")


def imported_params() -> tuple:
    """The URL parameters of the pages whose modules are imported: a page never imported in this
    server has never been shown, so it has no widget state to keep."""
    modules = (sys.modules.get(f"explorer.views.{name}") for entries in PAGES.values()
               for name, *_ in entries)
    # getattr: the warm-up thread may be importing a page right now (in sys.modules, not yet complete)
    return tuple(p for m in modules if m is not None for p in getattr(m, "PARAMS", ()))


state.restore(state.GLOBAL_PARAMS)  # a bookmarked URL, before any widget is drawn
state.persist(state.GLOBAL_PARAMS + imported_params())
st.set_page_config(page_title="latent-explorer", page_icon="🔭", layout="wide",
                   initial_sidebar_state="collapsed" if ui.presenting() else "auto")

sidebar.render()
# Each page is its view module's file, run as a script (so AppTest can switch to it by path).
pages = {section: [st.Page(str(VIEWS / f"{name}.py"), title=title, url_path=path, icon=icon,
                           default=name == DEFAULT_PAGE)
                   for name, title, path, icon in entries] for section, entries in PAGES.items()}
page = st.navigation(pages)
page_params = view_module(MODULE_OF.get(page.url_path) or DEFAULT_PAGE).PARAMS
state.restore(page_params)  # only this page's: pages may use the same name in the URL for different state
st.title(page.title)
page.run()
state.publish(state.GLOBAL_PARAMS + page_params)
startup.script_run_ended()
