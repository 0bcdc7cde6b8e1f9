"""The training loop: in-memory tensors, shuffled index batches, Adam, per-epoch test loss.

``train(config)`` fits one model, evaluates it (``train.evaluate``) and, if ``config.out`` is set,
writes a checkpoint folder.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .checkpoint import check_output_folder, save_checkpoint
from .data import DATASETS, Dataset, binarize, load_dataset
from .evaluate import DEFAULT_ELBO_SAMPLES, evaluate_model, evaluation_inputs, mean_objective
from .models import LIKELIHOOD_TYPES, LatentModel, ModelConfig, build_model

PRECISIONS = ("auto", "fp32", "bf16")
DEVICE_TYPES = ("cpu", "cuda", "mps")
# Likelihoods whose p(x|z) is defined only for x in [0, 1] (pixel intensities or binary pixels).
CPUINFO = "/proc/cpuinfo"


@dataclass
class TrainConfig:
    """One training run; every field is a command-line flag of ``python -m train``."""

    kind: str = "vae"  # "ae", "dae", "vae" or "cvae"
    dataset: str = "mnist"  # "mnist", "fashion-mnist" or "toy-gaussians"
    latent_dim: int = 2  # size d of z
    hidden_dims: tuple[int, ...] = (512, 256)  # mlp widths (decoder mirrored); conv: (ch1, ch2, dense)
    arch: str = "mlp"  # "mlp" or "conv"
    likelihood: str = "bernoulli"  # p(x|z): bernoulli, continuous-bernoulli, gaussian, gaussian-learned
    sigma: float = 0.1  # std of the fixed "gaussian" likelihood
    beta: float = 1.0  # KL weight (beta-VAE); 1 = the ELBO
    kl_warmup_epochs: float = 0.0  # linear KL warm-up from 0 to beta over this many epochs
    noise: str = "mask"  # DAE corruption: "mask" or "gaussian"
    noise_level: float = 0.5  # DAE: masked fraction or Gaussian std
    n_samples: int = 1  # z samples per input in the training objective (AEVB's L)
    binarize: bool = False  # dynamic binarization: x ~ Bernoulli(intensity), redrawn every epoch
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3  # Adam learning rate
    lr_final: float | None = None  # if set, cosine decay of the lr to this value by the last epoch
    precision: str = "auto"  # "bf16" autocast for the training steps (evaluation is fp32), "fp32", or
    # "auto": bf16 where the device computes it natively, else fp32 (see resolve_precision)
    seed: int = 0  # seeds init, shuffling, noise, binarization and the evaluation
    device: str = "auto"  # "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "mps", ...
    out: str | None = None  # checkpoint folder to write; None writes nothing
    data_root: str | None = None  # data root (default: $LATENT_EXPLORER_DATA or data/)
    eval_samples: int = DEFAULT_ELBO_SAMPLES  # z samples per test input for the final negative ELBO
    iwae_samples: int = 1000  # K of the final importance-sampled log p(x); 0 skips it
    target_loss: float | None = None  # stop after the first epoch whose test loss is at or below this
    progress: bool = True  # show tqdm progress bars

    def __post_init__(self):
        for name in ("epochs", "batch_size", "eval_samples", "n_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.iwae_samples < 0 or self.kl_warmup_epochs < 0:
            raise ValueError("iwae_samples and kl_warmup_epochs must be >= 0")
        if not self.lr > 0 or (self.lr_final is not None and not 0 <= self.lr_final <= self.lr):
            raise ValueError(f"need lr > 0 and 0 <= lr_final <= lr, got {self.lr} and {self.lr_final}")
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; expected one of {list(DATASETS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; expected one of {list(PRECISIONS)}")
        self.hidden_dims = tuple(self.hidden_dims)

    def model_config(self, data_shape: tuple[int, ...] = (1, 28, 28), n_classes: int = 10) -> ModelConfig:
        """The ModelConfig of this run. Raises ValueError for an invalid combination."""
        return ModelConfig(kind=self.kind, latent_dim=self.latent_dim, hidden_dims=self.hidden_dims,
                           likelihood=self.likelihood, arch=self.arch, data_shape=data_shape,
                           sigma=self.sigma, beta=self.beta, noise=self.noise,
                           noise_level=self.noise_level, n_classes=n_classes)


@dataclass
class TrainResult:
    model: LatentModel
    metrics: dict = field(default_factory=dict)
    checkpoint: Path | None = None


def pick_device(name: str = "auto") -> torch.device:
    """Resolve a device name; ``auto`` picks CUDA, then Apple MPS, then the CPU.

    name: "auto", "cpu", "cuda", "cuda:N" or "mps".
    Raises ValueError naming the value for any other name, or if a named accelerator is not available.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise ValueError(f"unknown device {name!r}; expected auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use --device auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {name!r} requested but there are {torch.cuda.device_count()} CUDA "
                         f"devices; use --device cuda")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r} requested but Apple MPS is not available; use --device auto")
    return device


