"""Denoising: a corrupted test digit through the DAE and the other models, scored on the clean one."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import catalogue, inference, resources, state, ui

NEED = catalogue.NEEDS["denoising"]  # what this page needs of the picked model
NOISES = {"mask": "masking (pixels set to 0)", "gaussian": "additive Gaussian"}
INDEX = state.Param("digit", "denoise-index", state.int_in(0, 9_999))
NOISE = state.Param("noise", "denoise-noise", state.one_of(*NOISES))
MAX_LEVEL = 0.9
LEVEL = state.Param("level", "denoise-level", state.float_in(0.0, MAX_LEVEL))
PARAMS = (INDEX, NOISE, LEVEL)
COMPARE = state.Key("denoise-compare")  # per picked model: the models shown beside it


def render() -> None:
    m = ui.selected_model(NEED)
    if m is None:
        return
    images, labels = resources.test_set(m.dataset)
    config = m.model.config
    trained = (f"The DAE `{m.name}` was trained to reconstruct clean digits from corrupted ones "
               f"({config.noise} noise at level {config.noise_level:g})" if config.kind == "dae" else
               f"`{m.name}` is a {m.label}: it only ever saw clean digits (pick a DAE in the sidebar to see "
               "one trained on corrupted digits)")
    st.caption(f"{trained}. Each reconstruction is scored against the *clean* digit: "
               "−log p(x_clean | z = encode(x_noisy)), in nats.")
    index_col, noise_col, level_col = st.columns(3)
    index = ui.index_input("Test digit", INDEX, 7, target=index_col)
    NOISE.default(config.noise if config.kind == "dae" else "mask")
    # The DAE's own level, within the slider's range (a DAE may be trained at any level).
    LEVEL.default(min(float(config.noise_level), MAX_LEVEL) if config.kind == "dae" else 0.3)
    noise = noise_col.radio("Noise", list(NOISES), horizontal=True, key=NOISE.key, format_func=NOISES.get)
    level = level_col.slider("Noise level (masked fraction, or std)", min_value=0.0, max_value=MAX_LEVEL,
                             step=0.05, key=LEVEL.key)
    # Other models of the same data (partner_choices keeps to the dataset) and latent size.
    latent_dim = m.model.latent_dim
    others = ui.partner_choices(m.name, lambda c: catalogue.decodes_z_alone(c) and c.latent_dim == latent_dim)
    trio = catalogue.lecture_trio(resources.checkpoints(), others)
    compare = st.multiselect("Compare with", others, default=trio, key=COMPARE.item(m.name).key)
    clean = np.asarray(images[index, 0])
    noisy = inference.corrupt_image(clean, noise, level, seed=index)
    models = [m] + [x for x in (ui.load_or_report(resources.explorer_model, catalogue.CHECKPOINT_DIR / n)
                                for n in compare) if x is not None]
    columns = st.columns(2 + len(models))
    ui.image(clean, caption=ui.digit_caption(index, labels, m.class_names), scale=ui.ROW_SCALE * 2,
             target=columns[0])
    ui.image(noisy, caption=f"{noise} {level:g}", scale=ui.ROW_SCALE * 2, target=columns[1])
    for column, model in zip(columns[2:], models, strict=True):
        recon, nll = inference.reconstruct(model.model, noisy[None], clean[None])
        ui.image(recon[0], caption=f"{model.label}: {nll[0]:.1f} nats", scale=ui.ROW_SCALE * 2, target=column)


if __name__ == "__main__":  # run as a page by st.navigation
    render()
