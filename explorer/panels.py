"""The explorer's panels: one function per panel, each drawing its widgets and output.

Torch work is delegated to ``explorer.core`` and figures to ``explorer.plots``; models and the
test set are loaded once per server process (``st.cache_resource``) and shared read-only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from train import CheckpointError, load_checkpoint
from train.data import toy_gaussians

from . import core, plots
from .preprocess import UploadError, to_mnist

SHIPPED_MODELS = ("mnist-ae-2d", "mnist-vae-2d")
TOY_MODELS = ("toy-ae-1d", "toy-vae-1d")
DAE_MODEL = "mnist-dae-2d"
CVAE_MODEL = "mnist-cvae-2d"
HIGH_DIM_MODEL = "mnist-vae-16d"
PLANE_GRID = 110  # points per side of the invisible click grid
IMAGE_SCALE = 8  # 28x28 -> 224x224 crisp pixels
ROW_SCALE = 4  # smaller, for rows of reconstructions


# --- cached resources (one copy per server process, shared by every session) ---------------


@st.cache_resource(show_spinner="Loading the MNIST test digits…")
def test_set() -> tuple:
    """(images float32 torch [10000, 1, 28, 28] in [0, 1], labels int64 numpy [10000])."""
    return core.load_test_set()


@st.cache_resource(show_spinner="Loading a checkpoint and encoding the test set…")
def explorer_model(folder: str) -> core.ExplorerModel:
    """The checkpoint in ``folder`` with the test set encoded; errors propagate (not cached)."""
    return core.load_explorer_model(folder, test_set()[0])


@st.cache_resource(show_spinner="Loading a checkpoint…")
def plain_model(folder: str):
    """The model in ``folder`` on the CPU, without encoding the test set (the CVAE's codes need
    labels; the toy models take 2-D points). Raises CheckpointError."""
    return load_checkpoint(folder)


@st.cache_resource
def manifold(folder: str, n: int, spacing: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, ys, decoded tiles) of the manifold overlay for the model in ``folder`` (computed once)."""
    m = explorer_model(folder)
    xs, ys = core.manifold_axes(m.codes, n, spacing)
    return xs, ys, core.manifold_images(m.model, xs, ys)


@st.cache_resource
def plane(folder: str) -> tuple[tuple[float, ...], np.ndarray]:
    """(extent, grid float32 [G, 2]) of the clickable z-plane of the model in ``folder``."""
    extent = core.plane_extent(explorer_model(folder).codes)
    return extent, core.plane_grid(extent, PLANE_GRID)


def load_models(checkpoint_dir: Path | None = None) -> dict[str, core.ExplorerModel]:
    """Load the shipped models, showing an error (not raising) for each one that fails."""
    models = {}
    for name in SHIPPED_MODELS:
        m = load_or_report(explorer_model, (checkpoint_dir or core.CHECKPOINT_DIR) / name)
        if m is not None:
            models[name] = m
    return models


def load_or_report(loader, folder: Path):
    """``loader(str(folder))``, or None after showing why the checkpoint could not be loaded and the
    command that recreates it (the page keeps running)."""
    try:
        return loader(str(folder))
    except CheckpointError as e:
        st.error(f"**Could not load the checkpoint `{folder}`.** {e}\n\n"
                 f"Create it with `{core.RETRAIN_COMMAND}` (or `git checkout -- {folder}` to restore "
                 "the shipped one).", icon=":material/error:")
        return None


def image(img: np.ndarray, caption: str | None = None, scale: int = IMAGE_SCALE) -> None:
    """Show a [28, 28] image in [0, 1] enlarged ``scale`` times with crisp pixels."""
    st.image(core.enlarge(img, scale), caption=caption, width=scale * 28)


# --- panels ------------------------------------------------------------------------------------


def latent_scatter_panel(models: dict[str, core.ExplorerModel], images, labels: np.ndarray) -> None:
    """The encoded test set, coloured by digit, for each model side by side.

    Clicking a dot shows that test digit, with buttons that make it an interpolation end point.
    """
    st.markdown("Each dot is one of the 10,000 test digits at its latent location "
                "(the posterior mean for the VAE). Hover a dot for its label and index, click it to "
                "see the digit; click a digit in the legend to hide it.")
    on_col, spacing_col, n_col = st.columns([1, 2, 2])
    overlay = on_col.toggle("Manifold overlay", key="manifold")
    spacings = {"prior": "prior quantiles", "data": "the data's range"}
    spacing = spacing_col.radio("Tiles spaced by", core.MANIFOLD_SPACINGS, horizontal=True,
                                disabled=not overlay, key="manifold-spacing", format_func=spacings.get)
    n = n_col.slider("Tiles per side", 5, 20, value=12, key="manifold-n", disabled=not overlay)
    columns = st.columns(len(models))
    for column, m in zip(columns, models.values(), strict=True):
        with column:
            fig = plots.latent_scatter(m.codes, labels, f"{m.label}: {m.name}", faint=overlay)
            if overlay:
                xs, ys, tiles = manifold(str(m.folder), n, spacing)
                plots.add_manifold(fig, xs, ys, tiles)
            event = st.plotly_chart(fig, key=f"scatter-{m.name}", on_select="rerun", selection_mode="points",
                                    config={"displaylogo": False})
            index = picked_index(event)
            if index is not None:
                picked_digit_ui(index, images, labels, key=m.name)


