import numpy as np
import pytest
import torch

from explorer import core
from explorer.ui import clicked_z
from explorer.views.reconstructions import parse_indices
from train import ModelConfig, build_model, save_checkpoint


def test_shipped_test_set():
    images, labels = core.load_test_set()
    assert images.shape == (10000, 1, 28, 28) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    assert labels.tolist()[:10] == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_load_explorer_model_encodes_the_test_set(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(16,)))
    save_checkpoint(model, tmp_path / "m", dataset={"name": "mnist"})
    images = torch.rand(30, 1, 28, 28)
    m = core.load_explorer_model(tmp_path / "m", images)
    assert m.codes.shape == (30, 2) and m.label == "VAE" and m.name == "m"
    np.testing.assert_allclose(m.codes, model.posterior(images)[0].detach().numpy(), rtol=1e-5)
    recon, bce = core.reconstruct(m.model, images[:4, 0].numpy())
    assert recon.shape == (4, 28, 28) and bce.shape == (4,) and (bce > 0).all()
    one = core.decode(m.model, m.codes[0])
    assert one.shape == (28, 28)
    np.testing.assert_allclose(one, core.decode(m.model, m.codes[:1])[0])


def test_interpolate_endpoints_and_spacing():
    path = core.interpolate(np.array([0.0, 2.0]), np.array([4.0, -2.0]), 5)
    assert path.shape == (5, 2)
    np.testing.assert_allclose(path[0], [0, 2])
    np.testing.assert_allclose(path[-1], [4, -2])
    np.testing.assert_allclose(np.diff(path, axis=0), np.tile([[1.0, -1.0]], (4, 1)))
    with pytest.raises(ValueError):
        core.interpolate(np.zeros(2), np.zeros(2), 1)


def test_plane_extent_and_grid_cover_the_codes():
    codes = np.random.default_rng(0).normal(size=(5000, 2)) * [3.0, 1.0]
    extent = core.plane_extent(codes)
    x0, x1, y0, y1 = extent
    inside = (codes[:, 0] > x0) & (codes[:, 0] < x1) & (codes[:, 1] > y0) & (codes[:, 1] < y1)
    assert inside.mean() > 0.99
    grid = core.plane_grid(extent, 11)
    assert grid.shape == (121, 2)
    assert grid[:, 0].min() == pytest.approx(x0) and grid[:, 1].max() == pytest.approx(y1)


def test_enlarge_makes_crisp_blocks():
    image = np.array([[0.0, 1.0], [0.5, 0.0]], dtype=np.float32)
    big = core.enlarge(image, 3)
    assert big.shape == (6, 6) and big.dtype == np.uint8
    assert (big[:3, 3:] == 255).all() and (big[3:, :3] == 128).all() and (big[:3, :3] == 0).all()
    assert core.strip(np.zeros((3, 28, 28)), scale=2, gap=1).shape == (56, 2 * (3 * 28 + 2))


def test_nearest_test_index():
    codes = np.array([[0.0, 0.0], [5.0, 5.0], [-3.0, 1.0]])
    assert core.nearest_test_index(codes, np.array([4.0, 4.5])) == 1


def test_parse_indices():
    assert parse_indices("3, 17 42", 100) == [3, 17, 42]
    for bad, message in [("", "at least one"), ("a, 2", "whole numbers"), ("5, 100", "out of range")]:
        with pytest.raises(ValueError, match=message):
            parse_indices(bad, 100)


def test_clicked_z_reads_a_plotly_selection_event():
    event = {"selection": {"points": [{"x": 1.5, "y": -0.25, "curve_number": 10}]}}
    np.testing.assert_allclose(clicked_z(event), [1.5, -0.25])
    assert clicked_z({"selection": {"points": []}}) is None
    assert clicked_z(None) is None


