"""The Streamlit app, run headless with streamlit.testing against the shipped checkpoints."""

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from explorer.core import CHECKPOINT_DIR, list_checkpoints

APP = str(Path(__file__).resolve().parent.parent / "explorer" / "app.py")
TIMEOUT = 120


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    return at


def digit_png() -> bytes:
    image = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(image).ellipse((90, 40, 210, 260), outline=0, width=18)  # a zero
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


TABS = ["Latent scatter", "Click to decode", "Reconstructions", "Interpolation", "Posterior",
        "Upload a digit", "Denoising", "Prior sampling", "Conditional generation", "16-D latents", "Toy demo",
        "Model card"]


def open_tab(at: AppTest, name: str) -> AppTest:
    """Select a tab and rerun: the tabs are lazy, only the open one's panel runs."""
    at.session_state["tab"] = name
    return at.run()


def test_every_tab_renders_without_exception_and_only_the_open_one_runs(app):
    assert not app.exception and not app.error
    assert [t.label for t in app.tabs] == TABS
    sidebar = " ".join(m.value for m in app.sidebar.markdown)
    assert "mnist-ae-2d" in sidebar and "mnist-vae-2d" in sidebar and "nats" in sidebar
    assert {"scatter-mnist-ae-2d", "scatter-mnist-vae-2d"} == chart_keys(app)  # the first tab only
    for name in TABS:
        open_tab(app, name)
        assert not app.exception and not app.error, name
    assert chart_keys(app) == {"card-curves", "card-kl"}


def test_each_tab_shows_its_key_elements(app):
    open_tab(app, "Click to decode")
    assert "zplane-mnist-vae-2d" in chart_keys(app)
    open_tab(app, "Reconstructions")
    assert app.text_input(key="recon-indices").value == "0, 1, 2, 3, 4"
    captions = image_captions(app)  # 5 rows of original | AE | VAE, each with its NLL in nats
    assert sum(c.startswith("AE: ") and c.endswith(" nats") for c in captions) == 5
    assert sum(c.startswith("VAE: ") and c.endswith(" nats") for c in captions) == 5
    assert "#0: a 7" in captions
    open_tab(app, "Interpolation")
    assert {"interp-plot-mnist-ae-2d", "interp-plot-mnist-vae-2d"} <= chart_keys(app)
    open_tab(app, "16-D latents")
    assert {"hd-pca", "hd-kl"} <= chart_keys(app)
    assert len([s for s in app.slider if s.key.startswith("hd-")]) == 16  # one per latent dimension


def image_captions(at: AppTest) -> list[str]:
    return [c for img in at.get("image") for c in img.captions]


def chart_keys(at: AppTest) -> set[str]:
    return {c.key for c in at.get("plotly_chart")}


def test_reconstruction_indices_are_validated(app):
    open_tab(app, "Reconstructions")
    app.text_input(key="recon-indices").set_value("1, 99999").run()
    assert not app.exception
    assert any("out of range" in e.value for e in app.error)
    app.text_input(key="recon-indices").set_value("7").run()
    assert not app.error


def test_uploaded_png_is_processed(app):
    open_tab(app, "Upload a digit")
    app.file_uploader(key="upload").set_value(("zero.png", digit_png(), "image/png")).run()
    assert not app.exception
    assert not app.error
    captions = image_captions(app)
    assert "your upload" in captions and "as MNIST input (inverted)" in captions
    # Both models reconstructed it and its location is marked on both planes.
    assert sum(c.startswith("AE: ") for c in captions) == 1  # only the upload tab runs
    assert sum(c.startswith("VAE: ") for c in captions) == 1
    assert {"upload-plot-mnist-ae-2d", "upload-plot-mnist-vae-2d"} <= chart_keys(app)
    nearest = [c for c in captions if c.startswith("5 nearest test digits in the VAE")]
    assert len(nearest) == 1 and nearest[0].count("(a ") == 5


def test_unreadable_upload_shows_an_error_and_the_page_keeps_working(app):
    open_tab(app, "Upload a digit")
    app.file_uploader(key="upload").set_value(("broken.png", b"not a png", "image/png")).run()
    assert not app.exception
    assert any("could not be read" in e.value for e in app.error)
    app.file_uploader(key="upload").set_value(("blank.png", _blank_png(), "image/png")).run()
    assert any("No handwriting" in e.value for e in app.error)
    app.file_uploader(key="upload").set_value(None).run()
    assert not app.exception and not app.error


