"""Model card: the selected checkpoint's config, test metrics and training curves (JSON only)."""

from __future__ import annotations

import streamlit as st

from explorer import catalogue, plots, resources, ui
from train.schema import metric_lines

PARAMS = ()


def render() -> None:
    info = resources.checkpoint(ui.selected_name())
    if info is None:
        st.warning(f"No checkpoint folder `{ui.selected_name()}`. Create the shipped ones with "
                   f"`{catalogue.RETRAIN_COMMAND}`.")
        return
    if info.error or info.model_config is None:
        ui.report_unreadable(info)
        return
    name, config, metrics, model = info.name, info.meta.config, info.metrics, info.model_config
    st.markdown(f"#### `{name}`: {model.describe()}")
    metric_cards(metrics)
    left, right = st.columns(2)
    with left:
        st.markdown("**Model**\n\n" + _bullets(catalogue.card_model_rows(model)))
        st.markdown("**Data**\n\n" + _bullets(catalogue.card_data_rows(config.dataset_info)))
    with right:
        st.markdown("**Training and evaluation**\n\n"
                    + _bullets(catalogue.card_training_rows(config.training, metrics)))
    history = metrics.get("history") or []
    curves, kl = st.columns(2)
    if history:
        ui.chart(plots.training_curves(history), "card-curves", target=curves)
    if "kl_per_dim" in metrics:
        ui.chart(plots.kl_per_dimension(metrics["kl_per_dim"], metrics["mean_variance_per_dim"],
                                        metrics.get("active_unit_threshold", 0.01)), "card-kl", target=kl)
    st.caption(f"Reproduce: `{catalogue.RETRAIN_COMMAND} --only {name}` (shipped recipes). "
               f"Re-evaluate: `python -m train.evaluate checkpoints/{name}`.")


def metric_cards(metrics: dict) -> None:
    """The headline test metrics (``train.schema.metric_lines``) as st.metric cards, in nats."""
    lines = metric_lines(metrics)
    if not lines:
        st.caption("This checkpoint has no test metrics: `python -m train.evaluate` computes them.")
    for column, line in zip(st.columns(max(len(lines), 1)), lines, strict=False):
        column.metric(line.label, line.value)
        column.caption(line.detail)


def _bullets(rows: dict[str, str]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in rows.items())


if __name__ == "__main__":  # run as a page by st.navigation
    render()
