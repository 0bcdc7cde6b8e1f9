"""The sidebar: the model picker that drives every page, the selected model's metrics, presenter mode."""

from __future__ import annotations

import streamlit as st

from train.schema import headline, metric_lines

from . import catalogue, resources, state, ui

PRESENTER_CSS = """
<style>
  html { font-size: 20px; }
  [data-testid="stMainBlockContainer"] { padding-top: 2.5rem; max-width: 100%; }
  [data-testid="stCaptionContainer"] { font-size: 0.95rem; }
</style>
"""


def render() -> None:
    infos = resources.checkpoints()
    with st.sidebar:
        if not infos:
            st.warning(f"No checkpoint folders under `{catalogue.CHECKPOINT_DIR}`. Create them with "
                       f"`{catalogue.RETRAIN_COMMAND}`.")
            return
        by_name = {info.name: info for info in infos}
        if state.MODEL.get() not in by_name:
            state.MODEL.set(ui.DEFAULT_MODEL if ui.DEFAULT_MODEL in by_name else infos[0].name)
        name = st.selectbox("Model", list(by_name), key=state.MODEL.key,
                            format_func=lambda n: short(by_name[n]),
                            help="Every folder under checkpoints/. Each page shows the model picked here.")
        model_summary(by_name[name])
        st.toggle("Presenter mode", key=state.PRESENT.key,
                  help="Larger type, images and markers; the sidebar starts collapsed (reopen it with "
                       "the arrow at the top left). The theme (light or dark) is in the ⋮ menu, Settings.")
        st.toggle("High-contrast planes", key=state.CONTRAST.key,
                  help="For projectors: the live latent planes draw light, saturated points on black, "
                       "larger, with a thick yellow cursor.")
        st.toggle("Classic planes", key=state.CLASSIC.key,
                  help="Decode on the server at each click (plotly plots) instead of in the browser under "
                       "the pointer. Used automatically where the browser plane cannot start.")
        with st.expander(f"All {len(infos)} checkpoints"):
            st.markdown("\n".join(f"- {listing(info)}" for info in infos))
        st.caption("Data: MNIST (Y. LeCun, C. Cortes, C. J. C. Burges) and Fashion-MNIST (Zalando "
                   "Research), 10,000 test images each. Everything runs on this machine.")
    if ui.presenting():
        st.html(PRESENTER_CSS)


def short(info: catalogue.CheckpointInfo) -> str:
    """One line: name · kind · dataset · d · headline metric (or "broken" for a folder that fails)."""
    config = info.model_config
    if info.error or config is None:
        return f"{info.name} · broken"
    return (f"{info.name} · {config.label} · {info.dataset} · d = {config.latent_dim} · "
            f"{headline(info.metrics)}")


def listing(info: catalogue.CheckpointInfo) -> str:
    """One line of the list of every checkpoint: ``short``, or for a broken folder also its reason."""
    if info.error:
        return f"{info.name} · **broken**: {info.error}"
    return short(info)


def model_summary(info: catalogue.CheckpointInfo) -> None:
    """The selected model: what it is and its test metrics, in nats per test input."""
    config, metrics = info.model_config, info.metrics
    if info.error or config is None:
        st.error(f"`{info.name}` cannot be used: {info.error}")
        return
    lines = [f"**{config.describe()}**", f"data: {info.dataset}, latent d = {config.latent_dim}"]
    lines += [f"{line.label} **{line.value}** ({line.detail})" for line in metric_lines(metrics)]
    st.markdown("  \n".join(lines))
