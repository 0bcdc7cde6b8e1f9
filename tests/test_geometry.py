import numpy as np
import pytest
import torch

from explorer import geometry, inference
from train import ModelConfig, build_model


def test_interpolate_endpoints_and_spacing():
    path = geometry.interpolate(np.array([0.0, 2.0]), np.array([4.0, -2.0]), 5)
    assert path.shape == (5, 2)
    np.testing.assert_allclose(path[0], [0, 2])
    np.testing.assert_allclose(path[-1], [4, -2])
    np.testing.assert_allclose(np.diff(path, axis=0), np.tile([[1.0, -1.0]], (4, 1)))
    with pytest.raises(ValueError):
        geometry.interpolate(np.zeros(2), np.zeros(2), 1)



def test_plane_extent_and_grid_cover_the_codes():
    codes = np.random.default_rng(0).normal(size=(5000, 2)) * [3.0, 1.0]
    extent = geometry.plane_extent(codes)
    x0, x1, y0, y1 = extent
    inside = (codes[:, 0] > x0) & (codes[:, 0] < x1) & (codes[:, 1] > y0) & (codes[:, 1] < y1)
    assert inside.mean() > 0.99
    grid = geometry.plane_grid(extent, 11)
    assert grid.shape == (121, 2)
    assert grid[:, 0].min() == pytest.approx(x0) and grid[:, 1].max() == pytest.approx(y1)



def test_nearest_test_index():
    codes = np.array([[0.0, 0.0], [5.0, 5.0], [-3.0, 1.0]])
    assert geometry.nearest_test_index(codes, np.array([4.0, 4.5])) == 1



def test_prior_quantile_grid_follows_the_normal_quantiles():
    grid = geometry.prior_quantile_grid(3)
    assert grid.shape == (9, 2)
    np.testing.assert_allclose(grid[:3, 0], [-1.6449, 0.0, 1.6449], atol=1e-4)  # x varies fastest
    np.testing.assert_allclose(grid[::3, 1], [1.6449, 0.0, -1.6449], atol=1e-4)  # top row first
    with pytest.raises(ValueError, match="latent_dim 2"):
        geometry.prior_quantile_grid(3, latent_dim=16)



def test_pca_2d_finds_the_directions_of_largest_variance():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(2000, 4)) * np.array([5.0, 0.1, 2.0, 0.1]) + 3.0
    proj = geometry.pca_2d(codes)
    assert proj.points.shape == (2000, 2) and proj.components.shape == (2, 4)
    np.testing.assert_allclose(np.abs(proj.components), [[1, 0, 0, 0], [0, 0, 1, 0]], atol=0.02)
    assert proj.explained[0] > proj.explained[1] > 0.1 and proj.explained.sum() < 1
    np.testing.assert_allclose(proj.points.mean(0), [0, 0], atol=1e-4)
    with pytest.raises(ValueError, match="PCA needs"):
        geometry.pca_2d(np.zeros((10, 1)))
    np.testing.assert_allclose(proj.transform(codes[:5]), proj.points[:5], atol=1e-4)  # more latents alike
    assert proj.transform(codes[0]).shape == (2,)



def test_spherical_interpolation_keeps_the_norm_and_hits_both_ends():
    a, b = np.array([3.0, 0.0], np.float32), np.array([0.0, 3.0], np.float32)
    path = geometry.interpolate(a, b, 5, "spherical")
    np.testing.assert_allclose(path[0], a, atol=1e-6)
    np.testing.assert_allclose(path[-1], b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 3.0, atol=1e-5)  # on the arc
    np.testing.assert_allclose(path[2], [3 / np.sqrt(2), 3 / np.sqrt(2)], atol=1e-5)
    linear = geometry.interpolate(a, b, 5, "linear")
    assert np.linalg.norm(linear[2]) < 2.2  # the straight line cuts towards the origin
    parallel = geometry.interpolate(a, 2 * a, 3, "spherical")  # angle 0: falls back to linear
    np.testing.assert_allclose(parallel[1], 1.5 * a)
    with pytest.raises(ValueError, match="unknown interpolation"):
        geometry.interpolate(a, b, 3, "cubic")



def test_manifold_axes_by_prior_quantiles_or_data_range_and_tiles():
    from explorer import plots

    codes = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32) * [10, 1]
    xs, ys = geometry.manifold_axes(codes, 4, "prior")
    np.testing.assert_allclose(xs, [-1.6449, -0.3853, 0.3853, 1.6449], atol=1e-3)  # p = .05 .35 .65 .95
    np.testing.assert_allclose(ys, xs[::-1], atol=1e-6)  # top row first
    xs, ys = geometry.manifold_axes(codes, 5, "data")
    assert xs[-1] - xs[0] > 5 * (ys[0] - ys[-1]) / 2  # follows the codes' wide z1 range
    with pytest.raises(ValueError, match="unknown spacing"):
        geometry.manifold_axes(codes, 5, "log")
    model = build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(8,))).eval()
    xs, ys = geometry.manifold_axes(codes, 3, "prior")
    tiles = inference.manifold_images(model, xs, ys)
    assert tiles.shape == (9, 28, 28)
    np.testing.assert_allclose(tiles[1], inference.decode(model, np.array([xs[1], ys[0]])), atol=1e-6)
    fig = plots.add_manifold(plots.latent_scatter(codes, np.zeros(500, int), "t"), xs, ys, tiles)
    assert len(fig.layout.images) == 9 and fig.layout.images[0].layer == "below"
    assert fig.layout.xaxis.range[0] < xs[0] and fig.layout.yaxis.range[1] > ys[0]



def test_posterior_ellipse_and_samples():
    mu, sigma = np.array([1.0, -2.0]), np.array([0.5, 0.1])
    for k in (1, 2):
        points = geometry.ellipse(mu, sigma, k)
        np.testing.assert_allclose((((points - mu) / sigma) ** 2).sum(1), k**2, rtol=1e-5)
    samples = inference.posterior_samples(mu, sigma, 20000, seed=1)
    np.testing.assert_allclose(samples.mean(0), mu, atol=0.01)
    np.testing.assert_allclose(samples.std(0), sigma, rtol=0.03)
    vae = build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(8,))).eval()
    image = np.random.default_rng(0).random((28, 28))
    m, s = inference.posterior_of(vae, image)
    mu_t, logvar_t = vae.posterior(torch.from_numpy(image).float().view(1, 1, 28, 28))
    np.testing.assert_allclose(m, mu_t[0].detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(s, torch.exp(0.5 * logvar_t[0]).detach().numpy(), atol=1e-6)



def test_nearest_test_indices_are_sorted_by_latent_distance():
    codes = np.array([[0.0, 0.0], [5.0, 5.0], [1.0, 0.0], [0.0, 3.0], [-2.0, 0.0]], np.float32)
    assert geometry.nearest_test_indices(codes, np.array([0.9, 0.1]), 3).tolist() == [2, 0, 4]
    assert geometry.nearest_test_index(codes, np.array([4.0, 4.0])) == 1
    assert geometry.nearest_test_indices(codes, np.zeros(2), 5).tolist()[0] == 0



def test_the_nearest_shown_digit_skips_hidden_classes():
    codes = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    labels = np.array([3, 7, 3])
    z = np.array([0.1, 0.0])
    assert geometry.nearest_shown_index(codes, labels, z) == 0
    assert geometry.nearest_shown_index(codes, labels, z, frozenset({3})) == 1
    assert geometry.nearest_shown_index(codes, labels, z, frozenset({7})) == 0
    assert geometry.nearest_shown_index(codes, labels, z, frozenset({3, 7})) is None