def picked_index(event) -> int | None:
    """The test index (customdata[1]) of the first clicked digit in a selection event, or None.

    WebGL traces report customdata as {"0": label, "1": index}, SVG traces as [label, index].
    """
    for point in _selected_points(event):
        custom = point.get("customdata")
        if isinstance(custom, dict):
            custom = [custom.get("0"), custom.get("1")]
        if isinstance(custom, list | tuple) and len(custom) >= 2 and custom[1] is not None:
            return int(custom[1])
    return None


def _selected_points(event) -> list[dict]:
    try:
        return list(event["selection"]["points"] or [])
    except (KeyError, TypeError):
        return []


def _set_state(key: str, value) -> None:
    st.session_state[key] = value


def picked_digit_ui(index: int, images, labels: np.ndarray, key: str) -> None:
    """A clicked test digit, with buttons to use it elsewhere in the app."""
    left, right = st.columns([1, 2])
    with left:
        image(images[index, 0].numpy(), caption=f"#{index}: a {labels[index]}", scale=ROW_SCALE)
    with right:
        st.button("Interpolate from this digit", key=f"pick-start-{key}",
                  on_click=_set_state, args=("interp-start", index))
        st.button("Interpolate to this digit", key=f"pick-end-{key}",
                  on_click=_set_state, args=("interp-end", index))
        st.button("Reconstruct this digit", key=f"pick-recon-{key}",
                  on_click=_set_state, args=("recon-indices", str(index)))


@st.fragment
def zplane_panel(models: dict[str, core.ExplorerModel], labels: np.ndarray) -> None:
    """Click anywhere on the plane to decode that z. Reruns only this fragment on a click."""
    names = list(models)
    model_col, compare_col = st.columns([3, 2])
    name = model_col.radio("Decode with", names, index=len(names) - 1, horizontal=True,
                           format_func=lambda n: f"{models[n].label} ({n})", key="zplane-model")
    m = models[name]
    others = ["none", *[n for n in comparable_models() if n != name]]
    compare = compare_col.selectbox("Also decode the same z with", others, key="zplane-compare",
                                    help="Linked comparison: any other checkpoint with a 2-D latent and "
                                         "28x28 images (not the CVAE, which needs a class).")
    extent, grid = plane(str(m.folder))
    chart_key = f"zplane-{name}"
    last_key = f"{chart_key}-z"
    z = last_click(chart_key, last_key)
    plot_col, image_col = st.columns([3, 2])
    with plot_col:
        fig = plots.clickable_plane(m.codes, labels, grid, f"{m.label} z-plane: click anywhere", z)
        st.plotly_chart(fig, key=chart_key, on_select="rerun", selection_mode="points",
                        config={"displaylogo": False, "scrollZoom": False})
    with image_col:
        if z is None:
            st.info("Click a spot on the plane (empty space too) to decode it.")
            return
        z = np.asarray(z, dtype=np.float32)
        if compare == "none":
            image(core.decode(m.model, z), caption=f"decoded by the {m.label}")
        else:
            other = load_or_report(plain_model, core.CHECKPOINT_DIR / compare)
            left, right = st.columns(2)
            with left:
                image(core.decode(m.model, z), caption=f"decoded by the {m.label}", scale=ROW_SCALE * 2)
            with right:
                if other is not None:
                    image(core.decode(other, z), caption=f"same z, {compare}", scale=ROW_SCALE * 2)
        st.markdown(f"**z = ({z[0]:.2f}, {z[1]:.2f})**")
        nearest = core.nearest_test_index(m.codes, z)
        st.caption(f"Nearest test digit in latent space: index {nearest} (a {labels[nearest]}).")