def test_picked_index_reads_the_test_index_from_customdata():
    from explorer.ui import picked_index

    event = {"selection": {"points": [{"x": 0.1, "y": 0.2, "customdata": [7, 4242]}]}}
    assert picked_index(event) == 4242
    webgl = {"selection": {"points": [{"x": 0.1, "y": 0.2, "customdata": {"0": 7, "1": 642}}]}}
    assert picked_index(webgl) == 642
    assert picked_index({"selection": {"points": [{"x": 0.1, "y": 0.2}]}}) is None
    assert picked_index({}) is None


def test_list_checkpoints_reads_every_folder_and_reports_broken_ones(tmp_path):
    from explorer.core import headline, list_checkpoints

    model = build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(8,)))
    vae_metrics = {"test_negative_elbo": 140.25, "test_recon_nll": 135.0, "test_kl": 5.25, "active_units": 2,
                   "kl_per_dim": [3.0, 2.25], "mean_variance_per_dim": [1.0, 0.5]}
    save_checkpoint(model, tmp_path / "b-vae", dataset={"name": "mnist"}, metrics=vae_metrics)
    save_checkpoint(build_model(ModelConfig(kind="ae", hidden_dims=(8,))), tmp_path / "a-ae",
                    dataset={"name": "fashion-mnist"}, metrics={"test_recon_nll": 130.5})
    (tmp_path / "c-broken").mkdir()
    (tmp_path / ".d-tmp").mkdir()  # a checkpoint being written: hidden, skipped
    save_checkpoint(model, tmp_path / "e-no-dataset", metrics=vae_metrics)
    infos = list_checkpoints(tmp_path)
    assert [i.name for i in infos] == ["a-ae", "b-vae", "c-broken", "e-no-dataset"]
    assert headline(infos[0].metrics) == "recon NLL 130.5 nats" and infos[0].model_config.kind == "ae"
    assert infos[0].dataset == "fashion-mnist" and infos[0].error is None
    assert headline(infos[1].metrics) == "−ELBO 140.2 nats" and infos[1].dataset == "mnist"
    assert infos[2].error and "has no config.json" in infos[2].error
    assert infos[2].model_config is None and infos[2].dataset is None and infos[2].metrics == {}
    assert "'dataset.name' must be one of" in infos[3].error
    assert list_checkpoints(tmp_path / "missing") == []


def test_training_curves_and_kl_chart():
    from explorer import plots

    history = [{"epoch": e, "train_loss": 150 - e, "test_loss": 151 - e} for e in (1, 2, 3)]
    fig = plots.training_curves(history)
    assert [t.name for t in fig.data] == ["train loss", "test loss"]
    assert list(fig.data[1].y) == [150, 149, 148]
    fig = plots.kl_per_dimension([2.0, 0.001, 1.5], [0.9, 0.0001, 0.5], threshold=0.01)
    assert list(fig.data[0].marker.color) == [plots.ACTIVE_COLOR, "#c8c8c8", plots.ACTIVE_COLOR]
    assert "2 of 3 active" in fig.layout.title.text


def test_prior_samples_are_seeded_standard_normal():
    from explorer.core import prior_samples

    z = prior_samples(20000, 2, seed=3)
    assert z.shape == (20000, 2) and z.dtype == np.float32
    np.testing.assert_allclose(z.mean(0), [0, 0], atol=0.03)
    np.testing.assert_allclose(z.std(0), [1, 1], atol=0.03)
    assert np.array_equal(prior_samples(5, 2, 3), prior_samples(5, 2, 3))
    assert not np.array_equal(prior_samples(5, 2, 3), prior_samples(5, 2, 4))


def test_image_grid_lays_out_rows_and_pads_the_last():
    from explorer.core import image_grid

    images = np.stack([np.full((28, 28), v, np.float32) for v in (0.0, 1.0, 0.5)])
    grid = image_grid(images, columns=2, scale=2, gap=1)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 56 + 2, 2 * 56 + 2)
    assert grid[0, 0] == 0 and grid[0, -1] == 255 and grid[-1, 0] == 128 and grid[-1, -1] == 89  # padding