def _blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((50, 50), 255, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_missing_checkpoint_names_the_folder_and_the_command(tmp_path, monkeypatch):
    from explorer import core

    shutil.copytree(core.CHECKPOINT_DIR / "mnist-ae-2d", tmp_path / "mnist-ae-2d")
    monkeypatch.setattr(core, "CHECKPOINT_DIR", tmp_path)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "mnist-vae-2d" in errors and "python -m train.retrain" in errors
    missing = {"Denoising": "mnist-dae-2d", "Conditional generation": "mnist-cvae-2d",
               "16-D latents": "mnist-vae-16d", "Toy demo": "toy-ae-1d"}
    for name in TABS:  # the AE alone still gets every panel; the others say what is missing
        open_tab(at, name)
        assert not at.exception, name
        if name in missing:
            assert any(missing[name] in e.value and "python -m train.retrain" in e.value for e in at.error)


def test_random_digits_button_picks_new_indices(app):
    open_tab(app, "Reconstructions")
    app.button(key="recon-random").click().run()
    assert not app.exception
    indices = [int(i) for i in app.text_input(key="recon-indices").value.split(",")]
    assert len(indices) == 5 and all(0 <= i < 10000 for i in indices)
    captions = image_captions(app)
    assert all(any(c.startswith(f"#{i}: a ") for c in captions) for i in indices)


def test_model_card_shows_every_checkpoint_folder(app):
    open_tab(app, "Model card")
    infos = list_checkpoints()
    assert len(infos) >= 9  # every shipped folder, found without a list in the code
    for info in infos:
        app.selectbox(key="card-model").set_value(info.name)
        app.run()
        assert not app.exception and not app.error, info.name
        labels = [m.label for m in app.metric]
        values = " ".join(m.value for m in app.metric)
        markdown = " ".join(m.value for m in app.markdown)
        assert info.name in markdown and "nats" in values
        if info.model_config.variational:
            assert labels[:2] == ["test −ELBO", "IWAE NLL (K = 1000)"]
            assert f"{info.metrics['test_negative_elbo']:.2f} nats" in values
            assert app.get("plotly_chart")[-1].proto.id  # the KL-per-dimension chart is drawn
        else:
            assert labels[0] == "test reconstruction NLL"


def test_model_card_lists_an_unreadable_folder_with_its_reason(tmp_path):
    shutil.copytree(CHECKPOINT_DIR / "mnist-vae-2d", tmp_path / "good")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{ not json")
    at = AppTest.from_function(_card_only, args=(str(tmp_path),), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    at.selectbox(key="card-model").set_value("broken")
    at.run()
    assert not at.exception and "not valid JSON" in at.error[0].value


def _card_only(folder: str) -> None:
    from pathlib import Path

    from explorer import panels

    panels.model_card_panel(Path(folder))


def test_prior_sampling_decodes_the_same_z_with_both_models_and_the_seed_changes_it(app):
    open_tab(app, "Prior sampling")
    def grids(at):
        return {img.captions[0]: img.proto.imgs[0].url for img in at.get("image")
                if img.captions and "N(0, I) decoded by the" in img.captions[0]}

    before = grids(app)
    assert len(before) == 2 and any("VAE" in c for c in before) and any("AE (" in c for c in before)
    app.number_input(key="prior-seed").set_value(7).run()
    assert not app.exception
    after = grids(app)
    assert after.keys() == before.keys() and all(after[c] != before[c] for c in before)
    assert {"prior-plane-mnist-vae-2d", "prior-plane-mnist-ae-2d"} <= chart_keys(app)


def test_toy_demo_draws_both_toy_models(app):
    open_tab(app, "Toy demo")
    assert not app.exception
    assert {"toy-toy-ae-1d", "toy-toy-vae-1d", "toy-codes"} <= chart_keys(app)
    specs = " ".join(c.proto.spec for c in app.get("plotly_chart"))
    assert "AE (toy-ae-1d)" in specs and "VAE (toy-vae-1d)" in specs and "samples x ~ p(x)" in specs


def denoising_scores(at: AppTest) -> dict[str, float]:
    """{model label: nats} from the denoising row's captions, e.g. "DAE: 123.8 nats"."""
    scores = {}
    for caption in image_captions(at):
        label, _, rest = caption.partition(": ")
        if label in ("DAE", "AE", "VAE") and rest.endswith(" nats"):
            scores[label] = float(rest.removesuffix(" nats"))
    return scores


def test_denoising_the_dae_beats_the_ae_on_its_own_kind_of_noise(app):
    open_tab(app, "Denoising")
    assert not app.exception
    scores = denoising_scores(app)  # default: masking at the DAE's training level (0.3)
    assert set(scores) == {"DAE", "AE", "VAE"} and scores["DAE"] < scores["AE"]
    app.slider(key="denoise-level").set_value(0.0).run()
    clean = denoising_scores(app)
    assert clean["AE"] < scores["AE"]  # no noise: the AE's own reconstruction of the clean digit
    app.radio(key="denoise-noise").set_value("gaussian").run()
    app.slider(key="denoise-level").set_value(0.5).run()
    assert not app.exception and "gaussian 0.5" in image_captions(app)


def test_conditional_generation_decodes_every_class_and_a_style_plane(app):
    open_tab(app, "Conditional generation")
    def shown(at):
        return {img.captions[0]: img.proto.imgs[0].url for img in at.get("image") if img.captions}

    before = shown(app)
    assert "classes 0–9 decoded in the style of #0" in before
    plane = next(c for c in before if c.startswith("class 3 across the style plane"))
    app.radio(key="cvae-class").set_value(8).run()
    assert not app.exception
    after = shown(app)
    assert plane not in after and any(c.startswith("class 8 across the style plane") for c in after)
    app.number_input(key="cvae-index").set_value(1).run()
    strip = shown(app)["classes 0–9 decoded in the style of #1"]
    assert strip != before["classes 0–9 decoded in the style of #0"]


def test_a_traversal_slider_moves_one_dimension_and_changes_the_decoded_image(app):
    open_tab(app, "16-D latents")

    def decoded(at):
        return next((img.captions[0], img.proto.imgs[0].url) for img in at.get("image")
                    if img.captions and img.captions[0].startswith("decoded z"))

    caption, before = decoded(app)
    assert caption.startswith("decoded z (0 of 16")
    active = next(s for s in app.slider if s.key.startswith("hd-") and "inactive" not in s.label)
    active.set_value(3.5).run()
    caption, after = decoded(app)
    assert not app.exception and caption.startswith("decoded z (1 of 16") and after != before


def test_interpolation_offers_spherical_paths_and_png_gif_downloads(app):
    open_tab(app, "Interpolation")
    buttons = {b.label for b in app.get("download_button")}
    assert buttons == {"Strip as PNG", "Animation as GIF"} and len(app.get("download_button")) == 4
    linear = [img.proto.imgs[0].url for img in app.get("image")]
    app.radio(key="interp-method").set_value("spherical").run()
    assert not app.exception
    assert any("sin((1 − t)ω)" in c.value for c in app.caption)
    assert [img.proto.imgs[0].url for img in app.get("image")] != linear


def test_manifold_overlay_tiles_decoded_digits_under_both_scatters(app):
    def n_tiles(at):
        return [len(json.loads(c.proto.spec)["layout"].get("images", [])) for c in at.get("plotly_chart")]

    assert n_tiles(app) == [0, 0]
    app.toggle(key="manifold").set_value(True).run()
    assert not app.exception and n_tiles(app) == [144, 144]  # 12 x 12 by default
    app.slider(key="manifold-n").set_value(5).run()
    app.radio(key="manifold-spacing").set_value("data").run()
    assert not app.exception and n_tiles(app) == [25, 25]


def test_posterior_tab_draws_sigma_ellipses_and_the_beta_vae_is_wider(app):
    open_tab(app, "Posterior")

    def sigma(at):
        text = next(m.value for m in at.markdown if m.value.startswith("μ = "))
        return [float(v) for v in text.split("σ = (")[1].rstrip(")").split(", ")]

    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert {"1σ", "2σ", "samples z ~ q(z|x)", "mean μ"} <= {t.get("name") for t in spec["data"]}
    vae_sigma = sigma(app)
    app.radio(key="post-model").set_value("mnist-betavae-2d").run()
    assert not app.exception and min(sigma(app)) > max(vae_sigma)  # beta = 4: wider posteriors
    assert any(c == "10 samples z ~ q(z|x), decoded" for c in image_captions(app))


def test_click_to_decode_links_a_second_model_to_the_same_z(app):
    open_tab(app, "Click to decode")
    options = app.selectbox(key="zplane-compare").options
    assert options[0] == "none" and "mnist-ae-2d" in options and "mnist-cvae-2d" not in options
    app.session_state["zplane-mnist-vae-2d-z"] = np.array([0.5, -0.5], np.float32)  # as after a click
    app.selectbox(key="zplane-compare").set_value("mnist-ae-2d").run()
    assert not app.exception
    shown = {img.captions[0]: img.proto.imgs[0].url for img in app.get("image") if img.captions}
    assert set(shown) == {"decoded by the VAE", "same z, mnist-ae-2d"}
    assert shown["decoded by the VAE"] != shown["same z, mnist-ae-2d"]


def test_conditional_style_plane_click_draws_the_chosen_class_there(app):
    open_tab(app, "Conditional generation")
    assert any("Click the style plane" in i.value for i in app.info)
    app.session_state["cvae-z"] = np.array([1.0, -1.0], np.float32)  # as after a click on the plane
    app.radio(key="cvae-class").set_value(5).run()
    assert not app.exception and "a 5 at z = (1.00, -1.00)" in image_captions(app)
    assert "cvae-plane" in chart_keys(app)