@st.cache_data(ttl=60, show_spinner=False)
def comparable_models() -> list[str]:
    """Checkpoint folders whose decoder takes a 2-D z alone and draws 28x28 images (JSON only;
    re-read at most once a minute, so a click never waits for it and new folders still appear)."""
    names = []
    for info in core.list_checkpoints():
        config = info.model_config
        if config and config.latent_dim == 2 and not config.conditional and config.data_shape == (1, 28, 28):
            names.append(info.name)
    return names


def last_click(chart_key: str, state_key: str) -> np.ndarray | None:
    """The z of the latest click on the clickable plane ``chart_key``, kept under ``state_key``.

    The chart's selection is in session state before the chart is drawn, so the figure can already
    carry the marker at the clicked point; the last z is kept when a rerun brings no new click.
    """
    selected = clicked_z(st.session_state.get(chart_key))
    if selected is not None:
        st.session_state[state_key] = selected
    return st.session_state.get(state_key)


def clicked_z(event) -> np.ndarray | None:
    """The (x, y) of the first clicked point in a plotly selection event, or None."""
    for point in _selected_points(event):
        if "x" in point and "y" in point:
            return np.array([point["x"], point["y"]], dtype=np.float32)
    return None


def reconstructions_panel(models: dict[str, core.ExplorerModel], images, labels: np.ndarray) -> None:
    """Rows of original | AE | VAE for chosen or random test digits, with per-image -log p(x|z) in nats."""
    n_test = len(labels)
    left, right = st.columns([3, 1])
    with right:
        if st.button("Random digits", icon=":material/casino:", key="recon-random"):
            rng = np.random.default_rng()
            st.session_state["recon-indices"] = ", ".join(map(str, rng.choice(n_test, 5, replace=False)))
    with left:
        st.session_state.setdefault("recon-indices", "0, 1, 2, 3, 4")
        text = st.text_input("Test indices (comma-separated, 0–9999)", key="recon-indices")
    try:
        indices = parse_indices(text, n_test)
    except ValueError as e:
        st.error(str(e))
        return
    st.caption("Per-image reconstruction error: binary cross-entropy summed over the 784 pixels "
               "(−log p(x|z) in nats, z = the latent location; lower is better).")
    x = images[indices]
    results = {name: core.reconstruct(m.model, x) for name, m in models.items()}
    header = st.columns(1 + len(models))
    header[0].markdown("**original**")
    for col, m in zip(header[1:], models.values(), strict=True):
        col.markdown(f"**{m.label}**")
    for row, index in enumerate(indices):
        cols = st.columns(1 + len(models))
        with cols[0]:
            image(x[row, 0].numpy(), caption=f"#{index}: a {labels[index]}", scale=ROW_SCALE)
        for col, (name, m) in zip(cols[1:], models.items(), strict=True):
            recon, bce = results[name]
            with col:
                image(recon[row], caption=f"{m.label}: {bce[row]:.1f} nats", scale=ROW_SCALE)


