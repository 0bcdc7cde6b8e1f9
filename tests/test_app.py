"""The Streamlit app, run headless with streamlit.testing against the shipped checkpoints."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from explorer import catalogue, testdata
from explorer.catalogue import CHECKPOINT_DIR, list_checkpoints
from explorer.webdecoder import unpack
from tests.bad_checkpoints import FAILS_LOAD, FAILS_SCHEMA, copy_shipped, write_bad_checkpoints

APP = str(Path(__file__).resolve().parent.parent / "explorer" / "session.py")
TIMEOUT = 120
PAGES = ["latent_map", "decode", "reconstructions", "interpolation", "posterior", "draw", "prior",
         "conditional", "denoising", "high_dim", "toy", "model_card", "timelapse", "workshop", "audience"]
SHIPPED = sorted(info.name for info in list_checkpoints())


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    return at


def open_page(at: AppTest, page: str, model: str | None = None, query: dict | None = None) -> AppTest:
    """Pick a model in the sidebar (optionally) and switch to a page (a module of explorer/views).

    Like a click in the browser's page list, this clears the URL's query string (or sets ``query``).
    """
    if model is not None:
        at.session_state["model"] = model
    at.query_params.clear()
    at.query_params.update(query or {})
    return at.switch_page(f"views/{page}.py").run()


def digit_png() -> bytes:
    image = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(image).ellipse((90, 40, 210, 260), outline=0, width=18)  # a zero
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def image_captions(at: AppTest) -> list[str]:
    return [c for img in at.get("image") for c in img.captions]


def images_by_caption(at: AppTest) -> dict[str, str]:
    return {img.captions[0]: img.proto.imgs[0].url for img in at.get("image") if img.captions}


def chart_keys(at: AppTest) -> set[str]:
    return {c.key for c in at.get("plotly_chart")}


def component_keys(at: AppTest) -> set[str]:
    """Keys of the Components v2 elements on the page (the live latent planes; the drawing canvas)."""
    return {c.key for c in at.get("bidi_component")}


def plane_data(at: AppTest, key: str) -> dict:
    """The data the live latent plane ``key`` sends to the browser (explorer/latent_plane.py)."""
    element = next(c for c in at.get("bidi_component") if c.key == key)
    return unpack(element.proto.bytes)


def expected_view(page: str, name: str) -> bool:
    """Whether ``page`` shows its view for the shipped checkpoint ``name`` (else it must explain what
    it needs and offer the checkpoints that fit), by the one table of what each page needs."""
    config = next(i for i in list_checkpoints() if i.name == name).model_config
    return catalogue.NEEDS[page].fits(config)


def key_element_present(at: AppTest, page: str, name: str) -> bool:
    charts = chart_keys(at)
    planes = component_keys(at)
    captions = image_captions(at)
    config = next(i for i in list_checkpoints() if i.name == name).model_config
    return {  # the Latent map draws a 2-D latent on the browser plane, a larger one as a PCA scatter
        "latent_map": (f"map-plane-{name}" in planes) if config.latent_dim == 2
                      else (f"scatter-{name}" in charts),
        "decode": "decode-plane" in planes,
        "reconstructions": sum(c.endswith(" nats") for c in captions) >= 5,
        "interpolation": ("interp-plane" in planes or f"interp-plot-{name}" in charts)
                         and len(at.get("download_button")) >= 2,
        "posterior": f"post-plot-{name}" in charts and "10 samples z ~ q(z|x), decoded" in captions,
        "draw": len(at.get("file_uploader")) == 1 and len(at.get("bidi_component")) >= 1,
        "prior": f"prior-plane-{name}" in charts,
        "conditional": "cvae-plane" in planes,
        "denoising": sum(c.endswith(" nats") for c in captions) >= 1,
        "high_dim": {"hd-pca", "hd-kl"} <= charts,
        "toy": f"toy-{name}" in charts and "toy-codes" in charts,
        "model_card": len(at.metric) >= 1 and f"`{name}`" in " ".join(m.value for m in at.markdown),
        "audience": "Start an audience board" in {b.label for b in at.button},
        "workshop": "Start" in {b.label for b in at.button} and len(at.radio) >= 1,
        # the player if the checkpoint recorded frames, else why not and the ones that did
        "timelapse": "timelapse-player" in planes if (CHECKPOINT_DIR / name / "frames.safetensors").is_file()
                     else any("has no recorded frames" in i.value for i in at.info),
    }[page]


def radio_values(radio) -> list:
    """The values behind an st.radio's displayed options (its format_func is str or a dict's get)."""
    table = getattr(radio.format_func, "__self__", None)
    if isinstance(table, dict):
        labels = {label: value for value, label in table.items()}
        return [labels[option] for option in radio.options]
    return [type(radio.value)(option) for option in radio.options]


def flip_every_toggle_and_choice(app: AppTest, page: str, name: str) -> None:
    """Each of the open page's switches (st.toggle) and choices (st.radio: its first and last
    option), one at a time: never an exception or an error."""
    flips = [("toggle", t.key, not t.value) for t in app.main.toggle]
    flips += [("radio", r.key, value) for r in app.main.radio
              for value in dict.fromkeys(radio_values(r)[::len(r.options) - 1]) if value != r.value]
    for kind, key, value in flips:
        widget = next((w for w in getattr(app.main, kind) if w.key == key), None)
        if widget is None or widget.disabled:  # another choice removed or disabled it
            continue
        widget.set_value(value).run()
        assert not app.exception, (page, name, key, value, app.exception)
        assert not app.error, (page, name, key, value, [e.value for e in app.error])


# Presenter mode changes sizes only: shown for one checkpoint of each page layout.
PRESENTED = {"mnist-vae-2d", "mnist-cvae-2d", "mnist-vae-16d", "toy-vae-1d"}


@pytest.mark.parametrize("name", SHIPPED)
def test_every_page_works_with_every_shipped_checkpoint_and_every_toggle(app, name):
    """Every page with every shipped checkpoint: its view (or what it needs, with a button for each
    checkpoint that would do), then each of its toggles and choices; then presenter mode."""
    assert len(SHIPPED) >= 9  # every folder, found without a list in the code
    for page in PAGES:
        open_page(app, page, name)
        assert not app.exception, (page, name)
        assert not app.error, (page, name, [e.value for e in app.error])
        if expected_view(page, name):
            assert key_element_present(app, page, name), (page, name)
            flip_every_toggle_and_choice(app, page, name)
        else:  # says what it needs, with a button for each checkpoint that would do
            assert any("This view needs" in i.value and name in i.value for i in app.info), (page, name)
            suitable = [n for n in SHIPPED if expected_view(page, n)]
            assert {b.label for b in app.button if b.key.startswith("use-")} == {f"Use {n}" for n in suitable}
    if name in PRESENTED:
        app.sidebar.toggle(key="present").set_value(True).run()
        for page in PAGES:
            open_page(app, page, name)
            assert not app.exception and not app.error, (page, name)


def test_sidebar_lists_every_checkpoint_with_kind_dataset_latent_size_and_metrics(app):
    picker = app.sidebar.selectbox(key="model")
    assert picker.value == "mnist-vae-2d"
    assert len(picker.options) == len(SHIPPED)
    for info, option in zip(list_checkpoints(), picker.options, strict=True):
        config = info.model_config
        assert option.startswith(info.name) and info.dataset in option
        assert f"d = {config.latent_dim}" in option
        assert "nats" in option and config.label in option
    sidebar = " ".join(m.value for m in app.sidebar.markdown)
    metrics = json.loads((CHECKPOINT_DIR / "mnist-vae-2d" / "metrics.json").read_text())
    # the VAE's -ELBO and IWAE NLL, as its metrics.json has them
    for key in ("test_negative_elbo", "test_iwae_nll"):
        assert f"{metrics[key]:.2f} nats" in sidebar, key


def test_a_use_button_switches_the_sidebar_model(app):
    open_page(app, "conditional", "mnist-vae-2d")
    app.button(key="use-mnist-cvae-2d").click().run()
    assert app.session_state["model"] == "mnist-cvae-2d" and "cvae-plane" in component_keys(app)


def test_the_url_restores_a_view_and_follows_the_state():
    # A bookmark of Click to decode. AppTest's first run is always the default page, so the page's
    # own state is put in the URL when the session switches to it, as a browser opening it would.
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["model"] = "mnist-ae-2d"
    at.run()  # the first run restores the model before any widget is drawn
    open_page(at, "decode", query={"model": "mnist-ae-2d", "z": "0.5,-0.5", "compare": "mnist-vae-2d"})
    assert not at.exception and at.session_state["model"] == "mnist-ae-2d"
    data = plane_data(at, "decode-plane")
    assert [d["name"] for d in data["decoders"]] == ["mnist-ae-2d", "mnist-vae-2d"]
    assert data["z"] == [0.5, -0.5]
    assert any(c.value.startswith("Kept z = (0.50, -0.50)") for c in at.caption)
    assert at.query_params["model"] == "mnist-ae-2d" and at.query_params["z"] == "0.500,-0.500"
    open_page(at, "interpolation")
    at.number_input(key="interp-end").set_value(42).run()
    assert at.query_params["to"] == "42" and at.query_params["model"] == "mnist-ae-2d"
    assert "z" not in at.query_params  # only the open page's state is in the URL


def test_values_the_page_cannot_show_are_ignored_in_the_url():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"from": "99999", "path": "zigzag", "steps": "x", "model": "no-such-model"})
    at.run()
    open_page(at, "interpolation")
    assert not at.exception and not at.error
    assert at.number_input(key="interp-start").value == 3 and at.radio(key="interp-method").value == "linear"
    assert at.session_state["model"] == "mnist-vae-2d"  # an unknown folder falls back to the default
    # 1e308 is finite in float64 but not in float32: refused, so z = 0 is decoded, not inf.
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    open_page(at, "decode", query={"z": "1e308,1e308"})
    assert not at.exception and "decode-z" not in at.session_state
    assert plane_data(at, "decode-plane")["z"] is None  # the browser decodes z = 0 until a click


def test_page_state_survives_a_visit_to_another_page(app):
    open_page(app, "interpolation")
    app.number_input(key="interp-start").set_value(11).run()
    open_page(app, "model_card")
    open_page(app, "interpolation")
    assert app.number_input(key="interp-start").value == 11


def test_reconstruction_indices_are_validated(app):
    open_page(app, "reconstructions")
    assert app.text_input(key="recon-indices").value == "0, 1, 2, 3, 4"
    captions = image_captions(app)  # 5 rows of original | VAE | AE, each with its NLL in nats
    assert sum(c.startswith("VAE: ") and c.endswith(" nats") for c in captions) == 5
    assert sum(c.startswith("AE: ") and c.endswith(" nats") for c in captions) == 5
    assert "#0: a 7" in captions
    app.text_input(key="recon-indices").set_value("1, 99999").run()
    assert not app.exception
    assert any("out of range" in e.value for e in app.error)
    app.text_input(key="recon-indices").set_value("7").run()
    assert not app.error


def test_random_digits_button_picks_new_indices(app):
    open_page(app, "reconstructions")
    app.button(key="recon-random").click().run()
    assert not app.exception
    indices = [int(i) for i in app.text_input(key="recon-indices").value.split(",")]
    assert len(indices) == 5 and all(0 <= i < 10000 for i in indices)
    captions = image_captions(app)
    assert all(any(c.startswith(f"#{i}: a ") for c in captions) for i in indices)


def test_uploaded_png_is_processed_and_becomes_an_interpolation_end_and_a_posterior(app):
    open_page(app, "draw")
    app.file_uploader(key="upload").set_value(("zero.png", digit_png(), "image/png")).run()
    assert not app.exception and not app.error
    captions = image_captions(app)
    assert "your upload" in captions and "as MNIST input (inverted)" in captions
    assert sum(c.startswith("VAE: ") for c in captions) == 1
    assert sum(c.startswith("AE: ") for c in captions) == 1
    assert "draw-plane" in component_keys(app) and "draw-plot-mnist-ae-2d" in chart_keys(app)
    nearest = [c for c in captions if c.startswith("5 nearest test digits in the VAE")]
    assert len(nearest) == 1 and nearest[0].count("(a ") == 5

    open_page(app, "interpolation")
    app.radio(key="interp-end-source").set_value("your digit").run()
    assert not app.exception and any("to zero.png" in c.value for c in app.caption)
    open_page(app, "posterior")
    test_digit = images_by_caption(app)["10 samples z ~ q(z|x), decoded"]
    app.radio(key="post-source").set_value("your digit").run()
    assert not app.exception and "zero.png" in image_captions(app)
    assert images_by_caption(app)["10 samples z ~ q(z|x), decoded"] != test_digit


def test_unreadable_upload_shows_an_error_and_the_page_keeps_working(app):
    open_page(app, "draw")
    app.file_uploader(key="upload").set_value(("broken.png", b"not a png", "image/png")).run()
    assert not app.exception
    assert any("only PNG and JPEG images are accepted" in e.value for e in app.error)
    app.file_uploader(key="upload").set_value(("blank.png", _blank_png(), "image/png")).run()
    assert any("No handwriting" in e.value for e in app.error)
    app.file_uploader(key="upload").set_value(None).run()
    assert not app.exception and not app.error


def _blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((50, 50), 255, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_broken_checkpoint_names_the_folder_and_the_command_on_every_page(tmp_path, monkeypatch):
    shutil.copytree(CHECKPOINT_DIR / "mnist-ae-2d", tmp_path / "mnist-ae-2d")
    shutil.copytree(CHECKPOINT_DIR / "mnist-vae-2d", tmp_path / "mnist-vae-2d")
    (tmp_path / "mnist-vae-2d" / "model.safetensors").write_bytes(b"truncated")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{ not json")
    monkeypatch.setattr(catalogue, "CHECKPOINT_DIR", tmp_path)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert len(at.sidebar.selectbox(key="model").options) == 3
    errors = " ".join(e.value for e in at.error)
    assert "mnist-vae-2d" in errors and "python -m train.retrain" in errors
    for page in PAGES:
        open_page(at, page, "broken")
        assert not at.exception, page
        if page == "workshop":  # it trains a model of its own: the sidebar's pick does not matter there
            continue
        assert any("broken" in e.value and "python -m train.retrain" in e.value for e in at.error), page
    # The intact model still works; the broken one picked beside it is reported.
    open_page(at, "latent_map", "mnist-ae-2d", query={"compare": "mnist-vae-2d"})
    assert not at.exception and "map-plane-mnist-ae-2d" in component_keys(at)
    assert any("mnist-vae-2d" in e.value for e in at.error)


def test_damaged_shipped_test_images_give_a_page_message_naming_the_file(tmp_path, monkeypatch):
    from explorer import resources

    shutil.copytree(testdata.ASSETS_DIR, tmp_path / "assets")
    images = tmp_path / "assets" / "mnist" / testdata.TEST_IMAGES_FILE
    images.write_bytes(images.read_bytes()[:50_000])  # a truncated download or a bad disk
    copy_shipped(tmp_path / "checkpoints", "mnist-vae-2d", "mnist-ae-2d", "fashion-vae-2d")
    monkeypatch.setattr(testdata, "ASSETS_DIR", tmp_path / "assets")
    monkeypatch.setattr(catalogue, "CHECKPOINT_DIR", tmp_path / "checkpoints")
    resources.test_set.clear()
    resources.test_arrays.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.run()
        for page in ["latent_map", "decode", "draw", "reconstructions", "interpolation"]:
            open_page(at, page, "mnist-vae-2d")
            assert not at.exception, page
            assert any(str(images) in e.value and "git checkout -- explorer/assets" in e.value
                       for e in at.error), (page, [e.value for e in at.error])
        open_page(at, "latent_map", "fashion-vae-2d")  # its own test images are intact
        assert not at.exception and not at.error and "map-plane-fashion-vae-2d" in component_keys(at)
    finally:
        resources.test_set.clear()
        resources.test_arrays.clear()


def test_weights_only_torch_reads_still_decode_in_the_browser(tmp_path, monkeypatch):
    """bfloat16 weights: NumPy cannot read them, so the plane's decoder comes from the loaded model
    (and the codes, stale for the new weights file, are encoded again)."""
    import torch
    from safetensors.torch import load_file, save_file

    copy_shipped(tmp_path, "mnist-ae-2d")
    weights = tmp_path / "mnist-ae-2d" / "model.safetensors"
    save_file({k: v.to(torch.bfloat16) for k, v in load_file(weights).items()}, weights,
              metadata={"format_version": "1"})
    monkeypatch.setattr(catalogue, "CHECKPOINT_DIR", tmp_path)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["model"] = "mnist-ae-2d"
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    data = plane_data(at, "map-plane-mnist-ae-2d")
    assert data["decoders"][0]["payload"]["spec"]["latent_dim"] == 2


def test_warm_up_reports_each_checkpoint_it_cannot_load_and_carries_on(tmp_path, monkeypatch, capsys):
    from explorer.__main__ import warm_up

    write_bad_checkpoints(tmp_path)
    copy_shipped(tmp_path, "mnist-ae-2d")
    monkeypatch.setattr(catalogue, "CHECKPOINT_DIR", tmp_path)
    warm_up(("bad-hidden-huge", "bad-weights-pickle", "missing", "mnist-ae-2d"))
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(" is not warmed up: ")[0] for line in lines] == [
        "latent-explorer: bad-hidden-huge", "latent-explorer: bad-weights-pickle", "latent-explorer: missing"]
    assert "the cap is 50,000,000" in lines[0] and "does not exist" in lines[2]


def test_damaged_checkpoints_never_break_a_page_and_every_other_model_keeps_working(tmp_path, monkeypatch):
    """The zoo of tests/bad_checkpoints.py beside two intact models: each damaged folder is listed as
    broken with its reason, picking it on any page shows why (never a traceback), it is never
    offered for comparison, and the intact models work on every page."""
    names = write_bad_checkpoints(tmp_path)
    copy_shipped(tmp_path, "mnist-vae-2d", "mnist-ae-2d")
    monkeypatch.setattr(catalogue, "CHECKPOINT_DIR", tmp_path)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception and "map-plane-mnist-vae-2d" in component_keys(at)
    listing = " ".join(m.value for m in at.sidebar.markdown)
    for name, (_, reason) in FAILS_SCHEMA.items():
        assert f"{name} · **broken**: " in listing and reason in listing, name
    # A folder that fails the schema takes one path on every page (ui.require reports it): every
    # kind is tried on the first page and the model card, three of them on every page, and so is
    # every folder whose weights fail to load (each page loads in its own way).
    everywhere = ["bad-dataset-string", "bad-hidden-huge", "bad-elbo-text", *FAILS_LOAD]
    for page in PAGES:
        for name in names if page in ("latent_map", "model_card") else everywhere:
            open_page(at, page, name)
            assert not at.exception, (page, name, at.exception)
            errors = " ".join(e.value for e in at.error)
            # The model card and the time-lapse read no weights (JSON; the frames file), so only a
            # folder that fails the schema stops them; Train live does not use the sidebar's model.
            if page == "workshop":
                continue
            if name in FAILS_SCHEMA or (expected_view(page, "mnist-vae-2d")
                                        and page not in ("model_card", "timelapse")):
                assert name in errors and "python -m train.retrain" in errors, (page, name, errors)
        open_page(at, page, "mnist-vae-2d", query={"compare": "bad-hidden-huge"})
        assert not at.exception, page
        # Only folders whose JSON passes may be offered (the denoising page compares with every
        # image model by default); one that then fails to load says so.
        assert all(any(n in e.value for n in FAILS_LOAD) for e in at.error), (page, at.error)
        if expected_view(page, "mnist-vae-2d"):
            assert key_element_present(at, page, "mnist-vae-2d"), page
        offered = {o for box in at.selectbox for o in box.options if box.key != "model"}
        assert not offered & set(FAILS_SCHEMA), page
    # A comparison model whose JSON is fine but whose weights are not: reported, the page goes on.
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    open_page(at, "decode", "mnist-vae-2d", query={"compare": "bad-weights-pickle"})
    assert not at.exception and "decode-plane" in component_keys(at)
    assert any("bad-weights-pickle" in e.value for e in at.error)


def test_model_card_shows_each_checkpoint_picked_in_the_sidebar(app):
    for info in list_checkpoints():
        open_page(app, "model_card", info.name)
        assert not app.exception and not app.error, info.name
        labels = [m.label for m in app.metric]
        values = " ".join(m.value for m in app.metric)
        assert info.name in " ".join(m.value for m in app.markdown) and "nats" in values
        if info.model_config.variational:
            assert labels[:2] == ["test −ELBO", "IWAE NLL (K = 1000)"]
            assert f"{info.metrics['test_negative_elbo']:.2f} nats" in values
            assert "card-kl" in chart_keys(app)
        else:
            assert labels[0] == "test reconstruction NLL"


def test_prior_sampling_decodes_the_same_z_with_both_models_and_the_seed_changes_it(app):
    open_page(app, "prior")

    def grids(at):
        return {c: url for c, url in images_by_caption(at).items() if "N(0, I) decoded by the" in c}

    before = grids(app)
    assert len(before) == 2 and any("VAE" in c for c in before) and any("AE (" in c for c in before)
    app.number_input(key="prior-seed").set_value(7).run()
    assert not app.exception
    after = grids(app)
    assert after.keys() == before.keys() and all(after[c] != before[c] for c in before)
    assert {"prior-plane-mnist-vae-2d", "prior-plane-mnist-ae-2d"} <= chart_keys(app)


def test_toy_demo_draws_both_toy_models(app):
    open_page(app, "toy", "toy-vae-1d")
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
    open_page(app, "denoising", "mnist-dae-2d")
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
    open_page(app, "conditional", "mnist-cvae-2d")
    before = images_by_caption(app)
    assert "classes 0–9 decoded in the style of #0" in before
    plane = next(c for c in before if c.startswith("class 3 across the style plane"))
    app.radio(key="cvae-class").set_value(8).run()
    assert not app.exception
    after = images_by_caption(app)
    assert plane not in after and any(c.startswith("class 8 across the style plane") for c in after)
    app.number_input(key="cvae-index").set_value(1).run()
    strip = images_by_caption(app)["classes 0–9 decoded in the style of #1"]
    assert strip != before["classes 0–9 decoded in the style of #0"]


def test_conditional_style_plane_decodes_the_chosen_class_at_the_kept_style(app):
    open_page(app, "conditional", "mnist-cvae-2d")
    data = plane_data(app, "cvae-plane")
    assert data["z"] is None and [d["label"] for d in data["decoders"]] == [3]  # before a click
    app.session_state["cvae-z"] = np.array([1.0, -1.0], np.float32)  # as after a click on the plane
    app.radio(key="cvae-class").set_value(5).run()
    data = plane_data(app, "cvae-plane")
    assert not app.exception and data["z"] == [1.0, -1.0] and [d["label"] for d in data["decoders"]] == [5]
    # Where the browser plane cannot run, the server-side plot does the same.
    app.session_state["plane-failed"] = "this browser has no canvas 2D"
    app.run()
    assert "a 5 at z = (1.00, -1.00)" in image_captions(app)
    assert any("could not start in this browser (this browser has no canvas 2D)" in i.value for i in app.info)


def test_a_traversal_slider_moves_one_dimension_and_changes_the_decoded_image(app):
    open_page(app, "high_dim", "mnist-vae-16d")

    def decoded(at):
        return next((c, url) for c, url in images_by_caption(at).items() if c.startswith("decoded z"))

    caption, before = decoded(app)
    assert caption.startswith("decoded z (0 of 16")
    assert len([s for s in app.slider if s.key.startswith("hd-")]) == 16  # one per latent dimension
    active = next(s for s in app.slider if s.key.startswith("hd-") and "inactive" not in s.label)
    active.set_value(3.5).run()
    caption, after = decoded(app)
    assert not app.exception and caption.startswith("decoded z (1 of 16") and after != before


def test_interpolation_offers_spherical_paths_and_png_gif_downloads(app):
    open_page(app, "interpolation")
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

    assert n_tiles(app) == [] and component_keys(app) == {"map-plane-mnist-vae-2d"}  # the browser plane
    app.selectbox(key="map-compare").set_value("mnist-ae-2d").run()
    assert n_tiles(app) == [] and component_keys(app) == {"map-plane-mnist-vae-2d", "map-plane-mnist-ae-2d"}
    assert not [w for w in app.slider if w.key == "manifold-n"]  # the overlay's settings come with it
    app.toggle(key="manifold").set_value(True).run()
    assert not app.exception and n_tiles(app) == [144, 144]  # 12 x 12 by default
    app.slider(key="manifold-n").set_value(5).run()
    app.radio(key="manifold-spacing").set_value("data").run()
    assert not app.exception and n_tiles(app) == [25, 25]


def test_latent_map_of_a_16d_model_is_a_pca_projection(app):
    open_page(app, "latent_map", "mnist-vae-16d")
    spec = json.loads(next(c for c in app.get("plotly_chart") if c.key == "scatter-mnist-vae-16d").proto.spec)
    assert "PCA of 16-D codes" in spec["layout"]["title"]["text"]


def test_posterior_draws_sigma_ellipses_and_the_beta_vae_is_wider(app):
    open_page(app, "posterior")

    def sigma(at):
        text = next(m.value for m in at.markdown if m.value.startswith("μ = "))
        return [float(v) for v in text.split("σ = (")[1].rstrip(")").split(", ")]

    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert {"1σ", "2σ", "samples z ~ q(z|x)", "mean μ"} <= {t.get("name") for t in spec["data"]}
    vae_sigma = sigma(app)
    open_page(app, "posterior", "mnist-betavae-2d")
    assert not app.exception and min(sigma(app)) > max(vae_sigma)  # beta = 4: wider posteriors


def test_click_to_decode_links_a_second_model_to_the_same_z(app):
    open_page(app, "decode")
    options = app.selectbox(key="decode-compare").options
    assert options[0] == "none" and "mnist-ae-2d" in options and "mnist-cvae-2d" not in options
    assert "fashion-vae-2d" not in options  # another dataset
    assert app.selectbox(key="decode-compare").value == "mnist-ae-2d"  # the VAE with the AE by default
    data = plane_data(app, "decode-plane")
    assert [d["name"] for d in data["decoders"]] == ["mnist-vae-2d", "mnist-ae-2d"]
    # The Latent map (the first page) sent the VAE's codes and weights already: only the AE's go now.
    assert data["points"]["payload"] is None and data["decoders"][0]["payload"] is None
    assert data["decoders"][1]["payload"]["spec"]["latent_dim"] == 2
    app.session_state["decode-z"] = np.array([0.5, -0.5], np.float32)  # as after a click
    app.run()
    data = plane_data(app, "decode-plane")
    assert data["z"] == [0.5, -0.5] and all(d["payload"] is None for d in data["decoders"])  # not again
    assert data["points"]["payload"] is None
    # Where the browser plane cannot run, the server decodes each click as before.
    app.session_state["plane-failed"] = "this browser has no canvas 2D"
    app.selectbox(key="decode-compare").set_value("mnist-ae-2d").run()
    assert not app.exception
    shown = images_by_caption(app)
    assert set(shown) == {"decoded by the VAE", "same z, mnist-ae-2d"}
    assert shown["decoded by the VAE"] != shown["same z, mnist-ae-2d"]


def test_fashion_model_shows_fashion_images_and_class_names(app):
    open_page(app, "reconstructions", "fashion-vae-2d")
    assert not app.exception and "#0: a Ankle boot" in image_captions(app)
    open_page(app, "latent_map")
    names = list(testdata.class_names("fashion-mnist"))
    assert plane_data(app, "map-plane-fashion-vae-2d")["classNames"] == names
    app.session_state["classic"] = True  # the plotly scatter names them too
    app.run()
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in spec["data"][:10]] == list(testdata.class_names("fashion-mnist"))


def test_presenter_mode_enlarges_type_and_markers(app):
    app.session_state["classic"] = True  # the plotly scatter (classic planes)
    app.run()
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    app.sidebar.toggle(key="present").set_value(True).run()
    assert not app.exception
    big = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert big["layout"]["font"]["size"] > spec["layout"]["font"]["size"]
    assert big["data"][0]["marker"]["size"] > spec["data"][0]["marker"]["size"]
    assert any("font-size" in h.proto.body for h in app.get("html"))
    assert app.query_params["present"] == "1"


def test_unusual_but_valid_checkpoints_work_on_every_page(tmp_path, monkeypatch):
    """Models the schema accepts that once crashed pages: a 1-D image latent (no plane to draw), a
    DAE trained at a noise level beyond the page's slider, a 40-D latent (more sliders than shown)."""
    import torch

    from train import ModelConfig, build_model, save_checkpoint

    torch.manual_seed(0)
    odd = {"vae-1d": ModelConfig(kind="vae", latent_dim=1, hidden_dims=(16,)),
           "dae-noise-1": ModelConfig(kind="dae", noise="gaussian", noise_level=1.0, hidden_dims=(16,)),
           "vae-40d": ModelConfig(kind="vae", latent_dim=40, hidden_dims=(16,))}
    for name, config in odd.items():
        save_checkpoint(build_model(config), tmp_path / name, dataset={"name": "mnist"})
    copy_shipped(tmp_path, "mnist-vae-2d")
    monkeypatch.setattr(catalogue, "CHECKPOINT_DIR", tmp_path)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    configs = {info.name: info.model_config for info in catalogue.list_checkpoints(tmp_path)}
    for page in PAGES:
        for name, config in configs.items():
            open_page(at, page, name)
            assert not at.exception, (page, name, at.exception)
            assert not at.error, (page, name, [e.value for e in at.error])
            shown = not any("This view needs" in i.value for i in at.info)
            assert shown == catalogue.NEEDS[page].fits(config), (page, name)
    open_page(at, "latent_map", "mnist-vae-2d", query={"compare": "vae-1d"})  # not offered: no plane
    assert not at.exception and "vae-1d" not in at.selectbox(key="map-compare").options
    open_page(at, "high_dim", "vae-40d")
    assert len([s for s in at.slider if s.key.startswith("hd-traversal")]) == 32