def test_toy_demo_encodes_decodes_and_samples_only_for_the_vae():
    from explorer.core import toy_demo

    torch.manual_seed(0)
    points = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    config = dict(latent_dim=1, hidden_dims=(8,), data_shape=(2,), likelihood="gaussian-learned")
    vae = build_model(ModelConfig(kind="vae", **config)).eval()
    demo = toy_demo(vae, points, n_generated=30)
    assert demo.codes.shape == (50,) and demo.reconstructions.shape == (50, 2)
    assert demo.generated.shape == (30, 2)
    assert toy_demo(build_model(ModelConfig(kind="ae", **config)).eval(), points).generated is None
    with pytest.raises(ValueError, match="2-D -> 1-D"):
        toy_demo(build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(8,))), points)


def test_corrupt_image_masks_or_adds_clipped_noise():
    from train.models import corrupt

    clean = np.full((28, 28), 0.8, np.float32)
    masked = core.corrupt_image(clean, "mask", 0.3, seed=1)
    assert masked.shape == (28, 28) and abs((masked == 0).mean() - 0.3) < 0.06
    assert np.array_equal(masked, core.corrupt_image(clean, "mask", 0.3, seed=1))
    noisy = core.corrupt_image(clean, "gaussian", 0.5, seed=1)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not np.array_equal(noisy, clean)
    assert np.array_equal(core.corrupt_image(clean, "gaussian", 0.0), clean)
    with pytest.raises(ValueError, match="unknown noise"):
        corrupt(torch.zeros(1, 4), "salt", 0.1)
    with pytest.raises(ValueError, match="out of range"):
        corrupt(torch.zeros(1, 4), "mask", 1.0)


def test_prior_quantile_grid_follows_the_normal_quantiles():
    grid = core.prior_quantile_grid(3)
    assert grid.shape == (9, 2)
    np.testing.assert_allclose(grid[:3, 0], [-1.6449, 0.0, 1.6449], atol=1e-4)  # x varies fastest
    np.testing.assert_allclose(grid[::3, 1], [1.6449, 0.0, -1.6449], atol=1e-4)  # top row first
    with pytest.raises(ValueError, match="latent_dim 2"):
        core.prior_quantile_grid(3, latent_dim=16)


def test_cvae_helpers_decode_with_labels_and_encode_a_style():
    torch.manual_seed(0)
    cvae = build_model(ModelConfig(kind="cvae", latent_dim=2, hidden_dims=(16,))).eval()
    images = core.decode_with_labels(cvae, np.zeros((10, 2)), list(range(10)))
    assert images.shape == (10, 28, 28) and not np.allclose(images[0], images[1])
    z = core.style_of(cvae, np.random.default_rng(0).random((28, 28)), 4)
    assert z.shape == (2,) and z.dtype == np.float32


def test_pca_2d_finds_the_directions_of_largest_variance():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(2000, 4)) * np.array([5.0, 0.1, 2.0, 0.1]) + 3.0
    proj = core.pca_2d(codes)
    assert proj.points.shape == (2000, 2) and proj.components.shape == (2, 4)
    np.testing.assert_allclose(np.abs(proj.components), [[1, 0, 0, 0], [0, 0, 1, 0]], atol=0.02)
    assert proj.explained[0] > proj.explained[1] > 0.1 and proj.explained.sum() < 1
    np.testing.assert_allclose(proj.points.mean(0), [0, 0], atol=1e-4)
    with pytest.raises(ValueError, match="PCA needs"):
        core.pca_2d(np.zeros((10, 1)))
    np.testing.assert_allclose(proj.transform(codes[:5]), proj.points[:5], atol=1e-4)  # more latents alike
    assert proj.transform(codes[0]).shape == (2,)