def parse_indices(text: str, n: int, limit: int = 12) -> list[int]:
    """Parse "3, 17 42" into test indices. Raises ValueError saying what is wrong."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise ValueError("Enter at least one test index.")
    try:
        indices = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"Indices must be whole numbers, got {text!r}.") from None
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise ValueError(f"Indices must be between 0 and {n - 1}; out of range: {bad}.")
    return indices[:limit]


def interpolation_panel(models: dict[str, core.ExplorerModel], images, labels: np.ndarray) -> None:
    """Linear or spherical interpolation between two test digits' codes, decoded by each model, with
    an animated playback and PNG / GIF downloads."""
    n_test = len(labels)
    c1, c2, c3, c4 = st.columns([2, 2, 2, 3])
    st.session_state.setdefault("interp-start", 3)
    st.session_state.setdefault("interp-end", 2)
    start = c1.number_input("From test index", 0, n_test - 1, key="interp-start",
                            help="Or click a digit in the latent scatter and choose it there.")
    end = c2.number_input("To test index", 0, n_test - 1, key="interp-end")
    steps = c3.slider("Steps", 3, 16, value=10, key="interp-steps")
    method = c4.radio("Path", core.INTERPOLATIONS, horizontal=True, key="interp-method",
                      format_func={"linear": "linear", "spherical": "spherical (slerp)"}.get)
    formula = ("z(t) = (1 − t)·z_start + t·z_end" if method == "linear" else
               "z(t) = sin((1 − t)ω)/sin ω · z_start + sin(tω)/sin ω · z_end, ω the angle between them")
    st.caption(f"From a {labels[start]} (#{start}) to a {labels[end]} (#{end}): {formula}; each step "
               "decoded, and played back as an animation.")
    paths = {}
    for name, m in models.items():
        path = core.interpolate(m.codes[start], m.codes[end], steps, method)
        paths[name] = path
        decoded = core.decode(m.model, path)
        strip = core.strip(decoded, scale=3)
        animation = core.gif_bytes([core.enlarge(img, 4) for img in decoded])
        st.markdown(f"**{m.label}**")
        strip_col, gif_col = st.columns([6, 1])
        strip_col.image(strip)
        gif_col.image(animation)
        stem = f"{name}-{method}-{start}-to-{end}"
        png_col, download_col, _ = st.columns([1, 1, 3])
        png_col.download_button("Strip as PNG", core.png_bytes(strip), file_name=f"{stem}.png",
                                mime="image/png", key=f"interp-png-{name}", icon=":material/download:")
        download_col.download_button("Animation as GIF", animation, file_name=f"{stem}.gif", mime="image/gif",
                                     key=f"interp-gif-{name}", icon=":material/download:")
    columns = st.columns(len(models))
    for column, (name, m) in zip(columns, models.items(), strict=True):
        with column:
            st.plotly_chart(plots.latent_scatter(m.codes, labels, f"{m.label}: interpolation path",
                                                 path=paths[name], height=420),
                            key=f"interp-plot-{name}", config={"displaylogo": False})


def upload_panel(models: dict[str, core.ExplorerModel], images, labels: np.ndarray) -> None:
    """Upload a photo or scan of a digit: MNIST-style preprocessing, location, reconstruction."""
    upload = st.file_uploader("A PNG or JPEG of one handwritten digit (dark on light or light on dark)",
                              type=["png", "jpg", "jpeg"], key="upload")
    if upload is None:
        st.caption("The image is converted like MNIST: grayscale, inverted if the paper is light, "
                   "cropped to the ink, fitted in 20×20 keeping its aspect, and centred by its "
                   "centre of mass in 28×28.")
        return
    try:
        result = to_mnist(upload.getvalue())
    except UploadError as e:
        st.error(f"**{upload.name}**: {e}", icon=":material/warning:")
        return
    x = result.image
    cols = st.columns(2 + len(models))
    with cols[0]:
        st.image(result.original, caption="your upload", width=IMAGE_SCALE * 28)
    with cols[1]:
        image(x, caption="as MNIST input" + (" (inverted)" if result.inverted else ""))
    marks = {}
    for col, (name, m) in zip(cols[2:], models.items(), strict=True):
        recon, bce = core.reconstruct(m.model, x[None])
        marks[name] = core.encode(m.model, x[None])[0]
        with col:
            image(recon[0], caption=f"{m.label}: {bce[0]:.1f} nats")
    plot_cols = st.columns(len(models))
    for column, (name, m) in zip(plot_cols, models.items(), strict=True):
        with column:
            st.plotly_chart(plots.latent_scatter(m.codes, labels, f"{m.label}: your digit",
                                                 marks=[("upload", marks[name])], height=420),
                            key=f"upload-plot-{name}", config={"displaylogo": False})
            nearest = core.nearest_test_indices(m.codes, marks[name], 5)
            st.image(core.strip(np.asarray(images[nearest, 0]), scale=3),
                     caption=f"5 nearest test digits in the {m.label}'s latent space: "
                             + ", ".join(f"#{i} (a {labels[i]})" for i in nearest))


def model_card_panel(checkpoint_dir: Path | None = None) -> None:
    """Model card: any checkpoint folder's config, test metrics and training curves (JSON only)."""
    infos = core.list_checkpoints(checkpoint_dir or core.CHECKPOINT_DIR)
    if not infos:
        st.warning(f"No checkpoint folders found. Create them with `{core.RETRAIN_COMMAND}`.")
        return
    by_name = {info.name: info for info in infos}
    default = list(by_name).index("mnist-vae-2d") if "mnist-vae-2d" in by_name else 0
    name = st.selectbox("Checkpoint", list(by_name), index=default, key="card-model",
                        format_func=lambda n: by_name[n].summary())
    info = by_name[name]
    if info.error or info.model_config is None:
        reason = info.error or "config.json has no valid model section."
        st.error(f"**Could not read `{info.folder}`.** {reason}\n\n"
                 f"Recreate it with `{core.RETRAIN_COMMAND}`.", icon=":material/error:")
        return
    config, metrics, model = info.config, info.metrics, info.model_config
    st.markdown(f"#### `{name}`: {model.describe()}")
    metric_cards(metrics)
    left, right = st.columns(2)
    with left:
        st.markdown("**Model**\n\n" + _bullets(card_model_rows(model)))
        st.markdown("**Data**\n\n" + _bullets(card_data_rows(config.get("dataset", {}))))
    with right:
        st.markdown("**Training and evaluation**\n\n"
                    + _bullets(card_training_rows(config.get("training", {}), metrics)))
    history = metrics.get("history") or []
    curves, kl = st.columns(2)
    if history:
        curves.plotly_chart(plots.training_curves(history), key="card-curves", config={"displaylogo": False})
    if "kl_per_dim" in metrics:
        kl.plotly_chart(plots.kl_per_dimension(metrics["kl_per_dim"], metrics["mean_variance_per_dim"],
                                               metrics.get("active_unit_threshold", 0.01)),
                        key="card-kl", config={"displaylogo": False})
    st.caption(f"Reproduce: `{core.RETRAIN_COMMAND} --only {name}` (shipped recipes). "
               f"Re-evaluate: `python -m train.evaluate checkpoints/{name}`.")


