"""latent-explorer: see what a 2-D autoencoder and a VAE learned about MNIST.

Run with ``streamlit run explorer/app.py``. This file holds only the page layout; the panels live in
``explorer/panels.py``, figures in ``explorer/plots.py`` and torch logic in ``explorer/core.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

if __package__ in (None, ""):  # `streamlit run explorer/app.py` without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer import panels  # noqa: E402

st.set_page_config(page_title="latent-explorer", page_icon="🔭", layout="wide")
st.title("latent-explorer")
st.caption("What does an autoencoder learn? A plain AE and a VAE (Kingma & Welling 2014), "
           "each with a 2-D latent z, trained on MNIST. Everything runs locally.")

try:
    images, labels = panels.test_set()
except FileNotFoundError as e:
    st.error(f"The shipped MNIST test digits are missing: {e}")
    st.stop()

models = panels.load_models()
if not models:
    st.stop()

with st.sidebar:
    st.header("Models")
    for m in models.values():
        metric = m.metrics.get("test_negative_elbo", m.metrics.get("test_recon_nll"))
        what = "test −ELBO" if "test_negative_elbo" in m.metrics else "test reconstruction NLL"
        st.markdown(f"**{m.label}** `{m.name}`  \n{what}: **{metric:.1f} nats** per image  \n"
                    f"latent d = {m.model.latent_dim}, MLP {list(m.model.config.hidden_dims)}, "
                    f"{m.metrics.get('epochs', '?')} epochs")
    st.divider()
    st.caption("Data: MNIST (Y. LeCun, C. Cortes, C. J. C. Burges), 10,000 test digits.")

# Lazy tabs: only the open tab's panel runs (each switch reruns the script). This keeps reruns fast
# and the browser under its limit of live WebGL contexts (about 16), which the scatters use.
PANELS = {
    "Latent scatter": lambda: panels.latent_scatter_panel(models, images, labels),
    "Click to decode": lambda: panels.zplane_panel(models, labels),
    "Reconstructions": lambda: panels.reconstructions_panel(models, images, labels),
    "Interpolation": lambda: panels.interpolation_panel(models, images, labels),
    "Posterior": lambda: panels.posterior_panel(images, labels),
    "Upload a digit": lambda: panels.upload_panel(models, images, labels),
    "Denoising": lambda: panels.denoising_panel(models, images, labels),
    "Prior sampling": lambda: panels.prior_sampling_panel(models, labels),
    "Conditional generation": lambda: panels.conditional_panel(images, labels),
    "16-D latents": lambda: panels.high_dim_panel(images, labels),
    "Toy demo": panels.toy_panel,
    "Model card": panels.model_card_panel,
}
for tab, draw in zip(st.tabs(list(PANELS), key="tab", on_change="rerun"), PANELS.values(), strict=True):
    if tab.open:
        with tab:
            draw()