def test_fashion_test_set_ships_with_the_explorer():
    images, labels = core.load_test_set("fashion-mnist")
    assert images.shape == (10000, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    assert np.bincount(labels).tolist() == [1000] * 10  # Fashion-MNIST's test split is balanced
    assert labels.tolist()[:5] == [9, 2, 1, 1, 6]  # ankle boot, pullover, trouser, trouser, shirt
    with pytest.raises(FileNotFoundError, match="no test images for the dataset 'toy-gaussians'"):
        core.load_test_set("toy-gaussians")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing", "short-labels"])
def test_a_damaged_shipped_test_set_names_the_file_and_how_to_restore_it(tmp_path, monkeypatch, damage):
    import gzip
    import shutil

    shutil.copytree(core.ASSETS_DIR / "mnist", tmp_path / "mnist")
    monkeypatch.setattr(core, "ASSETS_DIR", tmp_path)
    images, labels = tmp_path / "mnist" / core.TEST_IMAGES_FILE, tmp_path / "mnist" / core.TEST_LABELS_FILE
    if damage == "truncated":
        images.write_bytes(images.read_bytes()[:100_000])
    elif damage == "garbage":
        images.write_bytes(gzip.compress(b"not an IDX file at all"))
    elif damage == "empty":
        labels.write_bytes(b"")
    elif damage == "missing":
        images.unlink()
    else:  # labels for fewer images than there are
        raw = gzip.decompress(labels.read_bytes())
        labels.write_bytes(gzip.compress(raw[:4] + (5000).to_bytes(4, "big") + raw[8:5008]))
    with pytest.raises(core.TestSetError) as error:
        core.load_test_set("mnist")
    assert str(tmp_path / "mnist") in str(error.value)
    assert "git checkout -- explorer/assets" in str(error.value)


def test_styled_figures_for_the_dark_theme_and_presenter_mode():
    from explorer import plots

    labels = np.arange(20) % 10
    codes = np.random.default_rng(0).normal(size=(20, 2))
    plain = plots.latent_scatter(codes, labels, "t", path=codes[:3], marks=[("x", codes[0])])
    big = plots.styled(plots.latent_scatter(codes, labels, "t", path=codes[:3]), presenter=True)
    assert big.layout.font.size == plots.PRESENTER_FONT > plain.layout.font.size
    assert big.data[0].marker.size == plain.data[0].marker.size * plots.PRESENTER_SCALE
    assert big.data[10].line.width == plain.data[10].line.width * plots.PRESENTER_SCALE
    dark = plots.styled(plots.latent_scatter(codes, labels, "t", path=codes[:3]), dark=True)
    assert plain.data[10].line.color == plots.MARK_COLOR and dark.data[10].line.color == plots.DARK_MARK_COLOR
    assert dark.layout.paper_bgcolor == "rgba(0,0,0,0)"
    assert dark.data[0].marker.color == plain.data[0].marker.color  # the class colours stay
    bars = plots.styled(plots.kl_per_dimension([1.0, 0.1], [0.5, 0.0], 0.01), dark=True, presenter=True)
    assert bars.layout.font.size == plots.PRESENTER_FONT  # bars have no marker size: left alone


def test_spherical_interpolation_keeps_the_norm_and_hits_both_ends():
    a, b = np.array([3.0, 0.0], np.float32), np.array([0.0, 3.0], np.float32)
    path = core.interpolate(a, b, 5, "spherical")
    np.testing.assert_allclose(path[0], a, atol=1e-6)
    np.testing.assert_allclose(path[-1], b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 3.0, atol=1e-5)  # on the arc
    np.testing.assert_allclose(path[2], [3 / np.sqrt(2), 3 / np.sqrt(2)], atol=1e-5)
    linear = core.interpolate(a, b, 5, "linear")
    assert np.linalg.norm(linear[2]) < 2.2  # the straight line cuts towards the origin
    parallel = core.interpolate(a, 2 * a, 3, "spherical")  # angle 0: falls back to linear
    np.testing.assert_allclose(parallel[1], 1.5 * a)
    with pytest.raises(ValueError, match="unknown interpolation"):
        core.interpolate(a, b, 3, "cubic")


def test_png_and_gif_exports_decode_with_pillow():
    import io

    from PIL import Image

    frames = [np.full((12, 10), v, np.uint8) for v in (0, 100, 200)]
    png = Image.open(io.BytesIO(core.png_bytes(frames[1])))
    assert png.format == "PNG" and png.size == (10, 12) and np.asarray(png)[0, 0] == 100
    gif = Image.open(io.BytesIO(core.gif_bytes(frames)))
    assert gif.format == "GIF" and gif.n_frames == 4 and gif.info.get("loop") == 0  # 0,1,2 then back to 1
    assert Image.open(io.BytesIO(core.gif_bytes(frames, bounce=False))).n_frames == 3
    with pytest.raises(ValueError, match="at least one frame"):
        core.gif_bytes([])


def test_manifold_axes_by_prior_quantiles_or_data_range_and_tiles():
    from explorer import plots

    codes = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32) * [10, 1]
    xs, ys = core.manifold_axes(codes, 4, "prior")
    np.testing.assert_allclose(xs, [-1.6449, -0.3853, 0.3853, 1.6449], atol=1e-3)  # p = .05 .35 .65 .95
    np.testing.assert_allclose(ys, xs[::-1], atol=1e-6)  # top row first
    xs, ys = core.manifold_axes(codes, 5, "data")
    assert xs[-1] - xs[0] > 5 * (ys[0] - ys[-1]) / 2  # follows the codes' wide z1 range
    with pytest.raises(ValueError, match="unknown spacing"):
        core.manifold_axes(codes, 5, "log")
    model = build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(8,))).eval()
    xs, ys = core.manifold_axes(codes, 3, "prior")
    tiles = core.manifold_images(model, xs, ys)
    assert tiles.shape == (9, 28, 28)
    np.testing.assert_allclose(tiles[1], core.decode(model, np.array([xs[1], ys[0]])), atol=1e-6)
    fig = plots.add_manifold(plots.latent_scatter(codes, np.zeros(500, int), "t"), xs, ys, tiles)
    assert len(fig.layout.images) == 9 and fig.layout.images[0].layer == "below"
    assert fig.layout.xaxis.range[0] < xs[0] and fig.layout.yaxis.range[1] > ys[0]