def test_reruns_do_not_grow_the_import_path():
    """app.py runs on every rerun: it once put the repository on sys.path each time, so every click
    made imports (and Streamlit's component scan: 0.3 s -> 5 s per run in this suite) slower."""
    import sys

    first = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    length = len(sys.path)
    for _ in range(3):
        first.run()
        AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert len(sys.path) == length


def test_high_contrast_and_presenter_mode_reach_the_live_plane(app):
    open_page(app, "decode")
    data = plane_data(app, "decode-plane")
    assert data["contrast"] is False and data["height"] == 460
    app.sidebar.toggle(key="contrast").set_value(True).run()
    app.sidebar.toggle(key="present").set_value(True).run()
    data = plane_data(app, "decode-plane")
    assert not app.exception and data["contrast"] is True and data["height"] > 460
    assert data["imageSize"] > 168 and app.query_params["contrast"] == "1"


def test_the_latent_map_plane_decodes_the_picked_model_and_shows_the_picked_digit(app):
    data = plane_data(app, "map-plane-mnist-vae-2d")  # the default page
    assert [d["name"] for d in data["decoders"]] == ["mnist-vae-2d"] and data["z"] is None
    assert data["points"]["payload"]["n"] == 10_000
    app.session_state["map-picked-mnist-vae-2d"] = 12  # as after a click near test digit #12
    app.run()
    data = plane_data(app, "map-plane-mnist-vae-2d")
    m = load_vae_codes()
    assert not app.exception and np.allclose(data["z"], m[12], atol=1e-6)  # a cross on the digit
    assert any(c.startswith("#12: a ") for c in image_captions(app))
    assert "Interpolate to this digit" in {b.label for b in app.button}
    open_page(app, "latent_map", "mnist-cvae-2d")  # its decoder needs a class too: points only
    data = plane_data(app, "map-plane-mnist-cvae-2d")
    assert data["decoders"] == [] and "Conditional generation" in data["hint"]


