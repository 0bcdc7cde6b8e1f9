"""The training loop: in-memory tensors, shuffled index batches, Adam, per-epoch test loss.

``train(config)`` fits one model, evaluates it (``train.evaluate``) and, if ``config.out`` is set,
writes a checkpoint folder.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .checkpoint import FRAMES_FILE, check_output_folder, save_checkpoint
from .codes import encode_test_split
from .data import DATA_ROOT_ENV, DATASETS, Dataset, binarize, load_dataset
from .evaluate import DEFAULT_ELBO_SAMPLES, evaluate_model, evaluation_inputs, mean_objective
from .frames import (
    DEFAULT_FRAMES,
    FRAME_INPUTS,
    MAX_DEFAULT_LATENT,
    FrameRecorder,
    Frames,
    check_frames_budget,
)
from .models import LIKELIHOOD_TYPES, LatentModel, ModelConfig, build_model

PRECISIONS = ("auto", "fp32", "bf16")
DEVICE_TYPES = ("cpu", "cuda", "mps")
# Likelihoods whose p(x|z) is defined only for x in [0, 1] (pixel intensities or binary pixels).
CPUINFO = "/proc/cpuinfo"


def _flag(default, help: str, **more) -> field:
    """A TrainConfig field that is a command-line flag of ``python -m train`` (its help in metadata)."""
    return field(default=default, metadata={"help": help, **more})


@dataclass
class TrainConfig:
    """One training run: the model's settings and the training's. Every field of both (but the
    model's data_shape and n_classes, which come from the dataset) is a flag of ``python -m train``,
    generated from these fields (``train.__main__.build_parser``).

    ``TrainConfig.of(kind="vae", epochs=8)`` builds one from flat settings, and ``replace`` changes
    some, whichever of the two they belong to.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    dataset: str = _flag("mnist", "the data to train on", choices=tuple(DATASETS))
    kl_warmup_epochs: float = _flag(0.0, "linear KL warm-up from 0 to beta over this many epochs")
    n_samples: int = _flag(1, "z samples per input in the training objective (AEVB's L)")
    binarize: bool = _flag(False, "dynamically binarize the images, x ~ Bernoulli(intensity), redrawn every "
                                  "epoch")
    epochs: int = _flag(30, "passes over the training split")
    batch_size: int = _flag(128, "inputs per optimisation step")
    lr: float = _flag(1e-3, "Adam learning rate")
    lr_final: float | None = _flag(None, "cosine-decay the learning rate to this value by the last epoch "
                                         "(default: constant)")
    precision: str = _flag("auto", "bf16 autocasts the training steps (evaluation stays fp32); auto uses "
                                   "bf16 where the device computes it natively (CUDA, CPUs with AVX512_BF16 "
                                   "or AMX), else fp32", choices=PRECISIONS)
    seed: int = _flag(0, "seeds init, shuffling, noise, binarization and the evaluation")
    device: str = _flag("auto", "auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N, mps")
    out: str | None = _flag(None, "checkpoint folder to write, e.g. checkpoints/my-vae: a new or empty "
                                  "folder, or a checkpoint to replace (anything else is refused before "
                                  "training)")
    data_root: str | None = _flag(None, f"data root (default: ${DATA_ROOT_ENV} or ./data)")
    eval_samples: int = _flag(DEFAULT_ELBO_SAMPLES, "z samples per test input for the final negative ELBO")
    iwae_samples: int = _flag(1000, "K of the final importance-sampled log p(x); 0 skips it")
    target_loss: float | None = _flag(None, "stop after the first epoch whose test loss (nats) is at or "
                                            "below this")
    frames: int | None = _flag(None, f"record N frames at log-spaced steps from 0 to the last: the codes "
                                     f"of {FRAME_INPUTS} test inputs, losses, a decoded manifold, into "
                                     f"frames.safetensors beside the weights; 0 = off (default: "
                                     f"{DEFAULT_FRAMES} for a latent size <= {MAX_DEFAULT_LATENT}, else 0)")
    live_frames: str | None = _flag(None, "a folder where the frames recorded so far are kept while the "
                                          "run trains (its frames.safetensors is replaced after each "
                                          "frame): to watch a run live")
    progress: bool = field(default=True, metadata={"cli": False})  # tqdm progress bars (--no-progress)

    def __post_init__(self):
        for name in ("epochs", "batch_size", "eval_samples", "n_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.frames is not None and (self.frames < 0 or self.frames == 1):
            raise ValueError(f"frames must be 0 (off) or >= 2 (step 0 and the last step), got {self.frames}")
        if self.iwae_samples < 0 or self.kl_warmup_epochs < 0:
            raise ValueError("iwae_samples and kl_warmup_epochs must be >= 0")
        if not self.lr > 0 or (self.lr_final is not None and not 0 <= self.lr_final <= self.lr):
            raise ValueError(f"need lr > 0 and 0 <= lr_final <= lr, got {self.lr} and {self.lr_final}")
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; expected one of {list(DATASETS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; expected one of {list(PRECISIONS)}")

    @classmethod
    def of(cls, **settings) -> TrainConfig:
        """A TrainConfig from flat settings, e.g. ``of(kind="vae", latent_dim=2, epochs=8)``: the names
        of ModelConfig's fields go to ``model``, the rest to the run. Raises ValueError (TypeError for
        an unknown name) as the two dataclasses do."""
        return cls().replace(**settings)

    def replace(self, **settings) -> TrainConfig:
        """A copy with some settings changed, each a field of ModelConfig or of TrainConfig."""
        model_names = {f.name for f in fields(ModelConfig)}
        model = {k: v for k, v in settings.items() if k in model_names}
        run = {k: v for k, v in settings.items() if k not in model_names}
        return dataclasses.replace(self, model=dataclasses.replace(self.model, **model), **run)

    def frames_to_record(self) -> int:
        """The frames this run records: ``frames`` if given, else DEFAULT_FRAMES for a latent size
        <= MAX_DEFAULT_LATENT and 0 (off) above."""
        if self.frames is not None:
            return self.frames
        return DEFAULT_FRAMES if self.model.latent_dim <= MAX_DEFAULT_LATENT else 0

    def training_settings(self) -> dict:
        """The run's settings as stored in a checkpoint's config.json ("training"), JSON-ready: every
        field but the model (stored on its own) and where things are read or written; ``frames`` as
        resolved (``frames_to_record``)."""
        settings = {f.name: getattr(self, f.name) for f in fields(self)
                    if f.name not in ("model", "out", "data_root", "progress", "live_frames")}
        return {**settings, "frames": self.frames_to_record()}


@dataclass
class TrainResult:
    """model: the trained model (eval mode); metrics: as in metrics.json; checkpoint: the folder
    written (None without ``out``); frames: the frames recorded (None with 0 frames)."""

    model: LatentModel
    metrics: dict = field(default_factory=dict)
    checkpoint: Path | None = None
    frames: Frames | None = None


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
        return config.model.beta
    return config.model.beta * min(1.0, step / (config.kl_warmup_epochs * steps_per_epoch))


class _Objective(torch.nn.Module):
    """The training loss as a module's forward, so that DistributedDataParallel (which synchronises
    gradients through forward) can wrap it: forward(x, y, weight) -> (mean loss, LossTerms)."""

    def __init__(self, model: LatentModel, n_samples: int):
        super().__init__()
        self.model = model
        self.n_samples = n_samples

    def forward(self, x, y, weight: float):
        terms = self.model.objective(x, y, n_samples=self.n_samples)
        return terms.training_loss(weight).mean(), terms


def distributed_context(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, this process's device) under ``torchrun`` (WORLD_SIZE > 1 in the
    environment): joins the process group, gloo on the CPU and NCCL on CUDA (each process on
    cuda:LOCAL_RANK); (0, 1, device) otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    from torch import distributed as dist  # noqa: PLC0415

    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def train(config: TrainConfig, data: Dataset | None = None) -> TrainResult:
    """Fit one model on a dataset's training split and report test metrics.

    data: a preloaded Dataset (default: ``load_dataset(config.dataset, config.data_root)``).
    returns: TrainResult with the model (eval mode), metrics, the checkpoint path if written and the
    frames if recorded (``config.frames_to_record()``; ``train.frames``: written with the checkpoint
    as frames.safetensors; recording leaves the weights exactly as they are without it).
    A checkpoint also holds the final model's codes of the test split (``train.codes``:
    codes.safetensors), encoded after the evaluation, in eval mode, drawing no random numbers.
    metrics records the precision used ("precision"), the one asked for ("precision_requested"),
    the CPU's ``cpu_capability`` and the seconds spent recording frames ("frames_seconds", part of
    "wall_time_s").
    Raises, before the data is loaded, ValueError for an invalid device or precision and
    CheckpointError (a ValueError) if ``config.out`` cannot be written (``check_output_folder``);
    DatasetUnavailableError if the data cannot be loaded; ValueError, before the first step, if
    the likelihood does not fit the data's range (``check_data_range``) or the frames asked for
    could exceed their size cap (``train.frames.check_frames_budget``).
    """
    device = pick_device(config.device)
    rank, world, device = distributed_context(device)
    precision = resolve_precision(config.precision, device)
    if config.out and rank == 0:
        check_output_folder(config.out)
    data = data or load_dataset(config.dataset, config.data_root)
    # The model's input shape and number of classes are the dataset's. Raises ValueError for a
    # combination the data does not allow (e.g. the conv arch on 2-D points).
    model_config = dataclasses.replace(config.model, data_shape=data.data_shape, n_classes=len(data.classes))
    check_data_range(model_config.likelihood, data, config.binarize)
    n_frames = config.frames_to_record()
    check_frames_budget(n_frames, min(FRAME_INPUTS, data.test_x.shape[0]), model_config)
    torch.manual_seed(config.seed)
    # Each split is one tensor on the device; batches are drawn by index, no per-sample transforms.
    x_train, y_train = data.train_x.to(device), data.train_y.to(device)
    x_test = evaluation_inputs(data, config.binarize, config.seed).to(device)
    y_test = data.test_y.to(device) if model_config.conditional else None
    n_train = x_train.shape[0]

    model = build_model(model_config).to(device)
    optimizer = make_adam(model, config.lr)
    objective = None
    if world > 1:  # torchrun: each process takes its share of every batch; DDP averages the gradients
        objective = torch.nn.parallel.DistributedDataParallel(_Objective(model, config.n_samples))
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
    recorder = None
    if n_frames and rank == 0:  # frame 0: the untrained network (recording uses no global random state)
        recorder = FrameRecorder(model, x_test, data.test_y.to(device), n_frames=n_frames,
                                 total_steps=config.epochs * steps_per_epoch, steps_per_epoch=steps_per_epoch,
                                 seed=config.seed)
        recorder.record(0, kl_weight(config, 0, steps_per_epoch))
        _write_live_frames(recorder, config.live_frames)
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n_train, generator=shuffle).to(device)
        x_epoch = binarize(x_train, generator) if config.binarize else x_train
        running = torch.zeros((), device=device)
        bar = tqdm(range(steps_per_epoch), desc=f"{model_config.kind} epoch {epoch}/{config.epochs}",
                   unit="step", disable=not config.progress or rank != 0, leave=False)
        for step in bar:
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            step_count += 1
            with autocast:
                if objective is None:
                    terms = model.objective(x_epoch[idx], y_train[idx], n_samples=config.n_samples)
                    loss = terms.training_loss(kl_weight(config, step_count, steps_per_epoch)).mean()
                else:  # this process's share of the batch (the same batch in every process)
                    share = idx[rank::world]
                    loss, terms = objective(x_epoch[share], y_train[share],
                                            kl_weight(config, step_count, steps_per_epoch))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            running += loss.detach().float()
            if recorder is not None:
                recorder.add_train(terms)
                if recorder.due(step_count):
                    recorder.record(step_count, kl_weight(config, step_count, steps_per_epoch))
                    _write_live_frames(recorder, config.live_frames)
            if step % 50 == 49:
                bar.set_postfix(loss=f"{running.item() / (step + 1):.2f}")
        if world > 1:  # the mean over every process's share, as one process would report it
            from torch import distributed as dist  # noqa: PLC0415

            dist.all_reduce(running)
            running /= world
        train_loss = running.item() / steps_per_epoch
        test = mean_objective(model, x_test, y_test)
        history.append({"epoch": epoch, "train_loss": train_loss, "test_loss": test["loss"],
                        "test_recon": test["recon"], "test_kl": test["kl"],
                        "seconds": round(time.perf_counter() - start, 2)})
        if rank == 0:
            tqdm.write(f"{model_config.kind} epoch {epoch:3d}: train loss {train_loss:8.3f}  "
                       f"test loss {test['loss']:8.3f} nats/input")
        if config.target_loss is not None and test["loss"] <= config.target_loss:
            break
    frames = None
    if recorder is not None:  # the final model, if the run stopped before the planned last step
        recorder.finish(step_count, kl_weight(config, step_count, steps_per_epoch))
        frames = recorder.frames()
        _write_live_frames(recorder, config.live_frames)
    wall = time.perf_counter() - start
    if rank != 0:  # process 0 evaluates and writes the checkpoint, metrics and frames
        model.eval()
        return TrainResult(model=model, metrics={"history": history, "rank": rank}, checkpoint=None)

    metrics = evaluate_model(model, x_test, y_test, k=config.iwae_samples, elbo_samples=config.eval_samples,
                             seed=config.seed, progress=config.progress)
    if config.binarize:
        metrics["test_binarization_seed"] = config.seed
    metrics.update({"binarized": config.binarize, "epochs": len(history), "wall_time_s": round(wall, 1),
                    "device": str(device), "device_name": _device_name(device), "torch": torch.__version__,
                    "precision": precision, "precision_requested": config.precision,
                    "cpu_capability": cpu_capability(), "history": history})
    if recorder is not None:
        metrics["frames_seconds"] = round(recorder.seconds, 2)
    if world > 1:
        metrics["processes"] = world
    model.eval()
    checkpoint = None
    if config.out:
        settings = config.training_settings()
        dataset = data.config_section()
        dataset.update({"binarized": config.binarize, "test_binarization_seed": config.seed})
        codes = encode_test_split(model, data)  # the test split as the explorer shows it (never binarized)
        checkpoint = save_checkpoint(model, config.out, training=settings, metrics=metrics, dataset=dataset,
                                     frames=frames, codes=codes)
    return TrainResult(model=model, metrics=metrics, checkpoint=checkpoint, frames=frames)


def _write_live_frames(recorder: FrameRecorder, folder: str | None) -> None:
    """The frames recorded so far into ``folder``/frames.safetensors (``--live-frames``), replaced
    atomically (a reader sees the previous file or the new one, never half of one). Touches no random
    state and no model: the run's weights stay exactly as they would be without it."""
    if folder is None:
        return
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f".{FRAMES_FILE}.{os.getpid()}.tmp"
    tmp.write_bytes(recorder.frames().to_bytes())
    os.replace(tmp, target / FRAMES_FILE)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()
