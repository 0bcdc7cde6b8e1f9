"""A model's configuration (``ModelConfig``, stored in a checkpoint's config.json) and the names and
bounds it is checked against. No torch: reading and checking a checkpoint's config, as the explorer's
model list and first page do, does not wait for PyTorch to import (~1.5 s on 2 cores).

The networks themselves are built in ``train.models`` (which re-exports everything here).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

DATASETS = ("mnist", "fashion-mnist", "toy-gaussians")  # what ``train.data.load_dataset`` loads
MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
IMAGE_SHAPE = (1, 28, 28)

# The names of each kind, short (plots, captions) and long (descriptions).
MODEL_KIND_NAMES = {"ae": ("AE", "autoencoder"), "dae": ("DAE", "denoising autoencoder"),
                    "vae": ("VAE", "VAE"), "cvae": ("CVAE", "conditional VAE")}
ARCHS = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "continuous-bernoulli", "gaussian", "gaussian-learned")
NOISES = ("mask", "gaussian")
# Decoder outputs per input value for each likelihood p(x|z) (``Likelihood.n_params`` in
# train.models, which checks that they agree): the learned Gaussian also outputs a log-variance.
LIKELIHOOD_OUTPUTS = {"bernoulli": 1, "continuous-bernoulli": 1, "gaussian": 1, "gaussian-learned": 2}
# A config (e.g. read from a checkpoint's config.json) describing a larger network is refused before
# anything is allocated: the shipped models have about 1 M parameters.
MAX_PARAMETERS = 50_000_000
MAX_LAYERS = 16
MAX_LATENT_DIM = 1024  # the explorer keeps every test digit's code: [10000, d] floats


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; stored in a checkpoint's config.json."""

    kind: str = field(default="vae", metadata={
        "help": "ae, dae (denoising), vae, cvae (conditional)", "choices": tuple(MODEL_KIND_NAMES)})
    latent_dim: int = field(default=2, metadata={"help": "size d of the latent z"})
    hidden_dims: tuple[int, ...] = field(default=(512, 256), metadata={
        "help": "mlp: encoder widths, the decoder mirrors them; conv: channels1 channels2 dense"})
    likelihood: str = field(default="bernoulli", metadata={"help": "p(x|z)", "choices": LIKELIHOODS})
    arch: str = field(default="mlp", metadata={"help": "encoder and decoder networks", "choices": ARCHS})
    data_shape: tuple[int, ...] = field(default=IMAGE_SHAPE, metadata={
        "help": "shape of one input x (set from the dataset)", "from_data": True})
    sigma: float = field(default=0.1, metadata={
        "help": "std of the fixed-variance 'gaussian' likelihood, in units of x"})
    beta: float = field(default=1.0, metadata={
        "help": "weight of the KL term in the training loss (beta-VAE); 1 = the ELBO"})
    noise: str = field(default="mask", metadata={
        "help": "DAE corruption: mask (set pixels to 0) or gaussian (add noise)", "choices": NOISES})
    noise_level: float = field(default=0.5, metadata={
        "help": "DAE: fraction of pixels masked, or the Gaussian noise std"})
    n_classes: int = field(default=10, metadata={
        "help": "CVAE: number of label classes (set from the dataset)", "from_data": True})

    def __post_init__(self):
        """Check every field's type and range, then the size of the network it describes.

        Raises ValueError naming the field (e.g. ``latent_dim must be a whole number, got 2.5``), or
        the parameter count if the network would exceed ``MAX_PARAMETERS``: a config read from a
        file is refused here, before any weight is allocated.
        """
        for name in ("kind", "likelihood", "arch", "noise"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {getattr(self, name)!r}")
        for name in ("latent_dim", "n_classes"):
            _check_whole(name, getattr(self, name))
        for name in ("hidden_dims", "data_shape"):
            value = getattr(self, name)
            if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
                raise ValueError(f"{name} must be a list of whole numbers, got {value!r}")
            for item in value:
                _check_whole(f"each of {name}", item)
            object.__setattr__(self, name, tuple(int(v) for v in value))
        for name in ("sigma", "beta", "noise_level"):
            value = getattr(self, name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            try:
                finite = number and math.isfinite(value)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite:
                raise ValueError(f"{name} must be a finite number, got {str(value)[:40]}")
        if len(self.hidden_dims) > MAX_LAYERS or len(self.data_shape) > 3:
            raise ValueError(f"at most {MAX_LAYERS} hidden layers and 3 data dimensions, got "
                             f"{len(self.hidden_dims)} and {len(self.data_shape)}")
        sizes = (self.latent_dim, self.n_classes, *self.hidden_dims, math.prod(self.data_shape))
        if max(sizes) > MAX_PARAMETERS:
            size = f"{max(sizes):,}" if max(sizes) < 10**18 else f"{str(max(sizes))[:20]}…"
            raise ValueError(f"a size of {size} is beyond the {MAX_PARAMETERS:,}-parameter cap")
        if self.latent_dim > MAX_LATENT_DIM:
            raise ValueError(f"latent_dim must be at most {MAX_LATENT_DIM}, got {self.latent_dim}")
        if self.kind not in MODEL_KIND_NAMES:
            raise ValueError(f"unknown model kind {self.kind!r}; expected one of {list(MODEL_KIND_NAMES)}")
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1, got {self.latent_dim}")
        if not self.hidden_dims or min(self.hidden_dims) < 1:
            raise ValueError(f"hidden_dims must be positive widths, got {self.hidden_dims}")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {self.likelihood!r}; expected one of {list(LIKELIHOODS)}")
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; expected one of {list(ARCHS)}")
        if not self.data_shape or min(self.data_shape) < 1:
            raise ValueError(f"data_shape must be positive sizes, got {self.data_shape}")
        if self.arch == "conv":
            if len(self.hidden_dims) != 3:
                raise ValueError(f"the conv arch takes hidden_dims = (channels1, channels2, dense), "
                                 f"got {self.hidden_dims}")
            if len(self.data_shape) != 3 or self.data_shape[1] % 4 or self.data_shape[2] % 4:
                raise ValueError(f"the conv arch needs images [C, H, W] with H, W divisible by 4, "
                                 f"got {self.data_shape}")
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0, got {self.sigma}")
        if not self.beta >= 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.noise not in NOISES:
            raise ValueError(f"unknown noise {self.noise!r}; expected one of {list(NOISES)}")
        if not self.noise_level >= 0 or (self.noise == "mask" and self.noise_level >= 1):
            raise ValueError(f"noise_level must be >= 0 (and < 1 for masking), got {self.noise_level}")
        if self.n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {self.n_classes}")
        count = self.parameter_count()
        if count > MAX_PARAMETERS:
            raise ValueError(f"this network would have {count:,} parameters; the cap is {MAX_PARAMETERS:,}")

    def parameter_count(self) -> int:
        """The number of weights (and biases) of the model this config builds, from the sizes alone:
        nothing is allocated, however large the config, and torch is not needed.

        Counts what ``train.models`` builds (``tests/test_schema.py`` checks it against the model
        built on PyTorch's "meta" device for every kind, arch, likelihood and the CVAE): an MLP
        encoder [D (+ n_c), *hidden_dims, d or 2d] and its mirrored decoder [d (+ n_c), ...,
        k * D]; or, for ``conv``, two 3x3 convolutions and a dense layer and their transposes;
        k = ``LIKELIHOOD_OUTPUTS[likelihood]`` decoder outputs per input value.
        """
        cond = self.n_classes if self.conditional else 0
        out_dim = (2 if self.variational else 1) * self.latent_dim
        size = math.prod(self.data_shape)
        k = LIKELIHOOD_OUTPUTS[self.likelihood]
        if self.arch == "mlp":
            return (_mlp_count([size + cond, *self.hidden_dims, out_dim])
                    + _mlp_count([self.latent_dim + cond, *reversed(self.hidden_dims), k * size]))
        c1, c2, dense = self.hidden_dims
        channels, height, width = self.data_shape
        grid = c2 * (height // 4) * (width // 4)
        encoder = _conv_count(channels, c1) + _conv_count(c1, c2) + _mlp_count([grid + cond, dense, out_dim])
        decoder = (_mlp_count([self.latent_dim + cond, grid]) + _conv_count(c2, c2) + _conv_count(c2, c1)
                   + _conv_count(c1, k * channels))
        return encoder + decoder

    @property
    def variational(self) -> bool:
        """True for the VAE family (a posterior q(z|x) and a prior p(z))."""
        return self.kind in ("vae", "cvae")

    @property
    def conditional(self) -> bool:
        """True when the model takes the label y (the CVAE)."""
        return self.kind == "cvae"

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden_dims": list(self.hidden_dims), "data_shape": list(self.data_shape)}

    @property
    def label(self) -> str:
        """The kind's short name: "AE", "DAE", "VAE", "β-VAE (β = 4)" or "CVAE"."""
        return self._named(MODEL_KIND_NAMES[self.kind][0])

    def describe(self) -> str:
        """A one-line description, e.g. "β-VAE (β = 4), mlp, d = 2, bernoulli p(x|z)"."""
        return f"{self._named(MODEL_KIND_NAMES[self.kind][1])}, {self.arch}, d = {self.latent_dim}, " \
               f"{self.likelihood} p(x|z)"

    def _named(self, name: str) -> str:
        return f"β-{name} (β = {self.beta:g})" if self.variational and self.beta != 1 else name


def _check_whole(name: str, value) -> None:
    """Raise ValueError unless ``value`` is a whole number (an int, not a bool or a float such as 2.5)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")


def _mlp_count(widths: list[int]) -> int:
    """Weights and biases of ``nn.Linear`` layers of the given widths (``train.models.mlp``)."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(widths[:-1], widths[1:], strict=True))


def _conv_count(c_in: int, c_out: int, kernel: int = 3) -> int:
    """Weights and biases of a ``kernel`` x ``kernel`` (transposed) convolution."""
    return c_in * c_out * kernel * kernel + c_out
