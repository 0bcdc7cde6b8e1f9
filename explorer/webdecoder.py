"""A model's decoder and likelihood mean as data the browser runs: a small JSON spec of layers plus
one flat float32 buffer of weights. No streamlit.

The browser side is ``explorer/frontend/decoder.js`` (``createDecoder(spec, weights)``), which runs
the same layers in the same order and must agree with ``inference.decode`` to 1e-4 per pixel
(``tests/test_browser.py`` checks every shipped 2-D model). Supported: what ``train.models`` builds
for a decoder, i.e. ``nn.Linear``, ``nn.ReLU`` and ``nn.ConvTranspose2d`` (groups 1, dilation 1,
zero padding), the CVAE's one-hot class input, and the mean of every likelihood in
``train.models.LIKELIHOOD_TYPES``. Anything else raises ``UnsupportedDecoder``, so a new layer
type fails loudly in the tests instead of decoding wrongly in a lecture.

Spec format (``FORMAT``), all sizes in elements of the weight buffer:

    {"format": "latent-explorer-decoder/1", "latent_dim": d, "n_classes": n_c (0 unless the model
     is conditional), "input": d + n_c, "likelihood": "bernoulli" | "continuous-bernoulli" |
     "gaussian" | "gaussian-learned", "image": [C, H, W],
     "layers": [{"op": "linear", "in": i, "out": o, "w": offset, "b": offset},
                {"op": "relu"},
                {"op": "reshape", "shape": [C, H, W]},
                {"op": "conv_transpose", "in": c_in, "out": c_out, "kernel": [kh, kw],
                 "stride": [sh, sw], "padding": [ph, pw], "output_padding": [oh, ow],
                 "in_shape": [c_in, h, w], "out_shape": [c_out, h', w'], "w": offset, "b": offset}]}

Weights keep torch's layouts: ``nn.Linear`` weight [out, in] row-major; ``nn.ConvTranspose2d``
weight [c_in, c_out, kh, kw]. The output of the last layer is the likelihood's parameters
[k * C, H, W]; its mean is computed from the first C channels (see ``train.models``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from train import LatentModel
from train.models import LIKELIHOOD_TYPES, ConvDecoder, MLPDecoder

FORMAT = "latent-explorer-decoder/1"
WEIGHT_DTYPES = ("float32", "float16")


class UnsupportedDecoder(ValueError):
    """The decoder has a layer (or the model a likelihood) that the browser decoder does not run."""


@dataclass(frozen=True)
class BrowserDecoder:
    """A decoder ready for the browser.

    spec: the JSON-able layer list described in the module docstring.
    weights: float32 [P], every weight and bias in the order the spec's offsets give.
    digest: 16 hex characters of SHA-256 over spec and weights: the browser's cache key, so a
    retrained checkpoint is never decoded with stale weights.
    """

    spec: dict
    weights: np.ndarray
    digest: str

    def payload(self, dtype: str = "float32") -> dict:
        """{"spec", "dtype", "weights": base64 of the little-endian buffer} to send to the browser.

        dtype: "float32" (exact; 4 bytes per weight) or "float16" (half the bytes; pixels then
        differ from torch by up to ~1e-3). Raises ValueError for any other dtype.
        """
        if dtype not in WEIGHT_DTYPES:
            raise ValueError(f"weights travel as one of {WEIGHT_DTYPES}, not {dtype!r}")
        buffer = self.weights.astype(f"<f{4 if dtype == 'float32' else 2}").tobytes()
        return {"spec": self.spec, "dtype": dtype, "weights": base64.b64encode(buffer).decode("ascii")}

    @property
    def n_weights(self) -> int:
        return int(self.weights.size)


def _layer_ops(module: nn.Module, shape: tuple[int, ...], chunks: list[np.ndarray],
               offset: int) -> tuple[list[dict], tuple[int, ...], int]:
    """The spec ops of one layer applied to an activation of ``shape``; its weights are appended to
    ``chunks``. returns (ops, output shape, next offset)."""

    def add(t: torch.Tensor) -> int:
        nonlocal offset
        start = offset
        array = t.detach().to(torch.float32).cpu().numpy().reshape(-1)
        chunks.append(array)
        offset += array.size
        return start

    if isinstance(module, nn.Sequential):
        ops: list[dict] = []
        for child in module:
            child_ops, shape, offset = _layer_ops(child, shape, chunks, offset)
            ops.extend(child_ops)
        return ops, shape, offset
    if isinstance(module, nn.ReLU):
        return [{"op": "relu"}], shape, offset
    if isinstance(module, nn.Linear):
        if len(shape) != 1 or shape[0] != module.in_features:
            raise UnsupportedDecoder(f"nn.Linear({module.in_features}, ...) after an activation of "
                                     f"shape {list(shape)}")
        w = add(module.weight)
        b = add(module.bias) if module.bias is not None else add(torch.zeros(module.out_features))
        return ([{"op": "linear", "in": module.in_features, "out": module.out_features, "w": w, "b": b}],
                (module.out_features,), offset)
    if isinstance(module, nn.ConvTranspose2d):
        if (module.groups != 1 or tuple(module.dilation) != (1, 1) or module.padding_mode != "zeros"
                or len(shape) != 3 or shape[0] != module.in_channels):
            raise UnsupportedDecoder(f"{module} on an activation of shape {list(shape)} (the browser runs "
                                     "groups=1, dilation=1, zero padding)")
        c, h, w_ = shape
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = (module.kernel_size, module.stride, module.padding,
                                                  module.output_padding)
        out_shape = (module.out_channels, (h - 1) * sh - 2 * ph + kh + oh, (w_ - 1) * sw - 2 * pw + kw + ow)
        w = add(module.weight)
        b = add(module.bias) if module.bias is not None else add(torch.zeros(module.out_channels))
        return ([{"op": "conv_transpose", "in": c, "out": module.out_channels, "kernel": [kh, kw],
                  "stride": [sh, sw], "padding": [ph, pw], "output_padding": [oh, ow],
                  "in_shape": list(shape), "out_shape": list(out_shape), "w": w, "b": b}], out_shape, offset)
    raise UnsupportedDecoder(f"the browser decoder cannot run {type(module).__name__} layers")


def _reshape(shape: tuple[int, ...], to: tuple[int, ...]) -> tuple[list[dict], tuple[int, ...]]:
    if math.prod(shape) != math.prod(to):
        raise UnsupportedDecoder(f"cannot view an activation of shape {list(shape)} as {list(to)}")
    return [{"op": "reshape", "shape": list(to)}], tuple(to)


def export_decoder(model: LatentModel) -> BrowserDecoder:
    """The decoder of ``model`` and its likelihood's mean E[x|z] as a ``BrowserDecoder``.

    Walks the decoder that ``train.models.make_decoder`` built (an MLP, or a dense layer and
    transposed convolutions) in its forward order. Raises UnsupportedDecoder (a ValueError) for a
    layer or likelihood the browser does not run.
    """
    config = model.config
    if config.likelihood not in LIKELIHOOD_TYPES:
        raise UnsupportedDecoder(f"no browser mean for the {config.likelihood!r} likelihood")
    n_classes = config.n_classes if config.conditional else 0
    shape: tuple[int, ...] = (config.latent_dim + n_classes,)
    chunks: list[np.ndarray] = []
    decoder = model.decoder
    if isinstance(decoder, MLPDecoder):
        ops, shape, offset = _layer_ops(decoder.net, shape, chunks, 0)
        more, shape = _reshape(shape, tuple(decoder.out_shape))
        ops += more
    elif isinstance(decoder, ConvDecoder):
        ops, shape, offset = _layer_ops(decoder.dense, shape, chunks, 0)
        more, shape = _reshape(shape, tuple(decoder.grid))
        ops += more
        conv_ops, shape, offset = _layer_ops(decoder.net, shape, chunks, offset)
        ops += conv_ops
    else:
        raise UnsupportedDecoder(f"the browser decoder cannot run a {type(decoder).__name__}")
    image = tuple(config.data_shape)
    n_params = model.likelihood.n_params
    if len(image) != 3 or shape != (n_params * image[0], *image[1:]):
        raise UnsupportedDecoder(f"decoder output {list(shape)} is not {n_params} x {list(image)} images")
    spec = {"format": FORMAT, "latent_dim": config.latent_dim, "n_classes": n_classes,
            "input": config.latent_dim + n_classes, "likelihood": config.likelihood,
            "image": list(image), "layers": ops}
    weights = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode() + weights.tobytes()).hexdigest()[:16]
    return BrowserDecoder(spec, weights, digest)


def encode_points(codes: np.ndarray, labels: np.ndarray) -> dict:
    """The test set's 2-D codes and labels for the browser's plane.

    codes: float [N, 2]; labels: int [N] in 0..255. returns {"n", "codes": base64 of float32
    little-endian [N * 2] (x0, y0, x1, y1, ...), "labels": base64 of uint8 [N], "digest"}.
    Raises ValueError if the shapes do not match or a label is outside 0..255.
    """
    codes = np.ascontiguousarray(codes, dtype="<f4")
    labels = np.asarray(labels)
    if codes.ndim != 2 or codes.shape[1] != 2 or labels.shape != (codes.shape[0],):
        raise ValueError(f"codes must be [N, 2] and labels [N], got {list(codes.shape)} and "
                         f"{list(labels.shape)}")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError("labels must be in 0..255")
    label_bytes = labels.astype(np.uint8).tobytes()
    digest = hashlib.sha256(codes.tobytes() + label_bytes).hexdigest()[:16]
    return {"n": int(codes.shape[0]), "codes": base64.b64encode(codes.tobytes()).decode("ascii"),
            "labels": base64.b64encode(label_bytes).decode("ascii"), "digest": digest}


def committed_z(event, limit: float) -> np.ndarray | None:
    """The z of the plane's commit event ({"z": [x, y]} from the browser), as float32 [2], or None
    unless it holds two finite numbers within ±``limit`` (the browser is not trusted)."""
    try:
        z = np.asarray(event["z"], dtype=np.float64)
    except (TypeError, KeyError, ValueError, IndexError):
        return None
    if z.shape != (2,) or not np.all(np.isfinite(z)) or np.any(np.abs(z) > limit):
        return None
    return z.astype(np.float32)


def hidden_classes(event, n_classes: int) -> frozenset[int]:
    """The classes the viewer hid with the plane's legend, from its commit event ({"z": ...,
    "hidden": [int, ...]} from the browser): the integers in 0..``n_classes``-1, anything else
    ignored (the browser is not trusted); empty if there are none."""
    try:
        values = event["hidden"]
    except (TypeError, KeyError, IndexError):
        return frozenset()
    if not isinstance(values, list):
        return frozenset()
    return frozenset(v for v in values[:n_classes] if isinstance(v, int) and not isinstance(v, bool)
                     and 0 <= v < n_classes)
