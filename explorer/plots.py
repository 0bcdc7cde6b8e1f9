"""Plotly figures for the explorer. Pure functions of arrays; no streamlit, no torch.

Every latent figure uses one colour per digit class (plotly's T10 palette) so that panels agree.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import pandas  # noqa: F401 - see below
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import qualitative

# plotly imports pandas lazily while it serialises a figure, and looks it up in sys.modules: with
# several sessions drawing their first figure at once, one thread found it half imported
# ("partially initialized module 'pandas' has no attribute 'Series'", seen in the 10-session load
# benchmark). Importing it with this module, under Python's import lock, settles it before any figure.

DIGITS = tuple(str(i) for i in range(10))
DIGIT_COLORS = qualitative.T10  # 10 colours, index = digit
MARK_COLOR = "#111111"
ACTIVE_COLOR = "#4c78a8"  # active latent units in the KL-per-dimension chart
FONT = dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=13)


def _base_layout(title: str | None, height: int) -> dict:
    return dict(
        title=dict(text=title, x=0.01, font=dict(size=15)) if title else None,
        height=height,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        font=FONT,
        xaxis=dict(title="z₁", zeroline=True, zerolinecolor="#cccccc", showgrid=False),
        yaxis=dict(title="z₂", zeroline=True, zerolinecolor="#cccccc", showgrid=False,
                   scaleanchor="x", scaleratio=1),
        plot_bgcolor="white",
        legend=dict(title="digit", itemsizing="constant", tracegroupgap=2),
        hovermode="closest",
    )


def digit_traces(codes: np.ndarray, labels: np.ndarray, *, size: float = 4, opacity: float = 0.75,
                 hover: bool = True, showlegend: bool = True,
                 names: Sequence[str] = DIGITS) -> list[go.Scattergl]:
    """One WebGL scatter trace per class (digit).

    codes: float [N, 2] latent locations; labels: int [N] in 0..9; names: the ten class names.
    Hovering a point shows its class and its index in the test set (unless hover=False).
    """
    traces = []
    index = np.arange(len(labels))
    for digit in range(10):
        sel = labels == digit
        traces.append(go.Scattergl(
            x=codes[sel, 0], y=codes[sel, 1], mode="markers", name=names[digit],
            marker=dict(size=size, color=DIGIT_COLORS[digit], opacity=opacity),
            unselected=dict(marker=dict(opacity=opacity)),  # no dimming when a point is clicked
            customdata=np.stack([labels[sel], index[sel]], axis=1),
            hovertemplate=f"{names[digit]} · test index %{{customdata[1]}}<br>"
                          "z = (%{x:.2f}, %{y:.2f})<extra></extra>" if hover else None,
            hoverinfo=None if hover else "skip",
            showlegend=showlegend, legendgroup=str(digit),
        ))
    return traces


def mark_traces(marks: list[tuple[str, np.ndarray]], symbol: str = "star") -> list[go.Scattergl]:
    """Highlighted points, e.g. an uploaded digit: (name, z [2]) pairs, drawn large with a label.

    WebGL traces like the digits', since plotly draws WebGL above SVG and would hide an SVG marker.
    """
    return [
        go.Scattergl(
            x=[float(z[0])], y=[float(z[1])], mode="markers+text", name=name, text=[name],
            textposition="top center", textfont=dict(size=13, color=MARK_COLOR),
            marker=dict(symbol=symbol, size=18, color="#ffd400", line=dict(width=1.5, color=MARK_COLOR)),
            hovertemplate=f"{name}<br>z = (%{{x:.2f}}, %{{y:.2f}})<extra></extra>", showlegend=False,
        )
        for name, z in marks
    ]


def latent_scatter(codes: np.ndarray, labels: np.ndarray, title: str, *,
                   marks: list[tuple[str, np.ndarray]] | None = None,
                   path: np.ndarray | None = None, height: int = 460, faint: bool = False,
                   names: Sequence[str] = DIGITS) -> go.Figure:
    """The encoded test set coloured by class, with optional marked points and a drawn path.

    codes: float [N, 2]; labels: int [N]; path: float [S, 2] drawn as a line with dots.
    faint: small, nearly transparent dots (e.g. over a manifold of decoded tiles).
    names: the ten class names (digits by default).
    """
    opacity = 0.2 if faint else 0.55 if path is not None or marks else 0.75
    fig = go.Figure(digit_traces(codes, labels, size=3 if faint else 4, opacity=opacity, names=names))
    if path is not None:
        fig.add_trace(go.Scattergl(
            x=path[:, 0], y=path[:, 1], mode="lines+markers", name="path", showlegend=False,
            line=dict(color=MARK_COLOR, width=2.5), marker=dict(size=7, color="white",
                                                               line=dict(width=2, color=MARK_COLOR)),
            hovertemplate="step %{pointNumber}<br>z = (%{x:.2f}, %{y:.2f})<extra></extra>",
        ))
    fig.add_traces(mark_traces(marks or []))
    fig.update_layout(**_base_layout(title, height))
    fig.update_layout(legend_title_text="digit" if tuple(names) == DIGITS else "class")
    return fig


def clickable_plane(codes: np.ndarray, labels: np.ndarray, grid: np.ndarray, title: str, height: int = 520,
                    names: Sequence[str] = DIGITS) -> go.Figure:
    """A z-plane on which a click anywhere selects a point.

    The test set is drawn faintly (not clickable); on top lies an invisible dense grid (grid:
    float [G, 2]) whose nearest point to the cursor is what a click selects, so a click on empty
    space still yields a z. The axes span exactly the grid, so every spot of the plot area lies
    on it (outlying digits beyond the grid are reached by panning). A clicked grid point shows as a
    dot; a z set otherwise (e.g. from a bookmark) is added by the caller with ``cross_trace``.
    """
    fig = go.Figure(digit_traces(codes, labels, size=3.5, opacity=0.35, hover=False, names=names))
    fig.add_trace(go.Scattergl(
        x=grid[:, 0], y=grid[:, 1], mode="markers", name="z-plane grid", showlegend=False,
        marker=dict(size=6, color="rgba(0,0,0,0)", opacity=0),
        # The clicked grid point is drawn by plotly's own selection styling, in the browser: the
        # figure stays the same across clicks, so the page never re-renders it.
        selected=dict(marker=dict(opacity=1, color=MARK_COLOR, size=11)),
        unselected=dict(marker=dict(opacity=0)),
        hovertemplate="click to decode<br>z = (%{x:.2f}, %{y:.2f})<extra></extra>",
    ))
    layout = _base_layout(title, height)
    layout.update(clickmode="event+select", dragmode="pan")
    fig.update_layout(**layout)
    # constrain="domain": keeping z1 and z2 at the same scale shrinks the plot area, never widens a
    # range beyond the grid.
    fig.update_xaxes(range=[float(grid[:, 0].min()), float(grid[:, 0].max())], constrain="domain")
    fig.update_yaxes(range=[float(grid[:, 1].min()), float(grid[:, 1].max())], constrain="domain")
    return fig


def cross_trace(z: np.ndarray) -> go.Scattergl:
    """A latent point z [2] drawn as a large cross (e.g. a chosen z on a plane)."""
    marker = dict(symbol="x", size=14, color=MARK_COLOR, line=dict(width=1.5, color="white"))
    return go.Scattergl(x=[float(z[0])], y=[float(z[1])], mode="markers", name="clicked z", showlegend=False,
                        hoverinfo="skip", marker=marker)


def training_curves(history: list[dict], height: int = 340) -> go.Figure:
    """Train and test loss per epoch (nats per input), from a metrics.json ``history``.

    history: [{"epoch": int, "train_loss": float, "test_loss": float, ...}, ...]
    """
    epochs = [h["epoch"] for h in history]
    fig = go.Figure([
        go.Scatter(x=epochs, y=[h["train_loss"] for h in history], mode="lines+markers", name="train loss"),
        go.Scatter(x=epochs, y=[h["test_loss"] for h in history], mode="lines+markers", name="test loss"),
    ])
    layout = _base_layout("Training curves", height)
    layout.update(xaxis=dict(title="epoch", showgrid=True, gridcolor="#eeeeee"),
                  yaxis=dict(title="nats per input", showgrid=True, gridcolor="#eeeeee"),
                  legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
                  hovermode="x unified")
    fig.update_layout(**layout)
    return fig


def kl_per_dimension(kl_per_dim: list[float], variances: list[float], threshold: float,
                     height: int = 340) -> go.Figure:
    """Bars of the mean KL(q(z_i|x) || N(0, 1)) per latent dimension, in nats; active units
    (Var_x(E_q[z_i]) > threshold) in colour, inactive ones grey."""
    active = [v > threshold for v in variances]
    fig = go.Figure(go.Bar(
        x=[f"z{i + 1}" for i in range(len(kl_per_dim))], y=kl_per_dim,
        marker_color=[ACTIVE_COLOR if a else "#c8c8c8" for a in active],
        customdata=variances,
        hovertemplate="%{x}: KL %{y:.2f} nats<br>Var(E[z]) = %{customdata:.3f}<extra></extra>",
    ))
    layout = _base_layout(f"KL per latent dimension ({sum(active)} of {len(active)} active)", height)
    layout.update(xaxis=dict(title="latent dimension"), yaxis=dict(title="nats", showgrid=True,
                                                                  gridcolor="#eeeeee"))
    fig.update_layout(**layout)
    return fig


def points_trace(z: np.ndarray, name: str, color: str = MARK_COLOR, size: float = 7) -> go.Scattergl:
    """Points z float [M, 2] as open circles (e.g. prior samples drawn over a latent scatter)."""
    return go.Scattergl(x=z[:, 0], y=z[:, 1], mode="markers", name=name, showlegend=True,
                        marker=dict(symbol="circle-open", size=size, color=color, line=dict(width=2)),
                        hovertemplate=f"{name}<br>z = (%{{x:.2f}}, %{{y:.2f}})<extra></extra>")


TOY_COLORS = ("#9ecae1", "#fdae6b")  # the two clusters, light


def toy_plane(points: np.ndarray, labels: np.ndarray, overlays: list[tuple[str, np.ndarray, str]],
              title: str, height: int = 420) -> go.Figure:
    """The two-Gaussians data (float [N, 2], faint, by cluster) with overlays (name, [M, 2], colour)."""
    fig = go.Figure([
        go.Scattergl(x=points[labels == c, 0], y=points[labels == c, 1], mode="markers",
                     name=f"data, cluster {'AB'[c]}", marker=dict(size=4, color=TOY_COLORS[c], opacity=0.6),
                     hoverinfo="skip")
        for c in (0, 1)
    ])
    for name, xy, color in overlays:
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", name=name,
                                   marker=dict(size=4, color=color, opacity=0.8), hoverinfo="skip"))
    layout = _base_layout(title, height)
    layout["xaxis"].update(title="x₁", range=[-5, 5])
    layout["yaxis"].update(title="x₂", range=[-5, 5])
    layout.update(legend=dict(orientation="h", y=-0.18, x=0, itemsizing="constant"))
    fig.update_layout(**layout)
    return fig


def toy_codes(codes: dict[str, np.ndarray], labels: np.ndarray, height: int = 260) -> go.Figure:
    """Each model's 1-D codes (name -> float [N]) as a jittered strip per model, by cluster."""
    rng = np.random.default_rng(0)
    fig = go.Figure()
    for row, z in enumerate(codes.values()):
        jitter = row + rng.uniform(-0.3, 0.3, size=len(z))
        for c in (0, 1):
            sel = labels == c
            fig.add_trace(go.Scattergl(x=z[sel], y=jitter[sel], mode="markers", showlegend=row == 0,
                                       name=f"cluster {'AB'[c]}", legendgroup=str(c), hoverinfo="skip",
                                       marker=dict(size=3, color=TOY_COLORS[c], opacity=0.7)))
    layout = _base_layout("1-D codes z of the test points", height)
    layout["xaxis"].update(title="z")
    layout["yaxis"] = dict(tickvals=list(range(len(codes))), ticktext=list(codes), showgrid=False,
                           zeroline=False)
    layout.update(legend=dict(orientation="h", y=1.1, x=1, xanchor="right"))
    fig.update_layout(**layout)
    return fig


