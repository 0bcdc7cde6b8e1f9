"""What the explorer computes once per server process and shares, read-only, with every session.

Models, the test set, its encodings, click grids, manifold tiles and projections are cached with
``st.cache_resource`` keyed by a checkpoint folder (a string), never by arrays. Nothing here is
recomputed on a click. Errors are not cached: a fixed checkpoint loads on the next rerun.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from train import CheckpointError, load_checkpoint
from train.data import toy_gaussians
from train.schema import read_metadata

from . import audience, catalogue, geometry, inference, plots, testdata, timelapse, webdecoder, workshop

PLANE_GRID = 110  # points per side of the invisible click grid


@st.cache_resource(show_spinner="Loading the test images…")
def test_set(dataset: str = "mnist") -> tuple:
    """(images float32 torch [10000, 1, 28, 28] in [0, 1], labels int64 numpy [10000]) of ``dataset``
    (raises FileNotFoundError)."""
    return testdata.load_test_set(dataset)


def checkpoints() -> list[catalogue.CheckpointInfo]:
    """Every folder under ``catalogue.CHECKPOINT_DIR``, read from JSON only (see ``list_checkpoints``)."""
    return _checkpoints(str(catalogue.CHECKPOINT_DIR))


@st.cache_resource(ttl=60, show_spinner=False)
def _checkpoints(root: str) -> list[catalogue.CheckpointInfo]:
    """Re-read at most once a minute, so new folders appear without a restart and a rerun never
    waits for the disk. A resource, not cache_data: every caller gets the same read-only list
    instead of an unpickled copy (pages look it up several times per run)."""
    return catalogue.list_checkpoints(root)


def checkpoint(name: str) -> catalogue.CheckpointInfo | None:
    """The listed checkpoint called ``name``, or None."""
    return next((info for info in checkpoints() if info.name == name), None)


@st.cache_resource(show_spinner="Loading a checkpoint and encoding the test set…")
def explorer_model(folder: str) -> inference.ExplorerModel:
    """The image model in ``folder`` with its dataset's test set encoded (raises CheckpointError,
    ValueError, FileNotFoundError, TestSetError). Its JSON files are read once: the checkpoint
    list's copy is used when the folder is listed."""
    meta = listed_metadata(folder)
    images, labels = test_set(meta.config.dataset)
    return inference.load_explorer_model(meta, images, labels)


def listed_metadata(folder: str):
    """The checked metadata of ``folder`` from the checkpoint list, or read now if it is not listed
    (raises CheckpointError, with the listed reason for a broken folder)."""
    info = next((i for i in checkpoints() if str(i.folder) == str(folder)), None)
    if info is None:
        return read_metadata(folder)
    if info.meta is None:
        raise CheckpointError(info.error)
    return info.meta


@st.cache_resource(show_spinner="Loading a checkpoint…")
def plain_model(folder: str):
    """The model in ``folder`` on the CPU, without encoding anything (raises CheckpointError)."""
    return load_checkpoint(folder, config=listed_metadata(folder).config.model)


@st.cache_resource
def plane(folder: str) -> tuple[tuple[float, ...], np.ndarray]:
    """(extent, grid float32 [G, 2]) of the clickable z-plane of the 2-D model in ``folder``."""
    extent = geometry.plane_extent(explorer_model(folder).codes)
    return extent, geometry.plane_grid(extent, PLANE_GRID)


@st.cache_resource(max_entries=64)
def plane_figure(folder: str, title: str, height: int, legend: bool, dark: bool, presenter: bool):
    """The clickable plane of the 2-D model in ``folder`` as a styled plotly figure, built once.

    Shared by every session: callers must not change it (copy it with go.Figure(fig) first)."""
    m = explorer_model(folder)
    extent, grid = plane(folder)
    labels = test_set(m.dataset)[1]
    fig = plots.clickable_plane(m.codes, labels, grid, title, height=height, names=m.class_names)
    fig.update_layout(showlegend=legend)
    return plots.styled(fig, dark=dark, presenter=presenter)


@st.cache_resource(show_spinner=False)
def browser_decoder(folder: str, dtype: str = "float32") -> tuple[str, dict]:
    """(digest, payload) of the decoder of the 2-D image model in ``folder`` for the browser plane
    (``webdecoder.BrowserDecoder.payload``; raises webdecoder.UnsupportedDecoder)."""
    exported = webdecoder.export_decoder(explorer_model(folder).model)
    return f"{exported.digest}-{dtype}", exported.payload(dtype)