def cpu_capability() -> str:
    """The instruction set torch's CPU kernels use here: "AVX2", "AVX512", "DEFAULT", ... ("unknown"
    if this torch cannot say). AVX512 alone does not mean native bf16 (see ``cpu_has_native_bf16``)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return "unknown"


def cpu_has_native_bf16(cpuinfo: str = CPUINFO) -> bool:
    """Whether this CPU computes bf16 matrix products natively: AVX512_BF16 or AMX.

    Asks torch where it can tell (``torch._C._cpu._is_avx512_bf16_supported`` /
    ``_is_amx_tile_supported``, absent from some builds), else reads the ``avx512_bf16`` /
    ``amx_bf16`` flags of ``cpuinfo`` (Linux); False where neither can tell (e.g. macOS).
    """
    probes = [getattr(torch._C._cpu, name, None) for name in ("_is_avx512_bf16_supported",
                                                             "_is_amx_tile_supported")]
    probes = [probe for probe in probes if probe is not None]
    if probes:
        return any(probe() for probe in probes)
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            lines = [line for line in f if line.startswith("flags")]
        flags = {flag for line in lines for flag in line.split(":", 1)[-1].split()}
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(requested: str, device: torch.device) -> str:
    """The precision of the training steps: ``requested`` unless it is "auto", which gives "bf16"
    where the device computes bf16 natively (CUDA with ``torch.cuda.is_bf16_supported`` without
    emulation, a CPU with AVX512_BF16 or AMX) and "fp32" elsewhere (an AVX2 CPU would emulate bf16
    and run slower than fp32; Apple MPS). returns: "fp32" or "bf16".
    Raises ValueError for a value not in PRECISIONS.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; expected one of {list(PRECISIONS)}")
    if requested != "auto":
        return requested
    if device.type == "cuda":
        try:
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # an older torch without the argument
            native = torch.cuda.is_bf16_supported()
        return "bf16" if native else "fp32"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def check_data_range(likelihood: str, data: Dataset, binarize: bool = False) -> None:
    """Refuse a likelihood (or dynamic binarization) that does not fit the data's values.

    A likelihood with a bounded ``support`` (bernoulli and continuous-bernoulli: [0, 1]) and
    ``binarize`` (intensities as probabilities) need every input inside it; the Gaussian
    likelihoods take any real values. Reads the min and max of both splits.
    Raises ValueError naming the likelihood, the data and its range, and what to use instead.
    """
    support = LIKELIHOOD_TYPES[likelihood].support
    if support is None and not binarize:
        return
    lo, hi = support or (0.0, 1.0)
    low = min(float(data.train_x.min()), float(data.test_x.min()))
    high = max(float(data.train_x.max()), float(data.test_x.max()))
    if low >= lo and high <= hi:
        return
    what = f"the {likelihood} likelihood" if support is not None else "--binarize"
    fix = "use --likelihood gaussian or gaussian-learned" + (" without --binarize" if binarize else "")
    raise ValueError(f"{what} needs inputs in [{lo:g}, {hi:g}], but the {data.name} data range over "
                     f"[{low:.3g}, {high:.3g}]; {fix}")