def add_manifold(fig: go.Figure, xs: np.ndarray, ys: np.ndarray, images: np.ndarray,
                 opacity: float = 0.9) -> go.Figure:
    """Tile decoded images over a latent plane, beneath the scatter (as in AEVB, Fig. 4).

    xs: float [n] tile centres along z1; ys: float [m] along z2; images: float [m * n, 28, 28] in [0, 1],
    row by row in the order of ys. Each tile spans half the gap to its neighbours on each side, and
    the axes zoom to the tiled area (pan or double-click to see the rest).
    """
    widths, heights = np.abs(np.gradient(xs)), np.abs(np.gradient(ys))
    fig.update_xaxes(range=[float(xs.min() - widths[0] / 2), float(xs.max() + widths[-1] / 2)])
    fig.update_yaxes(range=[float(ys.min() - heights[-1] / 2), float(ys.max() + heights[0] / 2)])
    tiles = []
    for row, (y, height) in enumerate(zip(ys, heights, strict=True)):
        for col, (x, width) in enumerate(zip(xs, widths, strict=True)):
            tiles.append(dict(source=_png_data_uri(images[row * len(xs) + col]), x=float(x), y=float(y),
                              xref="x", yref="y", sizex=float(width), sizey=float(height), xanchor="center",
                              yanchor="middle", sizing="stretch", layer="below", opacity=opacity))
    # One layout update: adding the tiles one by one (plotly validates the whole list each time)
    # took 3.3 s for 12 x 12 tiles, this takes 0.05 s.
    fig.update_layout(images=[*fig.layout.images, *tiles])
    return fig