@st.cache_resource(show_spinner=False)
def browser_points(folder: str) -> tuple[str, dict]:
    """(digest, payload) of the test-set codes and labels of the 2-D model in ``folder`` for the
    browser plane (``webdecoder.encode_points``)."""
    m = explorer_model(folder)
    payload = webdecoder.encode_points(m.codes, test_set(m.dataset)[1])
    return payload["digest"], payload


@st.cache_resource
def manifold(folder: str, n: int, spacing: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, ys, decoded tiles [n*n, 28, 28]) of the manifold overlay of the 2-D model in ``folder``."""
    m = explorer_model(folder)
    xs, ys = geometry.manifold_axes(m.codes, n, spacing)
    return xs, ys, inference.manifold_images(m.model, xs, ys)


@st.cache_resource
def projection(folder: str) -> geometry.Projection:
    """PCA of the test-set codes of the model in ``folder`` (d > 2)."""
    return geometry.pca_2d(explorer_model(folder).codes)


def view_points(m: inference.ExplorerModel) -> tuple[np.ndarray, geometry.Projection | None]:
    """The test set's codes as 2-D points to draw: (float32 [N, 2], None) for a 2-D latent, or their
    PCA projection and the projection (to place more latents with ``transform``) for d > 2."""
    if m.model.latent_dim == 2:
        return m.codes, None
    proj = projection(str(m.folder))
    return proj.points, proj


@st.cache_resource
def toy_data():
    """The two-Gaussians data (generated from a fixed seed, once per server)."""
    return toy_gaussians()


@st.cache_resource(show_spinner="Preparing the toy demo…")
def toy_demo(folder: str) -> inference.ToyDemo:
    """The toy model in ``folder`` on the two-Gaussians test points (raises CheckpointError)."""
    return inference.toy_demo(plain_model(folder), toy_data().test_x)


def warm_up(folder: str) -> None:
    """Compute what the first pages of a 2-D image model need, so the first click is instant."""
    m = explorer_model(folder)
    if m.model.latent_dim == 2:
        plane(folder)


@st.cache_resource(show_spinner=False)
def audience_store() -> audience.AudienceStore:
    """The audience board's database (``audience.state_dir()``), one per server; raises
    audience.AudienceError for a file it cannot read, OSError or sqlite3.Error for the disk (not
    cached: the next run tries again)."""
    return audience.AudienceStore(audience.state_dir() / audience.DB_NAME)


def has_frames(folder) -> bool:
    """Whether the checkpoint in ``folder`` holds recorded frames (``frames.safetensors``)."""
    from pathlib import Path

    from train.checkpoint import FRAMES_FILE

    return (Path(folder) / FRAMES_FILE).is_file()


@st.cache_resource(show_spinner="Reading the recorded frames…", max_entries=16)
def timelapse_panel(folder: str) -> timelapse.Panel:
    """The time-lapse of the checkpoint in ``folder`` (``timelapse.panel`` of ``train.frames.read_frames``);
    raises CheckpointError for a missing or damaged frames file, ValueError for frames without labels."""
    from pathlib import Path

    from train.frames import read_frames

    meta = listed_metadata(folder)
    name = Path(folder).name
    return timelapse.panel(name, f"{meta.config.model.label}: {name}", read_frames(folder))


@st.cache_resource(show_spinner=False, max_entries=8)
def timelapse_export(folders: tuple[str, ...], kind: str) -> bytes:
    """The side-by-side time-lapse of ``folders`` as ``kind`` "gif" or "mp4" bytes (explorer.timelapse)."""
    images = timelapse.render([timelapse_panel(f) for f in folders])
    return timelapse.to_gif(images) if kind == "gif" else timelapse.to_mp4(images)


@st.cache_resource(show_spinner=False)
def live_workshop() -> workshop.Workshop:
    """The server's one workshop (live training runs): checkpoints go to ``catalogue.CHECKPOINT_DIR``,
    live frames and logs to ``audience.state_dir()``/workshop."""
    return workshop.Workshop(catalogue.CHECKPOINT_DIR, audience.state_dir() / "workshop")


def refresh_checkpoints() -> None:
    """Forget the checkpoint list, so a folder written a moment ago is listed at once."""
    _checkpoints.clear()
