"""Widgets and helpers that every page shares: the selected model, images, charts, clicks, errors."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from train import CheckpointError, ModelConfig
from train.config import MNIST_CLASSES

from . import catalogue, imaging, resources, state, testdata

if TYPE_CHECKING:
    from .encoded import ExplorerModel

# explorer.plots (and pandas, ~0.6 s) is imported by the functions that draw charts only: the default
# page has none, and its first render does not wait for it (nor for torch: see explorer/encoded.py).

IMAGE_SCALE = 8  # 28x28 -> 224x224 crisp pixels
ROW_SCALE = 4  # smaller, for rows of reconstructions
DEFAULT_MODEL = "mnist-vae-2d"
USER_DIGIT = state.Key("user-digit")  # the last drawn or uploaded digit, float32 [28, 28] in [0, 1]
USER_DIGIT_SOURCE = state.Key("user-digit-source")  # "your drawing" or the uploaded file's name


# --- the selected model and what a page needs of it ---------------------------------------------


def selected_name() -> str:
    """The checkpoint folder chosen in the sidebar's model picker."""
    return state.MODEL.get() or DEFAULT_MODEL


def require(need: catalogue.Need) -> catalogue.CheckpointInfo | None:
    """The selected checkpoint if it fits the page's ``need`` (``catalogue.NEEDS``); otherwise None,
    after saying what the page needs and offering a button for each checkpoint that fits."""
    info = resources.checkpoint(selected_name())
    if info is None:
        st.warning(f"No checkpoint folder `{selected_name()}`. Pick one in the sidebar, or create the "
                   f"shipped ones with `{catalogue.RETRAIN_COMMAND}`.")
        return None
    config = info.model_config
    if config is None:
        report_unreadable(info)
        return None
    if need.fits(config):
        return info
    st.info(f"This view needs {need.text}. The selected model, `{info.name}`, is a {config.describe()} "
            f"({info.dataset}).", icon=":material/swap_horiz:")
    suitable = [i.name for i in resources.checkpoints() if i.model_config and need.fits(i.model_config)]
    for column, name in zip(st.columns(max(len(suitable), 1)), suitable, strict=False):
        column.button(f"Use {name}", key=f"use-{name}", on_click=select_model, args=(name,))
    return None


def select_model(name: str) -> None:
    """Switch the sidebar's model picker (a button callback)."""
    state.MODEL.set(name)


def report_unreadable(info: catalogue.CheckpointInfo) -> None:
    st.error(f"**Could not read `{info.folder}`.** {info.error or 'config.json has no valid model section.'}"
             f"\n\nRecreate it with `{catalogue.RETRAIN_COMMAND}` (or `git checkout -- {info.folder}` to "
             "restore a shipped one).", icon=":material/error:")


def load_or_report(loader: Callable, folder: Path | str):
    """``loader(str(folder))``, or None after showing why the checkpoint could not be loaded and the
    command that recreates it (the page keeps running)."""
    try:
        return loader(str(folder))
    except testdata.TestSetError as e:
        st.error(f"**The test images cannot be read**, so `{Path(folder).name}` cannot be shown: {e}",
                 icon=":material/error:")
        return None
    except FileNotFoundError as e:
        st.error(f"**`{Path(folder).name}` needs test images that are not on this machine**: {e}",
                 icon=":material/error:")
        return None
    except (CheckpointError, ValueError, RuntimeError, MemoryError) as e:  # RuntimeError: e.g. out of memory
        st.error(f"**Could not load the checkpoint `{folder}`.** {e}\n\n"
                 f"Create it with `{catalogue.RETRAIN_COMMAND}` (or `git checkout -- {folder}` to restore "
                 "the shipped one).", icon=":material/error:")
        return None


def selected_model(need: catalogue.Need) -> ExplorerModel | None:
    """The selected image model with its test-set codes, or None (with the reason shown)."""
    info = require(need)
    return None if info is None else load_or_report(resources.explorer_model, info.folder)


def partner_choices(current: str, fits: Callable[[ModelConfig], bool]) -> list[str]:
    """``catalogue.partners`` among the listed checkpoints."""
    return catalogue.partners(resources.checkpoints(), current, fits)


def compare_picker(label: str, current: str, fits: Callable[[ModelConfig], bool], param: state.Param,
                   default_first: bool = True) -> str | None:
    """A "compare with" selectbox of other fitting checkpoints (or none), kept under the page's
    ``param``; returns the choice. A value that does not fit (e.g. from a URL) is replaced by the
    default: the first partner if ``default_first``, else none."""
    options = ["none", *partner_choices(current, fits)]
    if param.get() not in options:
        param.set(options[1] if default_first and len(options) > 1 else "none")
    choice = st.selectbox(label, options, key=param.key)
    return None if choice == "none" else choice