def _png_data_uri(image: np.ndarray) -> str:
    """A [H, W] grey image in [0, 1] as a PNG data: URI (a plotly layout image's source)."""
    buffer = io.BytesIO()
    Image.fromarray(np.uint8(np.round(np.clip(image, 0, 1) * 255)), mode="L").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def posterior_traces(mu: np.ndarray, contours: list[tuple[str, np.ndarray]],
                     samples: np.ndarray) -> list[go.Scattergl]:
    """q(z|x) on a plane: its sigma contours (name, float [P, 2]) as lines, the samples as dots,
    and the mean as a star."""
    traces = [go.Scattergl(x=c[:, 0], y=c[:, 1], mode="lines", name=name, hoverinfo="skip",
                           line=dict(color=MARK_COLOR, width=2.5 if i == 0 else 1.5, dash="solid" if i == 0
                                     else "dash"))
              for i, (name, c) in enumerate(contours)]
    traces.append(go.Scattergl(x=samples[:, 0], y=samples[:, 1], mode="markers", name="samples z ~ q(z|x)",
                               marker=dict(size=7, color="white", line=dict(width=1.5, color=MARK_COLOR)),
                               hovertemplate="z = (%{x:.2f}, %{y:.2f})<extra></extra>"))
    traces.append(go.Scattergl(x=[float(mu[0])], y=[float(mu[1])], mode="markers", name="mean μ",
                               marker=dict(symbol="x", size=11, color=MARK_COLOR),
                               hovertemplate="μ = (%{x:.3f}, %{y:.3f})<extra></extra>"))
    return traces


