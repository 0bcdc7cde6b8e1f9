"""A model's decoder and likelihood mean as data the browser runs: a small JSON spec of layers plus
one flat float32 buffer of weights. No streamlit, and no torch unless a torch model is exported.

The spec follows from the model's config alone (``decoder_layout``: the layers ``train.models``
builds, named by their state-dict keys), so ``export_checkpoint`` reads a checkpoint's weights with
safetensors' NumPy reader and never waits for torch to import (the first page's decoder).
``export_decoder`` exports a torch model and first walks its modules, checking that they are the
layers of the layout: a new layer type fails there, loudly, instead of decoding wrongly.

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

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from train import CheckpointError, ModelConfig
from train.checkpoint import WEIGHTS_FILE
from train.config import LIKELIHOOD_OUTPUTS

if TYPE_CHECKING:
    from torch import nn

    from train.models import LatentModel

FORMAT = "latent-explorer-decoder/1"
ENVELOPE = b"LXP1"  # the first bytes of a ``pack`` message
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
        """{"spec", "dtype", "weights": bytes of the little-endian buffer} to send to the browser
        (inside ``pack``).

        dtype: "float32" (exact; 4 bytes per weight) or "float16" (half the bytes; pixels then
        differ from torch by up to ~1e-3). Raises ValueError for any other dtype.
        """
        if dtype not in WEIGHT_DTYPES:
            raise ValueError(f"weights travel as one of {WEIGHT_DTYPES}, not {dtype!r}")
        buffer = self.weights.astype(f"<f{4 if dtype == 'float32' else 2}").tobytes()
        return {"spec": self.spec, "dtype": dtype, "weights": buffer}

    @property
    def n_weights(self) -> int:
        return int(self.weights.size)


def decoder_layout(config: ModelConfig) -> list[dict]:
    """The layers ``train.models.make_decoder`` builds for ``config``, in forward order, as spec ops
    without weight offsets; a layer with weights names them by state-dict prefix (``"key"``, e.g.
    "decoder.net.0": its ".weight" and ".bias").

    MLP: Linear layers of widths [d + n_c, *reversed(hidden_dims), k * C * H * W] with ReLU between,
    then a reshape to [k * C, H, W]. Conv: Linear to c2 * H/4 * W/4, ReLU, reshape to
    [c2, H/4, W/4], then 3x3 transposed convolutions c2 -> c2 (stride 2), ReLU, c2 -> c1 (stride 2),
    ReLU, c1 -> k * C (stride 1). k = ``LIKELIHOOD_OUTPUTS[likelihood]``.
    Raises UnsupportedDecoder for a likelihood or data shape the browser does not run.
    """
    if config.likelihood not in LIKELIHOOD_OUTPUTS:
        raise UnsupportedDecoder(f"no browser mean for the {config.likelihood!r} likelihood")
    if len(config.data_shape) != 3:
        raise UnsupportedDecoder(f"the browser decodes images [C, H, W], not data of shape "
                                 f"{list(config.data_shape)}")
    k = LIKELIHOOD_OUTPUTS[config.likelihood]
    channels, height, width = config.data_shape
    n_in = config.latent_dim + (config.n_classes if config.conditional else 0)

    def linear(key: str, n_in: int, n_out: int) -> dict:
        return {"op": "linear", "in": n_in, "out": n_out, "key": key}

    if config.arch == "mlp":
        widths = [n_in, *reversed(config.hidden_dims), k * channels * height * width]
        ops: list[dict] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            ops += [linear(f"decoder.net.{2 * i}", a, b), {"op": "relu"}]
        return [*ops[:-1], {"op": "reshape", "shape": [k * channels, height, width]}]
    c1, c2, _ = config.hidden_dims
    grid = [c2, height // 4, width // 4]
    ops = [linear("decoder.dense.0", n_in, math.prod(grid)), {"op": "relu"}, {"op": "reshape", "shape": grid}]
    shape = grid
    for i, (c_out, stride, pad_out) in enumerate(((c2, 2, 1), (c1, 2, 1), (k * channels, 1, 0))):
        out = [c_out, (shape[1] - 1) * stride - 2 + 3 + pad_out, (shape[2] - 1) * stride - 2 + 3 + pad_out]
        ops.append({"op": "conv_transpose", "in": shape[0], "out": c_out, "kernel": [3, 3],
                    "stride": [stride, stride], "padding": [1, 1], "output_padding": [pad_out, pad_out],
                    "in_shape": list(shape), "out_shape": out, "key": f"decoder.net.{2 * i}"})
        ops.append({"op": "relu"})
        shape = out
    return ops[:-1]


def export_weights(config: ModelConfig, state: Mapping[str, np.ndarray]) -> BrowserDecoder:
    """The decoder of a model of ``config`` with the weights ``state`` (a state dict as NumPy
    arrays, e.g. read from model.safetensors) as a ``BrowserDecoder``.

    Raises UnsupportedDecoder (a ValueError) if the layout has no browser equivalent or ``state``
    holds decoder weights the layout does not use, and CheckpointError if a weight is missing or
    has the wrong shape.
    """
    ops = decoder_layout(config)
    chunks: list[np.ndarray] = []
    offset = 0
    used = set()
    for op in ops:
        key = op.pop("key", None)
        if key is None:
            continue
        if op["op"] == "linear":
            shapes = {"weight": (op["out"], op["in"]), "bias": (op["out"],)}
        else:
            shapes = {"weight": (op["in"], op["out"], *op["kernel"]), "bias": (op["out"],)}
        for part, shape in shapes.items():
            name = f"{key}.{part}"
            array = state.get(name)
            if array is None or tuple(array.shape) != shape:
                found = "missing" if array is None else f"of shape {list(array.shape)}"
                raise CheckpointError(f"the decoder weight {name} is {found}; the config needs {list(shape)}")
            op["w" if part == "weight" else "b"] = offset
            chunks.append(np.asarray(array, dtype=np.float32).reshape(-1))
            offset += chunks[-1].size
            used.add(name)
    unknown = sorted(k for k in state if k.startswith("decoder.") and k not in used)
    if unknown:
        raise UnsupportedDecoder(f"the browser decoder does not know the weights {unknown[:3]}")
    n_classes = config.n_classes if config.conditional else 0
    spec = {"format": FORMAT, "latent_dim": config.latent_dim, "n_classes": n_classes,
            "input": config.latent_dim + n_classes, "likelihood": config.likelihood,
            "image": list(config.data_shape), "layers": ops}
    weights = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode() + weights.tobytes()).hexdigest()[:16]
    return BrowserDecoder(spec, weights, digest)


def export_checkpoint(folder: str | Path, config: ModelConfig) -> BrowserDecoder:
    """The decoder of the checkpoint in ``folder`` (whose checked config is ``config``), read from
    its model.safetensors without torch (``export_weights``). Raises CheckpointError if the file
    cannot be read (also: a dtype NumPy lacks, such as bfloat16: ``export_decoder`` of the loaded
    model reads those) or does not match the config, UnsupportedDecoder as ``export_weights``."""
    from safetensors import SafetensorError  # noqa: PLC0415
    from safetensors.numpy import load_file  # noqa: PLC0415

    path = Path(folder) / WEIGHTS_FILE
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file: {e}") from e
    except (TypeError, ValueError) as e:  # a dtype NumPy lacks, e.g. bfloat16 (torch reads it)
        raise CheckpointError(f"{path} holds weights NumPy cannot read ({e})") from e
    try:
        return export_weights(config, state)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e


def _walk(module: nn.Module) -> list[dict]:
    """The ops of ``module``'s layers in forward order (Sequential containers flattened), without
    weights, to compare with ``decoder_layout``; raises UnsupportedDecoder for any other layer."""
    from torch import nn  # noqa: PLC0415 (a torch model is being exported: torch is imported)

    if isinstance(module, nn.Sequential):
        return [op for child in module for op in _walk(child)]
    if isinstance(module, nn.ReLU):
        return [{"op": "relu"}]
    if isinstance(module, nn.Linear):
        return [{"op": "linear", "in": module.in_features, "out": module.out_features,
                 "bias": module.bias is not None}]
    if isinstance(module, nn.ConvTranspose2d):
        if module.groups != 1 or tuple(module.dilation) != (1, 1) or module.padding_mode != "zeros":
            raise UnsupportedDecoder(f"{module} (the browser runs groups=1, dilation=1, zero padding)")
        return [{"op": "conv_transpose", "in": module.in_channels, "out": module.out_channels,
                 "kernel": list(module.kernel_size), "stride": list(module.stride),
                 "padding": list(module.padding), "output_padding": list(module.output_padding),
                 "bias": module.bias is not None}]
    raise UnsupportedDecoder(f"the browser decoder cannot run {type(module).__name__} layers")


def export_decoder(model: LatentModel) -> BrowserDecoder:
    """The decoder of the torch ``model`` and its likelihood's mean E[x|z] as a ``BrowserDecoder``.

    Walks the decoder that ``train.models.make_decoder`` built in its forward order and checks that
    its layers are those of ``decoder_layout(model.config)`` (the torch-free path of
    ``export_checkpoint`` relies on it), then exports its weights. Raises UnsupportedDecoder (a
    ValueError) for a layer or likelihood the browser does not run, or layers that differ from the
    layout.
    """
    from train.models import ConvDecoder, MLPDecoder  # noqa: PLC0415 (torch is imported: a torch model)

    decoder = model.decoder
    if isinstance(decoder, MLPDecoder):
        walked = _walk(decoder.net) + [{"op": "reshape", "shape": list(decoder.out_shape)}]
    elif isinstance(decoder, ConvDecoder):
        walked = _walk(decoder.dense) + [{"op": "reshape", "shape": list(decoder.grid)}] + _walk(decoder.net)
    else:
        raise UnsupportedDecoder(f"the browser decoder cannot run a {type(decoder).__name__}")
    layout = decoder_layout(model.config)
    expected = [{k: v for k, v in op.items() if k not in ("key", "in_shape", "out_shape")}
                | ({"bias": True} if "key" in op else {}) for op in layout]
    if walked != expected:
        raise UnsupportedDecoder(f"the decoder's layers {walked} are not those the browser runs for its "
                                 f"config, {expected}")
    state = {k: v.detach().to("cpu").float().numpy() for k, v in model.state_dict().items()}
    return export_weights(model.config, state)


def encode_points(codes: np.ndarray, labels: np.ndarray) -> dict:
    """The test set's 2-D codes and labels for the browser's plane.

    codes: float [N, 2]; labels: int [N] in 0..255. returns {"n", "codes": bytes of float32
    little-endian [N * 2] (x0, y0, x1, y1, ...), "labels": bytes of uint8 [N], "digest"}.
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
    return {"n": int(codes.shape[0]), "codes": codes.tobytes(), "labels": label_bytes, "digest": digest}