def load_vae_codes() -> np.ndarray:
    from explorer.inference import load_explorer_model

    images, labels = testdata.load_test_set()
    return load_explorer_model(CHECKPOINT_DIR / "mnist-vae-2d", images, labels).codes


def test_streamlit_run_serves_the_app_and_warms_up_in_the_background():
    from streamlit.web.server.app_discovery import discover_asgi_app

    from explorer import startup

    found = discover_asgi_app(Path(APP).with_name("app.py"))  # what `streamlit run explorer/app.py` does
    assert found.is_asgi_app and found.app_name == "app"
    assert startup.wait_for_imports(timeout=0)  # no warm-up started (as under AppTest): never waits
    thread = startup.start_warm_up(("mnist-ae-2d",))
    assert thread.name == startup.THREAD_NAME and thread.daemon
    assert startup.wait_for_first_page(timeout=120)
    assert startup.wait_for_imports(timeout=120)  # a page other than the default one: the rest, now
    thread.join(timeout=120)
    assert not thread.is_alive() and startup.wait_for_imports(timeout=0)


def test_a_warm_up_that_fails_unexpectedly_still_releases_the_sessions(monkeypatch, capsys):
    """Sessions wait for the warm-up's events: whatever it raises, they must be set (else every page
    that needs torch would wait IMPORT_WAIT_S)."""
    import threading

    from explorer import startup

    for name in ("_started", "_first_page_imported", "_heavy_wanted", "_imported"):
        monkeypatch.setattr(startup, name, threading.Event())

    def broken(names):
        raise TypeError("data type 'bfloat16' not understood")

    monkeypatch.setattr(startup, "warm_first_page", broken)
    startup.start_warm_up(("mnist-ae-2d",)).join(timeout=120)
    assert startup.wait_for_first_page(timeout=0) and startup.wait_for_imports(timeout=0)
    assert "warm-up stopped: TypeError" in capsys.readouterr().err