def test_posterior_ellipse_and_samples():
    mu, sigma = np.array([1.0, -2.0]), np.array([0.5, 0.1])
    for k in (1, 2):
        points = core.ellipse(mu, sigma, k)
        np.testing.assert_allclose((((points - mu) / sigma) ** 2).sum(1), k**2, rtol=1e-5)
    samples = core.posterior_samples(mu, sigma, 20000, seed=1)
    np.testing.assert_allclose(samples.mean(0), mu, atol=0.01)
    np.testing.assert_allclose(samples.std(0), sigma, rtol=0.03)
    vae = build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(8,))).eval()
    image = np.random.default_rng(0).random((28, 28))
    m, s = core.posterior_of(vae, image)
    mu_t, logvar_t = vae.posterior(torch.from_numpy(image).float().view(1, 1, 28, 28))
    np.testing.assert_allclose(m, mu_t[0].detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(s, torch.exp(0.5 * logvar_t[0]).detach().numpy(), atol=1e-6)


def test_encode_all_gives_the_cvae_each_image_with_its_own_class():
    torch.manual_seed(0)
    cvae = build_model(ModelConfig(kind="cvae", latent_dim=2, hidden_dims=(16,))).eval()
    images = torch.rand(5, 1, 28, 28)
    labels = np.array([0, 1, 2, 3, 4])
    codes = core.encode_all(cvae, images, labels)
    assert codes.shape == (5, 2)
    np.testing.assert_allclose(codes[3], core.style_of(cvae, images[3], 3), atol=1e-6)
    assert not np.allclose(codes[3], core.style_of(cvae, images[3], 7))


def test_nearest_test_indices_are_sorted_by_latent_distance():
    codes = np.array([[0.0, 0.0], [5.0, 5.0], [1.0, 0.0], [0.0, 3.0], [-2.0, 0.0]], np.float32)
    assert core.nearest_test_indices(codes, np.array([0.9, 0.1]), 3).tolist() == [2, 0, 4]
    assert core.nearest_test_index(codes, np.array([4.0, 4.0])) == 1
    assert core.nearest_test_indices(codes, np.zeros(2), 5).tolist()[0] == 0