def metric_cards(metrics: dict) -> None:
    """The headline test metrics as st.metric cards, in nats per test input."""
    if "test_negative_elbo" in metrics:
        cards = [("test −ELBO", f"{metrics['test_negative_elbo']:.2f} nats",
                  f"recon {metrics['test_recon_nll']:.2f} + KL {metrics['test_kl']:.2f}")]
        if "test_iwae_nll" in metrics:
            cards.append((f"IWAE NLL (K = {metrics['iwae_k']})", f"{metrics['test_iwae_nll']:.2f} nats",
                          f"{metrics['test_iwae_bits_per_dim']:.4f} bits/dim"))
        cards.append(("active units", f"{metrics['active_units']} / {len(metrics['kl_per_dim'])}",
                      f"Var(E[z]) > {metrics.get('active_unit_threshold', 0.01)}"))
    else:
        cards = [("test reconstruction NLL", f"{metrics.get('test_recon_nll', float('nan')):.2f} nats",
                  "−log p(x | encoder(x))")]
        if "test_corrupted_recon_nll" in metrics:
            cards.append(("from corrupted inputs", f"{metrics['test_corrupted_recon_nll']:.2f} nats",
                          f"{metrics['corruption']['noise']} {metrics['corruption']['level']}"))
    for column, (label, value, help_text) in zip(st.columns(len(cards)), cards, strict=True):
        column.metric(label, value)
        column.caption(help_text)


def card_model_rows(model) -> dict[str, str]:
    """The model section of a card: only the settings that matter for this kind."""
    rows = {"kind": model.kind, "architecture": f"{model.arch} {list(model.hidden_dims)}",
            "latent size d": str(model.latent_dim), "likelihood p(x|z)": model.likelihood}
    if model.likelihood == "gaussian":
        rows["likelihood p(x|z)"] += f" (σ = {model.sigma:g})"
    if model.variational:
        rows["β (KL weight)"] = f"{model.beta:g}"
    if model.kind == "dae":
        rows["corruption"] = f"{model.noise}, level {model.noise_level:g}"
    if model.conditional:
        rows["classes"] = str(model.n_classes)
    return rows


def card_data_rows(data: dict) -> dict[str, str]:
    """The dataset section of a card, from config.json's ``dataset``."""
    binarized = (f"dynamically (training); test set once, seed {data.get('test_binarization_seed')}"
                 if data.get("binarized") else "no")
    sizes = f"{data.get('n_train', '?')} train / {data.get('n_test', '?')} test"
    return {"dataset": f"{data.get('name', '?')}: {sizes}",
            "source": str(data.get("source", "?")), "values": str(data.get("pixels", "?")),
            "binarized": binarized}


def card_training_rows(training: dict, metrics: dict) -> dict[str, str]:
    """The training and evaluation section of a card, from config.json and metrics.json."""
    lr = str(training.get("lr", "?"))
    if training.get("lr_final") is not None:
        lr += f" → {training['lr_final']} (cosine)"
    device = metrics.get("device_name") or metrics.get("device", "?")
    return {"epochs × batch": f"{metrics.get('epochs', '?')} × {training.get('batch_size', '?')}",
            "Adam learning rate": lr,
            "precision, seed": f"{training.get('precision', 'fp32')}, {training.get('seed', '?')}",
            "training time": f"{metrics.get('wall_time_s', '?')} s on {device}",
            "evaluation": f"{metrics.get('elbo_samples', '–')} ELBO samples, "
                          f"IWAE K = {metrics.get('iwae_k', '–')}, seed {metrics.get('seed', '–')}"}


def _bullets(rows: dict[str, str]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in rows.items())


