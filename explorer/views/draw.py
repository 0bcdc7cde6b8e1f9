"""Draw or upload a digit: preprocessed like MNIST, placed on the latent plane, reconstructed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer import catalogue, geometry, imaging, inference, latent_plane, plots, resources, state, ui
from explorer.preprocess import Preprocessed, UploadError, preview, to_mnist

NEED = catalogue.NEEDS["draw"]  # what this page needs of the picked model
CANVAS_SIZE = 240
STROKE_WIDTH = 20  # canvas pixels: about 2 MNIST pixels once a digit is fitted in 20x20
TRAIL = state.Key("user-trail")  # {model name: the drawing's location after each stroke, float32 [T, d]}
SEEN = state.Key("draw-seen")  # {"drawing" | "upload": a token of the input last seen}
CURRENT = state.Key("draw-current")  # "drawing" or "upload": the input that changed last
UPLOAD = state.Key("upload")  # the file uploader
CANVAS = state.Key("canvas")  # the drawing canvas
COMPARE = state.Param("compare", "draw-compare", state.parse_text)
KEPT_Z = state.Key("draw-z")  # (digit token, z float32 [2]): the z kept on the live plane for that digit
PARAMS = (COMPARE,)


def render() -> None:
    m = ui.selected_model(NEED)
    if m is None:
        return
    images, labels = resources.test_set(m.dataset)
    input_col, plane_col, output_col = st.columns([3, 4, 3])
    with input_col:
        st.markdown("**Draw a digit**: each stroke moves it on the plane.")
        drawing = canvas_png()
        upload = st.file_uploader("…or upload a PNG or JPEG of one handwritten digit (dark on light or light "
                                  "on dark)", type=["png", "jpg", "jpeg"], key=UPLOAD.key)
        other_name = ui.compare_picker("Compare with", m.name, NEED.fits, COMPARE)
    given = latest_input(drawing, upload)
    if given is None:
        plane_col.info("Draw a digit on the canvas or upload a photo. It is cleaned (uneven light, a desk "
                       "around the page, specks) and converted like MNIST: light ink on black, strokes of "
                       "MNIST's width, fitted in 20×20 keeping its aspect, and centred by its centre of mass "
                       "in 28×28.")
        return
    result, source = given.digit, given.name
    for note in result.notes:  # e.g. several digits in one picture: the largest is used
        input_col.info(note, icon=":material/info:")
    x = result.image
    models = ui.with_comparison(m, other_name)
    codes = {model.name: inference.encode(model.model, x[None])[0] for model in models}
    trail = update_trail(codes[m.name], given.drawn, m.name)
    with output_col:
        pair = st.columns(2)
        if not given.drawn:
            pair[0].image(preview(result.original, ui.ROW_SCALE * 28), caption="your upload")
        ui.image(x, caption="as MNIST input" + (" (inverted)" if result.inverted else ""), scale=ui.ROW_SCALE,
                 target=pair[1])
        recons = st.columns(len(models))
        for col, model in zip(recons, models, strict=True):
            recon, nll = inference.reconstruct(model.model, x[None])
            ui.image(recon[0], caption=f"{model.label}: {nll[0]:.1f} nats", scale=ui.ROW_SCALE, target=col)
        for model in models:
            nearest = geometry.nearest_test_indices(model.codes, codes[model.name], 5)
            ui.picture(imaging.strip(np.asarray(images[nearest, 0]), scale=2),
                     caption=f"5 nearest test digits in the {model.label}'s latent space: "
                             + ", ".join(f"#{i} (a {m.class_names[labels[i]]})" for i in nearest))
        st.caption("It is now also an end choice on **Interpolation** and a digit on **Posterior q(z|x)**.")
    with plane_col:
        live = m.model.latent_dim == 2 and latent_plane.available()
        if live:  # the user's digit on the plane; hovering decodes around it, by both models
            decoders = [latent_plane.Decoder(str(model.folder), f"{model.label} · {model.name}")
                        for model in models if model.model.latent_dim == 2]
            token = hashlib.sha1(x.tobytes()).hexdigest()
            kept_token, kept = KEPT_Z.get((None, None))
            latent_plane.plane("draw-plane", m, decoders, z=kept if kept_token == token else None,
                               on_commit=lambda z: KEPT_Z.set((token, z)),
                               start=codes[m.name], marks=[(source, codes[m.name])],
                               path=trail if len(trail) > 1 else None, height=380,
                               hint="Your digit is the dot; hover around it to see what the decoders make "
                                    "of nearby codes; click to keep a z.")
        elif m.model.latent_dim == 2:
            latent_plane.explain_fallback()
        for model in models[1:] if live else models:
            points, proj = resources.view_points(model)
            z = codes[model.name]
            mark = z if proj is None else proj.transform(z)
            path = None
            if model is m and len(trail) > 1:  # where the drawing was after each stroke
                path = trail if proj is None else proj.transform(trail)
            title = f"{model.label}: {source}" + ("" if proj is None else " (PCA)")
            fig = plots.latent_scatter(points, labels, title, marks=[(source, mark)], path=path, height=420,
                                       names=m.class_names)
            ui.chart(fig, f"draw-plot-{model.name}")


def canvas_png(key: str = CANVAS.key) -> bytes | None:
    """The drawing canvas ``key`` as PNG bytes (black ink on white), or None while it is empty."""
    from streamlit_drawable_canvas import st_canvas  # registers its component inside the app only

    result = st_canvas(stroke_width=STROKE_WIDTH, stroke_color="#000000", background_color="#ffffff",
                       height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw", key=key,
                       return_image_data=True)
    if not (result.json_data or {}).get("objects"):
        if key == CANVAS.key:
            TRAIL.clear()
        return None
    return result.image_bytes


@dataclass(frozen=True)
class UserInput:
    """The user's digit: ``digit`` preprocessed like MNIST, ``name`` to show ("your drawing" or the
    uploaded file's name), ``drawn`` True for the canvas (whose strokes leave a trail)."""

    digit: Preprocessed
    name: str
    drawn: bool