DARK_MARK_COLOR = "#f2f2f2"
PRESENTER_SCALE = 1.6  # marker sizes and line widths in presenter mode
PRESENTER_FONT = 20


def styled(fig: go.Figure, *, dark: bool = False, presenter: bool = False) -> go.Figure:
    """Adapt a figure of this module, in place, to the app's dark theme and to presenter mode.

    dark: transparent background, light text and light marks (black marks would vanish);
    presenter: larger type, markers ``PRESENTER_SCALE`` times larger and thicker lines, for a hall.
    """
    if dark:
        fig.update_layout(paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                          font_color="#e8e8e8", legend_font_color="#e8e8e8")
        fig.update_xaxes(zerolinecolor="#555555", gridcolor="#333333")
        fig.update_yaxes(zerolinecolor="#555555", gridcolor="#333333")
        fig.for_each_trace(lambda trace: style_trace(trace, dark=True))
        for annotation_image in fig.layout.images:  # manifold tiles: white ink on black reads best
            annotation_image.opacity = min(annotation_image.opacity or 1.0, 0.85)
    if presenter:
        fig.update_layout(font_size=PRESENTER_FONT, title_font_size=PRESENTER_FONT + 4,
                          height=int((fig.layout.height or 450) * 1.2))
        fig.for_each_trace(lambda trace: style_trace(trace, presenter=True))
    return fig


def style_trace(trace, *, dark: bool = False, presenter: bool = False):
    """Adapt one trace, in place, like ``styled`` does a whole figure; returns it."""
    if dark:
        _lighten_marks(trace)
    if presenter:
        _enlarge_marks(trace)
    return trace


def _lighten_marks(trace) -> None:
    for part in ("line", "marker", "textfont"):
        obj = getattr(trace, part, None)
        if obj is not None and getattr(obj, "color", None) == MARK_COLOR:
            obj.color = DARK_MARK_COLOR
    marker = getattr(trace, "marker", None)
    if marker is not None and marker.line is not None and marker.line.color == MARK_COLOR:
        marker.line.color = DARK_MARK_COLOR


def _enlarge_marks(trace) -> None:
    marker = getattr(trace, "marker", None)
    if isinstance(getattr(marker, "size", None), int | float):  # bars have no marker size
        marker.size = marker.size * PRESENTER_SCALE
    line = getattr(trace, "line", None)
    if line is not None and isinstance(line.width, int | float):
        line.width = line.width * PRESENTER_SCALE


# --- Selection events of clickable charts (what st.plotly_chart(on_select=...) returns).


def selected_points(event) -> list[dict]:
    """The selected points of a plotly selection event ({"selection": {"points": [...]}}), or []."""
    try:
        return list(event["selection"]["points"] or [])
    except (KeyError, TypeError):
        return []


def clicked_z(event) -> np.ndarray | None:
    """The (x, y) of the first clicked point in a plotly selection event as float32 [2], or None."""
    for point in selected_points(event):
        if "x" in point and "y" in point:
            return np.array([point["x"], point["y"]], dtype=np.float32)
    return None


def picked_index(event) -> int | None:
    """The test index (customdata[1]) of the first clicked digit in a selection event, or None.

    WebGL traces report customdata as {"0": label, "1": index}, SVG traces as [label, index].
    """
    for point in selected_points(event):
        custom = point.get("customdata")
        if isinstance(custom, dict):
            custom = [custom.get("0"), custom.get("1")]
        if isinstance(custom, list | tuple) and len(custom) >= 2 and custom[1] is not None:
            return int(custom[1])
    return None
