"""A zoo of damaged checkpoint folders, each a copy of a shipped checkpoint with one thing wrong.

Used by the schema, app, evaluation and warm-up tests: whatever reads checkpoints must list each of
these as broken (or fail to load it) with a reason, and keep working for every other folder.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "checkpoints"


def _edit(name: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    """A damage that loads the JSON file ``name``, lets ``change`` edit it, and writes it back."""
    def damage(folder: Path) -> None:
        value = json.loads((folder / name).read_text())
        change(value)
        (folder / name).write_text(json.dumps(value))
    return damage


def _config(change: Callable[[dict], object]) -> Callable[[Path], None]:
    return _edit("config.json", change)


def _metrics(change: Callable[[dict], object]) -> Callable[[Path], None]:
    return _edit("metrics.json", change)


def _write(name: str, text: str | bytes) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / name
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return damage


def _model(**fields) -> Callable[[Path], None]:
    return _config(lambda c: c["model"].update(fields))


# name -> (damage, a fragment of the reason the schema gives). Each fails the metadata schema, so it
# is listed as broken and never formatted or loaded. First those with a bad config.json:
BAD_CONFIG: dict[str, tuple[Callable[[Path], None], str]] = {
    "bad-dataset-string": (_config(lambda c: c.update(dataset="mnist")), "'dataset' must be an object"),
    "bad-dataset-null": (_config(lambda c: c.update(dataset=None)), "'dataset' must be an object"),
    "bad-dataset-unknown": (_config(lambda c: c["dataset"].update(name="cifar10")), "'dataset.name'"),
    "bad-hidden-huge": (_model(hidden_dims=[100000, 100000]), "parameters; the cap is 50,000,000"),
    "bad-latent-1e12": (_model(latent_dim=1e12), "latent_dim must be a whole number"),
    "bad-latent-10to12": (_model(latent_dim=10**12), "cap"),
    "bad-data-shape-huge": (_model(data_shape=[1, 100000, 100000]), "cap"),
    "bad-latent-fraction": (_model(latent_dim=2.5), "latent_dim must be a whole number, got 2.5"),
    "bad-kind": (_model(kind="gan"), "unknown model kind 'gan'"),
    "bad-model-extra-field": (_model(layers=3), "fields this version does not know"),
    "bad-model-null": (_config(lambda c: c.update(model=None)), "'model' must be an object"),
    "bad-config-not-json": (_write("config.json", "{ not json"), "is not valid JSON"),
    "bad-config-list": (_write("config.json", "[]"), "does not hold a JSON object"),
    "bad-format-version": (_config(lambda c: c.update(format_version=2)), "format_version 2"),
    "bad-sigma-400-digits": (_model(sigma=10**400), "sigma must be a finite number"),
    "bad-config-nested": (_write("config.json", "[" * 100_000 + "]" * 100_000), "is not valid JSON"),
    "bad-latent-2000": (_model(latent_dim=2000), "latent_dim must be at most 1024"),
}
# ... and those with a bad metrics.json (the model itself can be loaded and evaluated).
BAD_METRICS: dict[str, tuple[Callable[[Path], None], str]] = {
    "bad-elbo-text": (_metrics(lambda m: m.update(test_negative_elbo="abc")), "'test_negative_elbo'"),
    "bad-elbo-nan": (_write("metrics.json", '{"test_recon_nll": NaN}'), "finite number"),
    "bad-elbo-without-parts": (_metrics(lambda m: m.pop("test_recon_nll")), "without test_recon_nll"),
    "bad-kl-per-dim-length": (_metrics(lambda m: m.update(kl_per_dim=[1.0])), "'kl_per_dim'"),
    "bad-history-text": (_metrics(lambda m: m["history"][0].update(train_loss="x")), "'history'"),
    "bad-metrics-not-object": (_write("metrics.json", "[1, 2]"), "does not hold a JSON object"),
    "bad-metrics-missing": (lambda folder: (folder / "metrics.json").unlink(), "has no metrics.json"),
    "bad-metrics-5000-digits": (_write("metrics.json", '{"test_recon_nll": ' + "9" * 5000 + "}"),
                                "is not valid JSON"),
    "bad-kl-without-variances": (_metrics(lambda m: m.pop("mean_variance_per_dim")),
                                 "is reported without mean_variance_per_dim"),
}
FAILS_SCHEMA = BAD_CONFIG | BAD_METRICS

# Pass the schema (their JSON is fine) but cannot be loaded: the page that loads one says why.
FAILS_LOAD: dict[str, Callable[[Path], None]] = {
    "bad-weights-missing": lambda folder: (folder / "model.safetensors").unlink(),
    "bad-weights-pickle": _write("model.safetensors", pickle.dumps({"weights": [1, 2, 3]})),
    "bad-weights-truncated": lambda folder: (folder / "model.safetensors").write_bytes(
        (folder / "model.safetensors").read_bytes()[:1000]),
    # config.json edited to wider layers: the weights (and so their codes.safetensors, which name
    # them by digest) are intact, but not the network the config describes
    "bad-config-other-network": _config(lambda c: c["model"].update(
        hidden_dims=[width + 1 for width in c["model"]["hidden_dims"]])),
}


def write_bad_checkpoints(root: Path, base: str = "mnist-vae-2d") -> list[str]:
    """Write every damaged folder of the zoo under ``root`` (copies of the shipped ``base``);
    returns their names."""
    root.mkdir(parents=True, exist_ok=True)
    damages = {name: damage for name, (damage, _) in FAILS_SCHEMA.items()} | FAILS_LOAD
    for name, damage in damages.items():
        shutil.copytree(SHIPPED / base, root / name)
        damage(root / name)
    return list(damages)


def copy_shipped(root: Path, *names: str) -> None:
    """Copy shipped checkpoint folders under ``root``."""
    for name in names:
        shutil.copytree(SHIPPED / name, root / name)


# Damaged frames.safetensors files: read_frames refuses each with the reason, while the checkpoint
# itself stays whole (its JSON passes the schema and its model loads). Not part of the zoo above,
# whose folders are all broken; applied to a checkpoint that has frames.
def _frames(change: Callable[[dict, dict], object]) -> Callable[[Path], None]:
    """A damage that reads the frames file's tensors and metadata, lets ``change`` edit them (in
    place), and writes the file back (a valid safetensors file with the edited content)."""
    def damage(folder: Path) -> None:
        from safetensors import safe_open
        from safetensors.numpy import save

        path = folder / "frames.safetensors"
        with safe_open(str(path), framework="numpy") as f:
            metadata = dict(f.metadata())
            tensors = {name: f.get_tensor(name) for name in f.keys()}
        change(tensors, metadata)
        path.write_bytes(save(tensors, metadata=metadata))
    return damage


def _garble(folder: Path) -> None:
    """Overwrite 64 bytes of the JSON header (just after its 8-byte length) with bytes that are not JSON."""
    data = bytearray((folder / "frames.safetensors").read_bytes())
    data[20:84] = bytes(range(128, 192))
    (folder / "frames.safetensors").write_bytes(bytes(data))


class _Exploit:
    """A pickle that creates a file when unpickled: what a loader that unpickles would run."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