def latest_input(drawing: bytes | None, upload) -> UserInput | None:
    """Whichever input changed last, preprocessed, or None.

    Also keeps it in session state for the Interpolation and Posterior pages. An unreadable upload
    shows why and keeps the page running.
    """
    tokens = {"drawing": drawing and hashlib.sha1(drawing).hexdigest(),
              "upload": upload and upload.file_id}
    SEEN.default({})
    seen = SEEN.get()
    changed = [k for k, token in tokens.items() if token and seen.get(k) != token]
    seen.update(tokens)
    current = changed[-1] if changed else CURRENT.get()
    if current is None or not tokens.get(current):
        current = "drawing" if drawing else "upload" if upload else None
    CURRENT.set(current)
    if current is None:
        ui.USER_DIGIT.clear()
        return None
    drawn = current == "drawing"
    data, name = (drawing, "your drawing") if drawn else (upload.getvalue(), upload.name)
    try:
        result = to_mnist(data)
    except UploadError as e:
        st.error(f"**{name}**: {e}", icon=":material/warning:")
        return None
    ui.USER_DIGIT.set(result.image)
    ui.USER_DIGIT_SOURCE.set(name)
    return UserInput(result, name, drawn)


def update_trail(z: np.ndarray, drawn: bool, model_name: str) -> np.ndarray:
    """Append the drawing's latest location in ``model_name``'s latent space (once per change) and
    return that trail, float32 [T, d]; an upload (not ``drawn``) has no trail."""
    if not drawn:
        return np.asarray([z])
    TRAIL.default({})
    trails = TRAIL.get()
    trail = trails.get(model_name)
    if trail is None:
        trail = np.asarray([z])
    elif not np.allclose(trail[-1], z):
        trail = np.vstack([trail, z])
    trails[model_name] = trail
    return trail


if __name__ == "__main__":  # run as a page by st.navigation
    render()