# --- drawing ------------------------------------------------------------------------------------


def image(img: np.ndarray, caption: str | None = None, scale: int = IMAGE_SCALE, target=st) -> None:
    """Show a [28, 28] image in [0, 1] enlarged ``scale`` times with crisp pixels."""
    if presenting():
        scale = int(scale * 1.25)
    picture(imaging.enlarge(img, scale), caption, target=target)


def picture(pixels: np.ndarray | bytes, caption: str | None = None, target=st,
            mime: str = "image/png") -> None:
    """Show a uint8 [H, W] grey image (or encoded image bytes of type ``mime``) at its own size.

    It travels inside the page as a data: URI, so it appears with the rerun that made it: no second
    request to the server's media store (which also drops files of stale reruns).
    """
    data = pixels if isinstance(pixels, bytes) else imaging.png_bytes(pixels)
    target.image(f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}", caption=caption,
                 width="content")


def presenting() -> bool:
    return bool(state.PRESENT.get())


def dark_theme() -> bool:
    try:
        return st.context.theme.type == "dark"
    except AttributeError:  # no browser attached (tests)
        return False


def chart(fig, key: str, *, clickable: bool = False, target=st, restyle: bool = True):
    """Show a plotly figure of ``explorer.plots`` in the app's theme and presenter size.

    clickable: a click selects a point and reruns (the page, or only the enclosing fragment).
    restyle: False for a figure that is already styled (e.g. a cached one, which must not change).
    returns: the selection event (clickable charts) or None.
    """
    from . import plots  # noqa: PLC0415 (see the imports)

    if restyle:
        plots.styled(fig, dark=dark_theme(), presenter=presenting())
    config = {"displaylogo": False, "scrollZoom": False}
    if clickable:  # two quick clicks must stay two clicks, not plotly's double-click (reset and deselect)
        config["doubleClick"] = False
        return target.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points", config=config)
    target.plotly_chart(fig, key=key, config=config)
    return None


# --- clicks -------------------------------------------------------------------------------------


def plane_chart(m: ExplorerModel, title: str, chart_key: str, z: np.ndarray | None, target=st,
                height: int = 520, legend: bool = True) -> None:
    """The clickable z-plane of a 2-D model. Its figure is built once per model and style and reused,
    so a click changes nothing in it and the browser does not redraw it (the clicked point is shown
    by plotly's selection). Only a z set before any click here (e.g. from a bookmark) adds a cross."""
    import plotly.graph_objects as go  # noqa: PLC0415 (see the imports)

    from . import plots  # noqa: PLC0415

    fig = resources.plane_figure(str(m.folder), title, height, legend, dark_theme(), presenting())
    clicked_here = f"{chart_key}-clicked"
    if plots.clicked_z(st.session_state.get(chart_key)) is not None:
        st.session_state[clicked_here] = True  # from now on the figure never changes (a click event
        # without a point, e.g. plotly's deselect, must not bring the cross back: a full redraw)
    if z is not None and not st.session_state.get(clicked_here):
        fig = go.Figure(fig)
        fig.add_trace(plots.style_trace(plots.cross_trace(z), dark=dark_theme(), presenter=presenting()))
    chart(fig, chart_key, clickable=True, target=target, restyle=False)


def last_click(chart_key: str, param: state.Param) -> np.ndarray | None:
    """The z of the latest click on the clickable plane ``chart_key``, kept under ``param.key`` and
    mirrored in the URL.

    The chart's selection is in session state before the chart is drawn, so the figure can already
    carry the marker at the clicked point; the last z is kept when a rerun brings no new click.
    """
    from . import plots  # noqa: PLC0415 (see the imports)

    selected = plots.clicked_z(st.session_state.get(chart_key))
    if selected is not None:
        param.set(selected)
        state.publish_one(param)
    return param.get()


def index_input(label: str, param: state.Param, default: int, target=st, n: int = 10_000, **kwargs) -> int:
    """A test-set index (0..n-1) kept under the page's ``param`` (and so in the URL)."""
    param.default(default)
    return int(target.number_input(label, min_value=0, max_value=n - 1, step=1, key=param.key, **kwargs))


def digit_caption(index: int, labels: np.ndarray, names=MNIST_CLASSES) -> str:
    """"#0: a 7" (or "#0: a Ankle boot" with Fashion-MNIST's class names)."""
    return f"#{index}: a {names[labels[index]]}"


def with_comparison(m: ExplorerModel, other_name: str | None) -> list[ExplorerModel]:
    """[m] plus the comparison model ``other_name`` (if chosen and loadable; else its error is shown)."""
    models = [m]
    if other_name:
        other = load_or_report(resources.explorer_model, catalogue.CHECKPOINT_DIR / other_name)
        if other is not None:
            models.append(other)
    return models