def pack(data) -> bytes:
    """``data`` (JSON-able values, and ``bytes`` anywhere in it) as one binary message, which the
    plane receives as Streamlit Components v2 raw bytes and reads with ``unpackData`` (decoder.js).

    Raw bytes travel as they are: no base64 (a third more bytes and a decode) and no JSON string of
    megabytes to parse; and Streamlit does not inspect a dict's values for dataframes, which
    imports pandas (~0.6 s) on the first page. Layout (``ENVELOPE``): the 4 magic bytes, the header's
    length (uint32 little-endian), the header (UTF-8 JSON of ``data`` with each bytes value replaced
    by {"$bytes": [offset, length]}), zeros up to a multiple of 8 bytes, then the blobs, each at
    ``offset`` from there and padded to 8 bytes (so a float32 view needs no copy).
    Raises TypeError for a value that is neither JSON-able nor bytes.
    """
    blobs: list[bytes] = []
    size = 0

    def blob(value):
        nonlocal size
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"cannot pack a {type(value).__name__}")
        value = bytes(value)
        ref = {"$bytes": [size, len(value)]}
        blobs.append(value + b"\0" * (-len(value) % 8))
        size += len(blobs[-1])
        return ref

    header = json.dumps(data, default=blob, separators=(",", ":")).encode("utf-8")
    start = len(ENVELOPE) + 4 + len(header)
    return b"".join([ENVELOPE, len(header).to_bytes(4, "little"), header, b"\0" * (-start % 8), *blobs])


def unpack(message: bytes):
    """The data of a ``pack`` message, with its bytes values back (for tests and tools). Raises
    ValueError if ``message`` is not one."""
    if message[:len(ENVELOPE)] != ENVELOPE or len(message) < len(ENVELOPE) + 4:
        raise ValueError("not a packed plane message")
    n = int.from_bytes(message[len(ENVELOPE):len(ENVELOPE) + 4], "little")
    start = len(ENVELOPE) + 4 + n
    blobs = start + (-start % 8)

    def hook(obj: dict):
        if set(obj) == {"$bytes"}:
            offset, length = obj["$bytes"]
            return bytes(message[blobs + offset: blobs + offset + length])
        return obj

    return json.loads(message[len(ENVELOPE) + 4:start].decode("utf-8"), object_hook=hook)


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