def make_adam(model: torch.nn.Module, lr: float) -> torch.optim.Adam:
    """Adam (Kingma & Ba 2015) with the fused kernel where the device supports it (about 10% faster
    per step for the MLPs here on 2 CPU cores), else the default implementation."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=lr)


def kl_weight(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """beta times the linear warm-up factor min(1, step / warm-up steps) (step counts from 1)."""
    if config.kl_warmup_epochs <= 0:
        return config.beta
    return config.beta * min(1.0, step / (config.kl_warmup_epochs * steps_per_epoch))


def train(config: TrainConfig, data: Dataset | None = None) -> TrainResult:
    """Fit one model on a dataset's training split and report test metrics.

    data: a preloaded Dataset (default: ``load_dataset(config.dataset, config.data_root)``).
    returns: TrainResult with the model (eval mode), metrics, and the checkpoint path if written.
    metrics records the precision used ("precision"), the one asked for ("precision_requested")
    and the CPU's ``cpu_capability``.
    Raises, before the data is loaded, ValueError for an invalid device or precision and
    CheckpointError (a ValueError) if ``config.out`` cannot be written (``check_output_folder``);
    DatasetUnavailableError if the data cannot be loaded; ValueError, before the first step, if
    the likelihood does not fit the data's range (``check_data_range``).
    """
    device = pick_device(config.device)
    precision = resolve_precision(config.precision, device)
    if config.out:
        check_output_folder(config.out)
    data = data or load_dataset(config.dataset, config.data_root)
    model_config = config.model_config(data.data_shape, len(data.classes))
    check_data_range(model_config.likelihood, data, config.binarize)
    torch.manual_seed(config.seed)
    # Each split is one tensor on the device; batches are drawn by index, no per-sample transforms.
    x_train, y_train = data.train_x.to(device), data.train_y.to(device)
    x_test = evaluation_inputs(data, config.binarize, config.seed).to(device)
    y_test = data.test_y.to(device) if model_config.conditional else None
    n_train = x_train.shape[0]

    model = build_model(model_config).to(device)
    optimizer = make_adam(model, config.lr)
    steps_per_epoch = -(-n_train // config.batch_size)
    scheduler = None
    if config.lr_final is not None:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=config.epochs * steps_per_epoch, eta_min=config.lr_final
        )
    generator = torch.Generator(device=device).manual_seed(config.seed)
    shuffle = torch.Generator().manual_seed(config.seed)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    history = []
    step_count = 0
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n_train, generator=shuffle).to(device)
        x_epoch = binarize(x_train, generator) if config.binarize else x_train
        running = torch.zeros((), device=device)
        bar = tqdm(range(steps_per_epoch), desc=f"{config.kind} epoch {epoch}/{config.epochs}",
                   unit="step", disable=not config.progress, leave=False)
        for step in bar:
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            step_count += 1
            with autocast:
                terms = model.objective(x_epoch[idx], y_train[idx], n_samples=config.n_samples)
                loss = terms.training_loss(kl_weight(config, step_count, steps_per_epoch)).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            running += loss.detach().float()
            if step % 50 == 49:
                bar.set_postfix(loss=f"{running.item() / (step + 1):.2f}")
        train_loss = running.item() / steps_per_epoch
        test = mean_objective(model, x_test, y_test)
        history.append({"epoch": epoch, "train_loss": train_loss, "test_loss": test["loss"],
                        "test_recon": test["recon"], "test_kl": test["kl"],
                        "seconds": round(time.perf_counter() - start, 2)})
        tqdm.write(f"{config.kind} epoch {epoch:3d}: train loss {train_loss:8.3f}  "
                   f"test loss {test['loss']:8.3f} nats/input")
        if config.target_loss is not None and test["loss"] <= config.target_loss:
            break
    wall = time.perf_counter() - start

    metrics = evaluate_model(model, x_test, y_test, k=config.iwae_samples, elbo_samples=config.eval_samples,
                             seed=config.seed, progress=config.progress)
    if config.binarize:
        metrics["test_binarization_seed"] = config.seed
    metrics.update({"binarized": config.binarize, "epochs": len(history), "wall_time_s": round(wall, 1),
                    "device": str(device), "device_name": _device_name(device), "torch": torch.__version__,
                    "precision": precision, "precision_requested": config.precision,
                    "cpu_capability": cpu_capability(), "history": history})
    model.eval()
    checkpoint = None
    if config.out:
        settings = {k: v for k, v in asdict(config).items() if k not in ("out", "data_root", "progress")}
        settings["hidden_dims"] = list(config.hidden_dims)
        dataset = data.describe()
        dataset.update({"binarized": config.binarize, "test_binarization_seed": config.seed})
        checkpoint = save_checkpoint(model, config.out, training=settings, metrics=metrics, dataset=dataset)
    return TrainResult(model=model, metrics=metrics, checkpoint=checkpoint)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()