def prior_sampling_panel(models: dict[str, core.ExplorerModel], labels: np.ndarray) -> None:
    """Prior sampling: the same z ~ N(0, I) decoded by the VAE and by the AE."""
    vae, ae = models.get("mnist-vae-2d"), models.get("mnist-ae-2d")
    if vae is None or ae is None:
        st.info("Prior sampling needs both mnist-vae-2d and mnist-ae-2d.")
        return
    st.caption("The VAE's KL term pulls its codes towards the prior p(z) = N(0, I), so random z from "
               "the prior decode to digits. The AE was never asked to: many prior samples land where it "
               "encoded nothing (its holes) and decode to blurs.")
    seed_col, n_col = st.columns([1, 2])
    seed = seed_col.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="prior-seed")
    n = n_col.slider("Samples", min_value=8, max_value=48, value=24, step=8, key="prior-n")
    z = core.prior_samples(n, 2, seed)
    for column, m in zip(st.columns(2), (vae, ae), strict=True):
        with column:
            st.image(core.image_grid(core.decode(m.model, z), columns=8, scale=3),
                     caption=f"z ~ N(0, I) decoded by the {m.label} ({m.name})")
            fig = plots.latent_scatter(m.codes, labels, f"{m.label} codes of the test digits and the samples",
                                       height=420)
            fig.add_trace(plots.points_trace(z, "prior samples z"))
            st.plotly_chart(fig, key=f"prior-plane-{m.name}", config={"displaylogo": False})


@st.cache_resource
def toy_data():
    """The two-Gaussians data (generated from a fixed seed, once per server)."""
    return toy_gaussians()


@st.cache_resource(show_spinner="Preparing the toy demo…")
def toy_demo(folder: str) -> core.ToyDemo:
    """The toy model in ``folder`` on the two-Gaussians test points (raises CheckpointError)."""
    return core.toy_demo(plain_model(folder), toy_data().test_x)


def toy_panel() -> None:
    """Toy demo: two Gaussian clusters through a 1-D bottleneck, AE vs VAE."""
    loaded = {}
    for name in TOY_MODELS:
        demo = load_or_report(toy_demo, core.CHECKPOINT_DIR / name)
        if demo is not None:
            loaded[name] = (plain_model(str(core.CHECKPOINT_DIR / name)), demo)
    if not loaded:
        return
    data = toy_data()
    st.caption("2-D points from two Gaussian clusters, squeezed through a 1-D latent z. The AE maps "
               "every point onto one curve: its reconstructions collapse the clusters' spread. The VAE "
               "also decodes to a curve, but its likelihood p(x|z) has a learned variance and its prior "
               "covers the code range, so sampling z ~ N(0, 1) and then x ~ p(x|z) gives back both clusters.")
    x, y = data.test_x.numpy(), data.test_y.numpy()
    columns = st.columns(len(loaded))
    for column, (name, (model, demo)) in zip(columns, loaded.items(), strict=True):
        overlays = [] if demo.generated is None else [("samples x ~ p(x)", demo.generated, "#2ca02c")]
        overlays.append(("reconstructions E[x|z]", demo.reconstructions, "#d62728"))
        title = f"{'VAE' if model.config.variational else 'AE'} ({name})"
        column.plotly_chart(plots.toy_plane(x, y, overlays, title), key=f"toy-{name}",
                            config={"displaylogo": False})
    st.plotly_chart(plots.toy_codes({name: demo.codes for name, (_, demo) in loaded.items()}, y),
                    key="toy-codes", config={"displaylogo": False})


def denoising_panel(models: dict[str, core.ExplorerModel], images, labels: np.ndarray) -> None:
    """Denoising: a corrupted test digit through the DAE, the AE and the VAE, scored on the clean one."""
    dae = load_or_report(explorer_model, core.CHECKPOINT_DIR / DAE_MODEL)
    if dae is None:
        return
    trained = f"{dae.model.config.noise} noise at level {dae.model.config.noise_level:g}"
    st.caption(f"The DAE was trained to reconstruct clean digits from corrupted ones ({trained}); the AE "
               "and the VAE only ever saw clean digits. Each reconstruction is scored against the *clean* "
               "digit: −log p(x_clean | z = encode(x_noisy)), in nats.")
    index_col, noise_col, level_col = st.columns(3)
    index = int(index_col.number_input("Test digit", min_value=0, max_value=len(labels) - 1, value=7,
                                       step=1, key="denoise-index"))
    names = {"mask": "masking (pixels set to 0)", "gaussian": "additive Gaussian"}
    noise = noise_col.radio("Noise", list(names), horizontal=True, key="denoise-noise", format_func=names.get)
    level = level_col.slider("Noise level (masked fraction, or std)", min_value=0.0, max_value=0.9,
                             value=float(dae.model.config.noise_level), step=0.05, key="denoise-level")
    clean = np.asarray(images[index, 0])
    noisy = core.corrupt_image(clean, noise, level, seed=index)
    columns = st.columns(5)
    with columns[0]:
        image(clean, caption=f"#{index}: a {labels[index]}", scale=ROW_SCALE * 2)
    with columns[1]:
        image(noisy, caption=f"{noise} {level:g}", scale=ROW_SCALE * 2)
    others = [models.get("mnist-ae-2d"), models.get("mnist-vae-2d")]
    for column, m in zip(columns[2:], [dae, *others], strict=True):
        if m is None:
            continue
        recon, nll = core.reconstruct(m.model, noisy[None], clean[None])
        with column:
            image(recon[0], caption=f"{m.label}: {nll[0]:.1f} nats", scale=ROW_SCALE * 2)