BAD_FRAMES: dict[str, tuple[Callable[[Path], None], str]] = {
    "frames-truncated": (lambda folder: (folder / "frames.safetensors").write_bytes(
        (folder / "frames.safetensors").read_bytes()[:1000]), "is not a readable safetensors file"),
    "frames-garbled": (_garble, "is not a readable safetensors file"),
    "frames-empty": (_write("frames.safetensors", b""), "is not a readable safetensors file"),
    "frames-pickle": (lambda folder: (folder / "frames.safetensors").write_bytes(
        pickle.dumps({"codes": _Exploit(str(folder.parent / f"{folder.name}-code-ran"))})),
        "is not a readable safetensors file"),
    "frames-weights": (lambda folder: shutil.copy(folder / "model.safetensors",
                                                  folder / "frames.safetensors"), "is not a frames file"),
    "frames-too-large": (lambda folder: (folder / "frames.safetensors").write_bytes(b"\0" * 3_100_000),
                         "frames files are at most 3 MB"),
    "frames-version-2": (_frames(lambda t, m: m.update(format_version="2")), "format_version '2'"),
    "frames-codes-float64": (_frames(lambda t, m: t.update(codes=t["codes"].astype("float64"))),
                             "'codes' must be float16 or float32, got float64"),
    "frames-codes-missing": (_frames(lambda t, m: t.pop("codes")), "'codes' is missing"),
    "frames-steps-repeat": (_frames(lambda t, m: t["step"].__setitem__(1, t["step"][0])),
                            "strictly increasing"),
    "frames-index-short": (_frames(lambda t, m: t.update(index=t["index"][1:])), "'index' has M ="),
    "frames-index-repeat": (_frames(lambda t, m: t["index"].__setitem__(1, t["index"][0])),
                            "distinct test-set indices"),
    "frames-manifold-alone": (_frames(lambda t, m: t.pop("manifold_images")), "exactly one of"),
}
