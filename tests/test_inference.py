import numpy as np
import pytest
import torch

from explorer import inference
from train import ModelConfig, build_model, save_checkpoint


def test_load_explorer_model_encodes_the_test_set(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="vae", latent_dim=2, hidden_dims=(16,)))
    save_checkpoint(model, tmp_path / "m", dataset={"name": "mnist"})
    images = torch.rand(30, 1, 28, 28)
    m = inference.load_explorer_model(tmp_path / "m", images)
    assert m.codes.shape == (30, 2) and m.label == "VAE" and m.name == "m"
    np.testing.assert_allclose(m.codes, model.posterior(images)[0].detach().numpy(), rtol=1e-5)
    recon, bce = inference.reconstruct(m.model, images[:4, 0].numpy())
    assert recon.shape == (4, 28, 28) and bce.shape == (4,) and (bce > 0).all()
    one = inference.decode(m.model, m.codes[0])
    assert one.shape == (28, 28)
    np.testing.assert_allclose(one, inference.decode(m.model, m.codes[:1])[0])



def test_prior_samples_are_seeded_standard_normal():
    from explorer.inference import prior_samples

    z = prior_samples(20000, 2, seed=3)
    assert z.shape == (20000, 2) and z.dtype == np.float32
    np.testing.assert_allclose(z.mean(0), [0, 0], atol=0.03)
    np.testing.assert_allclose(z.std(0), [1, 1], atol=0.03)
    assert np.array_equal(prior_samples(5, 2, 3), prior_samples(5, 2, 3))
    assert not np.array_equal(prior_samples(5, 2, 3), prior_samples(5, 2, 4))



def test_toy_demo_encodes_decodes_and_samples_only_for_the_vae():
    from explorer.inference import toy_demo

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
    masked = inference.corrupt_image(clean, "mask", 0.3, seed=1)
    assert masked.shape == (28, 28) and abs((masked == 0).mean() - 0.3) < 0.06
    assert np.array_equal(masked, inference.corrupt_image(clean, "mask", 0.3, seed=1))
    noisy = inference.corrupt_image(clean, "gaussian", 0.5, seed=1)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not np.array_equal(noisy, clean)
    assert np.array_equal(inference.corrupt_image(clean, "gaussian", 0.0), clean)
    with pytest.raises(ValueError, match="unknown noise"):
        corrupt(torch.zeros(1, 4), "salt", 0.1)
    with pytest.raises(ValueError, match="out of range"):
        corrupt(torch.zeros(1, 4), "mask", 1.0)



def test_cvae_helpers_decode_with_labels_and_encode_a_style():
    torch.manual_seed(0)
    cvae = build_model(ModelConfig(kind="cvae", latent_dim=2, hidden_dims=(16,))).eval()
    images = inference.decode_with_labels(cvae, np.zeros((10, 2)), list(range(10)))
    assert images.shape == (10, 28, 28) and not np.allclose(images[0], images[1])
    z = inference.style_of(cvae, np.random.default_rng(0).random((28, 28)), 4)
    assert z.shape == (2,) and z.dtype == np.float32



def test_encode_all_gives_the_cvae_each_image_with_its_own_class():
    torch.manual_seed(0)
    cvae = build_model(ModelConfig(kind="cvae", latent_dim=2, hidden_dims=(16,))).eval()
    images = torch.rand(5, 1, 28, 28)
    labels = np.array([0, 1, 2, 3, 4])
    codes = inference.encode_all(cvae, images, labels)
    assert codes.shape == (5, 2)
    np.testing.assert_allclose(codes[3], inference.style_of(cvae, images[3], 3), atol=1e-6)
    assert not np.allclose(codes[3], inference.style_of(cvae, images[3], 7))



def test_decode_keeps_pixels_in_0_1_even_for_a_gaussian_mean_that_leaves_it():
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="ae", likelihood="gaussian", hidden_dims=(16,))).eval()
    z = np.array([[300.0, -300.0], [-300.0, 300.0]], np.float32)
    raw = model.decode(torch.from_numpy(z)).detach()
    assert raw.min() < 0 or raw.max() > 1  # the Gaussian mean itself is unbounded
    images = inference.decode(model, z)
    assert images.shape == (2, 28, 28) and images.min() >= 0 and images.max() <= 1