def conditional_panel(images, labels: np.ndarray) -> None:
    """Conditional generation (CVAE): one style z, every class; one class, a plane of styles."""
    cvae = load_or_report(plain_model, core.CHECKPOINT_DIR / CVAE_MODEL)
    if cvae is None:
        return
    st.caption("The conditional VAE is given the digit's class y, so its 2-D latent z only has to carry "
               "the *style*: slant, stroke width, size. Encode one digit with its own class, then decode "
               "its z with every class; or fix a class and walk the style plane.")
    left, right = st.columns(2)
    with left:
        index = int(st.number_input("Style of test digit", min_value=0, max_value=len(labels) - 1,
                                    value=0, step=1, key="cvae-index"))
        z = core.style_of(cvae, images[index], int(labels[index]))
        image(np.asarray(images[index, 0]), caption=f"#{index}: a {labels[index]}, style z = "
              f"({z[0]:.2f}, {z[1]:.2f})", scale=ROW_SCALE * 2)
        ten = core.decode_with_labels(cvae, np.repeat(z[None], 10, axis=0), list(range(10)))
        st.image(core.strip(ten, scale=3), caption=f"classes 0–9 decoded in the style of #{index}")
    with right:
        digit = st.radio("Class", list(range(10)), horizontal=True, index=3, key="cvae-class")
        codes, grid = cvae_plane(str(core.CHECKPOINT_DIR / CVAE_MODEL))
        clicked = last_click("cvae-plane", "cvae-z")
        plot_col, image_col = st.columns([3, 2])
        with plot_col:
            fig = plots.clickable_plane(codes, labels, grid, "Click a style z", clicked, height=340)
            fig.update_layout(showlegend=False)
            st.plotly_chart(fig, key="cvae-plane", on_select="rerun", selection_mode="points",
                            config={"displaylogo": False, "scrollZoom": False})
        with image_col:
            if clicked is None:
                st.info("Click the style plane to draw the chosen class in that style.")
            else:
                style = np.asarray(clicked, dtype=np.float32)
                drawn = core.decode_with_labels(cvae, style[None], [digit])[0]
                image(drawn, caption=f"a {digit} at z = ({style[0]:.2f}, {style[1]:.2f})",
                      scale=ROW_SCALE * 2)
    n = 12
    plane_images = core.decode_with_labels(cvae, core.prior_quantile_grid(n), [digit] * n * n)
    st.image(core.image_grid(plane_images, columns=n, scale=2),
             caption=f"class {digit} across the style plane: z on prior quantiles 5 %…95 % per axis")