@pytest.mark.parametrize("page", ["latent_map", "timelapse"])
def test_the_light_pages_render_from_the_checkpoints_files_without_torch_or_pandas(tmp_path, page):
    """The first page after `streamlit run` must not wait ~1.5 s for torch (or ~0.6 s for pandas,
    which explorer.plots and a component's dict data import): the Latent map on the live plane reads
    the codes and decoder weights its checkpoint stores, the time-lapse (session.LIGHT_PAGES) its
    frames. Run in a fresh interpreter (this one has imported torch long ago). The time-lapse is
    opened from the default page, as a click in the page list."""
    code = f"""
import json, sys
from streamlit.testing.v1 import AppTest
from explorer.webdecoder import unpack
at = AppTest.from_file({APP!r}, default_timeout=120).run()
assert not at.exception, at.exception
data = unpack(next(c for c in at.get("bidi_component") if c.key == "map-plane-mnist-vae-2d").proto.bytes)
assert data["points"]["payload"]["n"] == 10000 and len(data["decoders"]) == 1, data.keys()
if {page!r} != "latent_map":
    at.switch_page("views/{page}.py").run()
    assert not at.exception, at.exception
    assert [c.key for c in at.get("bidi_component")] == ["timelapse-player"]
heavy = ("torch", "torchvision", "scipy", "pandas")  # (Streamlit itself imports plotly)
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""
    env = {**os.environ, "LATENT_EXPLORER_STATE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env,
                         cwd=Path(APP).parents[1])
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_audience_board_from_a_phone_to_the_presenters_map(app, monkeypatch):
    """The presenter starts a board; a phone (another session) sends a drawing and a photo; they are
    on the presenter's plane with a count per class; a blank drawing, a wrong room code and a
    second digit too soon are refused with a message; hide and spotlight need the presenter."""
    from explorer.views import draw

    open_page(app, "audience")
    next(b for b in app.button if b.label == "Start an audience board").click().run()
    code, token = app.session_state["audience-board"]
    assert not app.exception and app.query_params["room"] == code
    assert any(code[:4] in m.value for m in app.markdown)  # the room code, shown in groups
    assert plane_data(app, "audience-plane")["marks"] == []

    drawing = {"png": digit_png()}
    monkeypatch.setattr(draw, "canvas_png", lambda key=None: drawing["png"])
    phone = AppTest.from_file(APP, default_timeout=TIMEOUT)
    phone.run()
    open_page(phone, "audience", query={"room": code.lower()})  # typed in lower case
    assert not phone.exception and "audience-board" not in phone.session_state
    send = next(b for b in phone.button if b.label == "Send to the screen")
    send.click().run()
    assert not phone.exception and not phone.error
    sent = phone.session_state["audience-sent"]
    assert any(f"#{sent}" in s.value for s in phone.success)
    next(b for b in phone.button if b.label == "Send to the screen").click().run()  # again, at once
    assert any("Slow down" in e.value for e in phone.error)

    app.run()
    marks = plane_data(app, "audience-plane")["marks"]
    assert [m["text"] for m in marks] == [f"#{sent}"]
    counts = next(m.value for m in app.markdown if "1 digit from the room" in m.value)
    per_class = counts.split("by predicted class: ")[1].split(" · ")
    predicted = [c.split(": ")[0] for c in per_class if c.endswith(": 1")]
    assert len(predicted) == 1 and sum(c.endswith(": 0") for c in per_class) == 9  # counted once

    drawing["png"] = _blank_png()  # a blank page: the upload's message
    other = AppTest.from_file(APP, default_timeout=TIMEOUT)
    other.run()
    open_page(other, "audience", query={"room": code})
    next(b for b in other.button if b.label == "Send to the screen").click().run()
    assert any("No handwriting" in e.value for e in other.error) and not other.exception
    for room, message in (("ABCD-EFGH-JK", "No board has this room code"),
                          ("<script>alert(1)</script>", "not a room code")):
        stranger = AppTest.from_file(APP, default_timeout=TIMEOUT)
        stranger.run()
        open_page(stranger, "audience", query={"room": room})
        assert any(message in e.value for e in stranger.error) and not stranger.exception
        assert not [b for b in stranger.button if b.label == "Send to the screen"]

    app.session_state["audience-picked"] = sent  # as after a click on its ring
    app.run()
    assert f"#{sent}: among the {predicted[0]}s" in image_captions(app)
    next(b for b in app.button if b.label == "Spotlight").click().run()
    assert any(f"In the spotlight: #{sent}" in m.value for m in app.markdown)
    next(b for b in app.button if b.label == "Hide").click().run()
    assert not app.exception and plane_data(app, "audience-plane")["marks"] == []


def test_train_live_starts_a_run_shows_its_frames_and_offers_the_result(app, tmp_path, monkeypatch):
    import time

    from explorer import resources, workshop
    from tests.test_workshop import TINY
    from train.frames import read_frames

    ws = workshop.Workshop(tmp_path / "checkpoints", tmp_path / "work", TINY)
    monkeypatch.setattr(resources, "live_workshop", lambda: ws)
    open_page(app, "workshop")
    app.radio(key="workshop-kind").set_value("AE")
    next(b for b in app.button if b.label == "Start").click().run()
    run = ws.current
    assert not app.exception and run is not None and run.settings.kind == "AE"
    assert any("is training in the background" in m.value for m in app.markdown)
    assert "Cancel the run" in {b.label for b in app.button}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            read_frames(run.live)
            break
        except Exception:  # noqa: BLE001 - not written yet
            time.sleep(0.2)
    app.run()
    if run.state() == "running":  # (a tiny run may already be done: then it is offered below)
        assert "workshop-player" in component_keys(app)
    while run.state() == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    app.run()
    assert not app.exception and any("is trained and saved" in s.value for s in app.success)
    assert f"Use {run.name}" in {b.label for b in app.button}


def test_a_picture_of_two_digits_uses_the_largest_and_says_so(app):
    image = Image.new("L", (440, 220), 240)
    draw = ImageDraw.Draw(image)
    draw.ellipse((30, 30, 150, 190), outline=20, width=12)  # a 0
    draw.line([(260, 40), (390, 40), (300, 190)], fill=20, width=12)  # a 7 beside it
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    open_page(app, "draw")
    app.file_uploader(key="upload").set_value(("two.png", buffer.getvalue(), "image/png")).run()
    assert not app.exception and not app.error
    assert any("2 digits" in i.value and "largest" in i.value for i in app.info)
    assert "as MNIST input (inverted)" in image_captions(app)
