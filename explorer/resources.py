"""What the explorer computes once per server process and shares, read-only, with every session.

Models, the test set, its encodings, click grids, manifold tiles and projections are cached with
``st.cache_resource`` keyed by a checkpoint folder (a string), never by arrays. Nothing here is
recomputed on a click. Errors are not cached: a fixed checkpoint loads on the next rerun.

What the default page needs (the checkpoint list, the test labels, a model's codes from its
codes.safetensors, the browser's points and decoder weights) is read without torch or pandas; the
functions that need those import them when first called (see explorer/encoded.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from train import CheckpointError, load_checkpoint
from train.schema import read_metadata

from . import audience, catalogue, encoded, geometry, testdata, webdecoder, workshop

if TYPE_CHECKING:
    from . import inference, timelapse

PLANE_GRID = 110  # points per side of the invisible click grid


@st.cache_resource(show_spinner="Loading the test images…")
def test_set(dataset: str = "mnist") -> tuple:
    """(images float32 torch [10000, 1, 28, 28] in [0, 1], labels int64 numpy [10000]) of ``dataset``:
    ``test_arrays`` as the models take them (raises FileNotFoundError, TestSetError)."""
    images, labels = test_arrays(dataset)
    return testdata.model_inputs(images), labels


@st.cache_resource(show_spinner="Loading the test images…")
def test_arrays(dataset: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 numpy [10000, 28, 28], labels int64 numpy [10000]) of ``dataset``, read without
    torch (``testdata.read_test_split``; raises FileNotFoundError, TestSetError)."""
    return testdata.read_test_split(dataset)


def test_labels(dataset: str = "mnist") -> np.ndarray:
    """The labels int64 [10000] in 0..9 of ``dataset``'s test set (``test_arrays``)."""
    return test_arrays(dataset)[1]


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
def explorer_model(folder: str) -> encoded.ExplorerModel:
    """The image model in ``folder`` with its dataset's test set encoded (raises CheckpointError,
    ValueError, FileNotFoundError, TestSetError): the codes its checkpoint stores if they are those
    of its weights and of this test set (no torch), else encoded now. Its JSON files are read once:
    the checkpoint list's copy is used when the folder is listed."""
    meta = listed_metadata(folder)
    stored = encoded.from_codes_file(meta, test_labels(meta.config.dataset))
    if stored is not None:
        return stored
    from . import inference  # noqa: PLC0415 (torch: see the module docstring)

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
    from . import plots  # noqa: PLC0415 (plotly: see the module docstring)

    m = explorer_model(folder)
    extent, grid = plane(folder)
    labels = test_labels(m.dataset)
    fig = plots.clickable_plane(m.codes, labels, grid, title, height=height, names=m.class_names)
    fig.update_layout(showlegend=legend)
    return plots.styled(fig, dark=dark, presenter=presenter)


@st.cache_resource(show_spinner=False)
def browser_decoder(folder: str, dtype: str = "float32") -> tuple[str, dict]:
    """(digest, payload) of the decoder of the 2-D image model in ``folder`` for the browser plane
    (``webdecoder.BrowserDecoder.payload``), read from its weights file without torch, or from the
    loaded model if NumPy cannot read them (raises CheckpointError, webdecoder.UnsupportedDecoder)."""
    try:
        exported = webdecoder.export_checkpoint(folder, listed_metadata(folder).config.model)
    except CheckpointError:  # e.g. bfloat16 weights, which only torch reads: export the loaded model
        exported = webdecoder.export_decoder(explorer_model(folder).model)
    return f"{exported.digest}-{dtype}", exported.payload(dtype)


@st.cache_resource(show_spinner=False)
def browser_points(folder: str) -> tuple[str, dict]:
    """(digest, payload) of the test-set codes and labels of the 2-D model in ``folder`` for the
    browser plane (``webdecoder.encode_points``)."""
    m = explorer_model(folder)
    payload = webdecoder.encode_points(m.codes, test_labels(m.dataset))
    return payload["digest"], payload


@st.cache_resource
def manifold(folder: str, n: int, spacing: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs, ys, decoded tiles [n*n, 28, 28]) of the manifold overlay of the 2-D model in ``folder``."""
    from . import inference  # noqa: PLC0415 (torch: see the module docstring)

    m = explorer_model(folder)
    xs, ys = geometry.manifold_axes(m.codes, n, spacing)
    return xs, ys, inference.manifold_images(m.model, xs, ys)


@st.cache_resource
def projection(folder: str) -> geometry.Projection:
    """PCA of the test-set codes of the model in ``folder`` (d > 2)."""
    return geometry.pca_2d(explorer_model(folder).codes)


def view_points(m: encoded.ExplorerModel) -> tuple[np.ndarray, geometry.Projection | None]:
    """The test set's codes as 2-D points to draw: (float32 [N, 2], None) for a 2-D latent, or their
    PCA projection and the projection (to place more latents with ``transform``) for d > 2."""
    if m.config.latent_dim == 2:
        return m.codes, None
    proj = projection(str(m.folder))
    return proj.points, proj


@st.cache_resource
def toy_data():
    """The two-Gaussians data (generated from a fixed seed, once per server)."""
    from train.data import toy_gaussians  # noqa: PLC0415 (torch: see the module docstring)

    return toy_gaussians()


@st.cache_resource(show_spinner="Preparing the toy demo…")
def toy_demo(folder: str) -> inference.ToyDemo:
    """The toy model in ``folder`` on the two-Gaussians test points (raises CheckpointError)."""
    from . import inference  # noqa: PLC0415 (torch: see the module docstring)

    return inference.toy_demo(plain_model(folder), toy_data().test_x)


def warm_up(folder: str) -> None:
    """Compute what the first pages of a 2-D image model need, so the first click is instant."""
    if explorer_model(folder).config.latent_dim == 2:
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

    from . import timelapse  # noqa: PLC0415

    meta = listed_metadata(folder)
    name = Path(folder).name
    return timelapse.panel(name, f"{meta.config.model.label}: {name}", read_frames(folder))


@st.cache_resource(show_spinner=False, max_entries=8)
def timelapse_export(folders: tuple[str, ...], kind: str) -> bytes:
    """The side-by-side time-lapse of ``folders`` as ``kind`` "gif" or "mp4" bytes (explorer.timelapse)."""
    from . import timelapse  # noqa: PLC0415

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
