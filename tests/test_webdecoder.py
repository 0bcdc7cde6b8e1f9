"""The decoder as data for the browser (explorer/webdecoder.py): the spec walks the layers torch runs,
and a NumPy reading of the spec reproduces the torch decode. The browser's own run of the same spec
is checked against torch in tests/test_browser.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from explorer import webdecoder
from explorer.webdecoder import (
    UnsupportedDecoder,
    committed_z,
    encode_points,
    export_checkpoint,
    export_decoder,
    export_weights,
    hidden_classes,
    pack,
    unpack,
)
from tests.bad_checkpoints import SHIPPED
from train import CheckpointError, ModelConfig, build_model, load_checkpoint, save_checkpoint


def numpy_decode(exported: webdecoder.BrowserDecoder, z: np.ndarray, label: int | None = None) -> np.ndarray:
    """An independent reading of the spec (float64 NumPy), as decoder.js reads it: [C, H, W] in [0, 1]."""
    spec, w = exported.spec, exported.weights.astype(np.float64)
    x = np.zeros(spec["input"])
    x[: spec["latent_dim"]] = z
    if spec["n_classes"]:
        x[spec["latent_dim"] + label] = 1
    for layer in spec["layers"]:
        if layer["op"] == "linear":
            weight = w[layer["w"]: layer["w"] + layer["in"] * layer["out"]].reshape(layer["out"], layer["in"])
            x = weight @ x.reshape(-1) + w[layer["b"]: layer["b"] + layer["out"]]
        elif layer["op"] == "relu":
            x = np.maximum(x, 0)
        elif layer["op"] == "reshape":
            x = x.reshape(layer["shape"])
        else:
            c_in, h, wid = layer["in_shape"]
            c_out, oh, ow = layer["out_shape"]
            (kh, kw), (sh, sw), (ph, pw) = layer["kernel"], layer["stride"], layer["padding"]
            weight = w[layer["w"]: layer["w"] + c_in * c_out * kh * kw].reshape(c_in, c_out, kh, kw)
            out = np.zeros((c_out, oh, ow)) + w[layer["b"]: layer["b"] + c_out][:, None, None]
            for iy in range(h):
                for ix in range(wid):
                    for ky in range(kh):
                        for kx in range(kw):
                            oy, ox = iy * sh - ph + ky, ix * sw - pw + kx
                            if 0 <= oy < oh and 0 <= ox < ow:
                                out[:, oy, ox] += x[:, iy, ix] @ weight[:, :, ky, kx]
            x = out
    channels = spec["image"][0]
    logits = x.reshape(-1)[: channels * spec["image"][1] * spec["image"][2]]
    mean = {"bernoulli": lambda v: 1 / (1 + np.exp(-v)), "gaussian": lambda v: v,
            "gaussian-learned": lambda v: v,
            "continuous-bernoulli": lambda v: np.where(np.abs(v) < 1e-3, 0.5 + v / 12,
                                                       -1 / np.expm1(-v) - 1 / np.where(v == 0, 1, v))}
    return np.clip(mean[spec["likelihood"]](logits), 0, 1).reshape(spec["image"])


CASES = [  # (kind, arch, likelihood, hidden_dims)
    ("vae", "mlp", "bernoulli", (32, 16)),
    ("ae", "mlp", "gaussian", (24,)),
    ("vae", "mlp", "gaussian-learned", (16, 8)),
    ("vae", "conv", "continuous-bernoulli", (4, 6, 16)),
    ("cvae", "conv", "bernoulli", (4, 6, 16)),
    ("cvae", "mlp", "bernoulli", (16,)),
]


@pytest.mark.parametrize(("kind", "arch", "likelihood", "hidden"), CASES)
def test_the_spec_decodes_as_torch_does(kind, arch, likelihood, hidden):
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, arch=arch, likelihood=likelihood, hidden_dims=hidden,
                                    latent_dim=2)).eval()
    exported = export_decoder(model)
    assert exported.weights.dtype == np.float32
    assert exported.n_weights == sum(p.numel() for p in model.decoder.parameters())
    z = np.random.default_rng(1).normal(size=(3, 2)).astype(np.float32) * 2
    labels = [0, 4, 9]
    with torch.inference_mode():
        y = torch.tensor(labels) if model.config.conditional else None
        expected = model.decode(torch.from_numpy(z), y).clamp(0, 1).numpy()
    for i in range(3):
        got = numpy_decode(exported, z[i], labels[i] if model.config.conditional else None)
        np.testing.assert_allclose(got, expected[i], atol=1e-5)


def test_the_digest_follows_the_weights_and_the_payload_round_trips():
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="vae", hidden_dims=(8,), latent_dim=2)).eval()
    first = export_decoder(model)
    assert export_decoder(model).digest == first.digest
    with torch.no_grad():
        next(model.decoder.parameters())[0, 0] += 1.0
    assert export_decoder(model).digest != first.digest  # a retrained model is never decoded stale
    payload = first.payload()
    back = np.frombuffer(payload["weights"], "<f4")
    np.testing.assert_array_equal(back, first.weights)
    half = first.payload("float16")
    assert len(half["weights"]) == 2 * first.n_weights
    with pytest.raises(ValueError, match="float32"):
        first.payload("int8")


def test_a_layer_the_browser_cannot_run_is_refused_by_name():
    model = build_model(ModelConfig(kind="vae", hidden_dims=(8,), latent_dim=2))
    model.decoder.net[1] = nn.Tanh()
    with pytest.raises(UnsupportedDecoder, match="Tanh"):
        export_decoder(model)


def test_points_travel_as_float32_and_bytes():
    codes = np.array([[0.5, -1.0], [2.0, 3.25]])
    payload = encode_points(codes, np.array([3, 9]))
    assert payload["n"] == 2
    np.testing.assert_array_equal(np.frombuffer(payload["codes"], "<f4"),
                                  [0.5, -1.0, 2.0, 3.25])
    assert list(payload["labels"]) == [3, 9]
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        encode_points(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match="0..255"):
        encode_points(np.zeros((1, 2)), np.array([300]))


def test_a_commit_from_the_browser_is_checked():
    np.testing.assert_array_equal(committed_z({"z": [0.5, -1.25]}, 1000), np.float32([0.5, -1.25]))
    assert committed_z({"z": [0.5, -1.25]}, 1000).dtype == np.float32
    for bad in (None, {}, {"z": "0.5,1"}, {"z": [1]}, {"z": [1, 2, 3]}, {"z": [float("nan"), 0]},
                {"z": [2000, 0]}, {"z": [[1, 2]]}, {"z": ["a", "b"]}, [0.5, 1]):
        assert committed_z(bad, 1000) is None, bad


def test_the_hidden_classes_of_a_commit_are_checked():
    assert hidden_classes({"z": [0, 0], "hidden": [3, 7]}, 10) == {3, 7}
    assert hidden_classes({"z": [0, 0], "hidden": [3, 12, -1, 2.5, True, "4", None]}, 10) == {3}
    for bad in (None, {}, {"z": [0, 0]}, {"hidden": "3"}, {"hidden": {"3": 1}}, [3]):
        assert hidden_classes(bad, 10) == frozenset(), bad
    assert len(hidden_classes({"hidden": list(range(10)) * 1000}, 10)) == 10  # long lists are cut


@pytest.mark.parametrize(("kind", "arch", "likelihood", "hidden"), CASES)
def test_the_layout_from_the_config_exports_what_the_torch_walk_exports(tmp_path, kind, arch, likelihood,
                                                                       hidden):
    """export_checkpoint reads model.safetensors without torch, with layers from the config alone:
    it must give the torch export's spec and weights (the same digest) for every decoder kind."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, arch=arch, likelihood=likelihood, hidden_dims=hidden,
                                    latent_dim=2)).eval()
    folder = save_checkpoint(model, tmp_path / "m")
    from_file = export_checkpoint(folder, model.config)
    walked = export_decoder(model)
    assert from_file.digest == walked.digest and from_file.spec == walked.spec
    np.testing.assert_array_equal(from_file.weights, walked.weights)