@st.cache_resource(show_spinner="Encoding the test digits with their classes…")
def cvae_plane(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """(style codes float32 [N, 2] of the test digits under q(z|x, y), click grid [G, 2]) of the CVAE."""
    images, labels = test_set()
    codes = core.encode_all(plain_model(folder), images, labels)
    return codes, core.plane_grid(core.plane_extent(codes), PLANE_GRID)


@st.cache_resource
def projection(folder: str) -> core.Projection:
    """PCA of the test-set codes of the model in ``folder`` (computed once per server)."""
    return core.pca_2d(explorer_model(folder).codes)


def high_dim_panel(images, labels: np.ndarray) -> None:
    """Higher-dimensional latents: PCA scatter, one slider per dimension, KL per dimension."""
    folder = core.CHECKPOINT_DIR / HIGH_DIM_MODEL
    m = load_or_report(explorer_model, folder)
    if m is None:
        return
    d = m.model.latent_dim
    variances = m.metrics.get("mean_variance_per_dim") or m.codes.var(axis=0).tolist()
    threshold = m.metrics.get("active_unit_threshold", 0.01)
    active = [v > threshold for v in variances]
    st.caption(f"`{m.name}` has a {d}-D latent. The scatter shows its test-set codes projected on their "
               f"first two principal components; the sliders move one latent dimension at a time around "
               f"a chosen digit (a traversal). {sum(active)} of {d} dimensions are active "
               f"(Var_x(E[z_i]) > {threshold}); moving an inactive one changes almost nothing.")
    proj = projection(str(folder))
    left, right = st.columns([3, 2])
    with left:
        title = (f"PCA of the {d}-D codes: PC1 {proj.explained[0]:.0%}, PC2 {proj.explained[1]:.0%} "
                 "of the variance")
        fig = plots.latent_scatter(proj.points, labels, title, height=480)
        fig.update_layout(xaxis_title="PC1", yaxis_title="PC2")
        st.plotly_chart(fig, key="hd-pca", config={"displaylogo": False})
        if "kl_per_dim" in m.metrics:
            st.plotly_chart(plots.kl_per_dimension(m.metrics["kl_per_dim"], variances, threshold),
                            key="hd-kl", config={"displaylogo": False})
    with right:
        index = int(st.number_input("Traverse around test digit", min_value=0, max_value=len(labels) - 1,
                                    value=0, step=1, key="hd-index"))
        base = m.codes[index]
        sliders = st.columns(4)
        z = np.array([
            sliders[i % 4].slider(f"z{i + 1}" + ("" if active[i] else " (inactive)"), min_value=-4.0,
                                  max_value=4.0, value=float(np.clip(base[i], -4, 4)), step=0.1,
                                  key=f"hd-{index}-z{i}")
            for i in range(d)
        ], dtype=np.float32)
        pair = st.columns(2)
        with pair[0]:
            image(np.asarray(images[index, 0]), caption=f"#{index}: a {labels[index]}", scale=ROW_SCALE * 2)
        with pair[1]:
            moved = int(np.sum(~np.isclose(z, np.clip(base, -4, 4), atol=0.05)))
            image(core.decode(m.model, z), caption=f"decoded z ({moved} of {d} dimensions moved)",
                  scale=ROW_SCALE * 2)


POSTERIOR_MODELS = ("mnist-vae-2d", "mnist-betavae-2d")


def posterior_panel(images, labels: np.ndarray) -> None:
    """Posterior uncertainty: q(z|x) of one digit as 1- and 2-sigma ellipses, and decoded samples."""
    loaded = {}
    for name in POSTERIOR_MODELS:
        m = load_or_report(explorer_model, core.CHECKPOINT_DIR / name)
        if m is not None:
            loaded[name] = m
    if not loaded:
        return
    st.caption("The VAE's encoder gives each digit a whole distribution q(z|x) = N(μ, diag σ²), not a "
               "point. The ellipses are its 1σ and 2σ contours; the dots are samples z = μ + σ·ε, decoded "
               "below. A β-VAE (β = 4) pays more for information in z, so its posteriors are wider.")
    model_col, index_col, seed_col = st.columns(3)
    name = model_col.radio("Model", list(loaded), horizontal=True, key="post-model",
                           format_func=lambda n: loaded[n].label)
    index = int(index_col.number_input("Test digit", min_value=0, max_value=len(labels) - 1, value=0,
                                       step=1, key="post-index"))
    seed = int(seed_col.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1,
                                     key="post-seed"))
    m = loaded[name]
    mu, sigma = core.posterior_of(m.model, images[index])
    samples = core.posterior_samples(mu, sigma, 10, seed)
    left, right = st.columns([3, 2])
    with left:
        fig = plots.latent_scatter(m.codes, labels, f"{m.label}: q(z|x) of test digit #{index}", faint=True)
        contours = [(f"{k}σ", core.ellipse(mu, sigma, k)) for k in (1, 2)]
        fig.add_traces(plots.posterior_traces(mu, contours, samples))
        pad = max(6 * float(sigma.max()), 0.05)  # zoom so the 2σ ellipse fills a third of the view
        fig.update_xaxes(range=[float(mu[0]) - pad, float(mu[0]) + pad])
        fig.update_yaxes(range=[float(mu[1]) - pad, float(mu[1]) + pad])
        st.plotly_chart(fig, key=f"post-plot-{name}", config={"displaylogo": False})
    with right:
        image(np.asarray(images[index, 0]), caption=f"#{index}: a {labels[index]}", scale=ROW_SCALE * 2)
        st.markdown(f"μ = ({mu[0]:.2f}, {mu[1]:.2f}), σ = ({sigma[0]:.3f}, {sigma[1]:.3f})")
        st.image(core.strip(core.decode(m.model, samples), scale=2),
                 caption="10 samples z ~ q(z|x), decoded")