def test_a_checkpoint_whose_weights_do_not_fit_the_layout_is_refused(tmp_path):
    model = build_model(ModelConfig(kind="vae", hidden_dims=(8,), latent_dim=2))
    folder = save_checkpoint(model, tmp_path / "m")
    needs = r"decoder\.net\.0\.weight is of shape \[8, 2\]; the config needs"
    with pytest.raises(CheckpointError, match=needs):
        export_checkpoint(folder, ModelConfig(kind="vae", hidden_dims=(9,), latent_dim=2))
    state = {k: v.numpy() for k, v in model.state_dict().items()} | {"decoder.net.9.weight": np.zeros(3)}
    with pytest.raises(UnsupportedDecoder, match=r"decoder\.net\.9\.weight"):
        export_weights(model.config, state)
    from safetensors.torch import save_file

    save_file({k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="NumPy cannot read"):  # resources falls back to torch
        export_checkpoint(folder, model.config)
    (folder / "model.safetensors").write_bytes(b"\x00" * 7)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        export_checkpoint(folder, model.config)


@pytest.mark.parametrize("name", ["mnist-vae-2d", "mnist-ae-2d", "mnist-betavae-2d", "mnist-dae-2d",
                                  "mnist-cvae-2d", "fashion-vae-2d"])
def test_every_shipped_decoder_exports_the_same_from_the_file_and_from_torch(name):
    folder = SHIPPED / name
    model = load_checkpoint(folder)
    assert export_checkpoint(folder, model.config).digest == export_decoder(model).digest


def test_a_packed_message_carries_bytes_aligned_and_round_trips():
    data = {"a": [1, "two", None], "w": bytes(range(5)),
            "nested": {"x": b"", "y": np.float32([1.5]).tobytes()}}
    message = pack(data)
    assert message[:4] == b"LXP1" and unpack(message) == data
    header_end = 8 + int.from_bytes(message[4:8], "little")
    blobs = header_end + (-header_end % 8)
    assert blobs % 8 == 0 and message[blobs:blobs + 5] == bytes(range(5))  # the bytes as they are
    with pytest.raises(TypeError, match="set"):
        pack({"s": {1, 2}})
    with pytest.raises(ValueError, match="not a packed"):
        unpack(b'{"a": 1}')
