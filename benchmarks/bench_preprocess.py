"""Uploads: how often a digit "lands among its own kind", per source and photo condition, before and
after the preprocessing of issue 13, in one run.

    python benchmarks/bench_preprocess.py                  # the README's table, about 3 minutes on 2 cores
    python benchmarks/bench_preprocess.py --per-class 2    # a quick look

Every sample of the generated evaluation set (benchmarks/evalset.py: MNIST test digits, typed digits
and pen strokes, each on paper under every condition, and drawings on the app's canvas) goes through
``to_mnist`` exactly as an upload (its PNG or JPEG bytes), once with today's preprocessing
(explorer/preprocess.py) and once with the one before (benchmarks/preprocess_before.py). Each result
is encoded by the shipped ``mnist-vae-2d`` (posterior mean) and classified by a 5-nearest-neighbour
vote among the encoded 10,000 MNIST test digits (an MNIST digit's own index is left out; ties go to
the class of the nearest). "Lands among its kind" is the fraction voted its own label; an upload
refused with UploadError counts as a miss. The same for ``mnist-vae-16d`` unless ``--no-16d``, and
for the new preprocessing followed by a moment-based deskew (``--deskew``).

Progress goes to stderr; the conditions and the tables to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import evalset  # noqa: E402
from benchmarks import preprocess_before as before  # noqa: E402
from explorer import preprocess as after  # noqa: E402
from explorer.inference import encode, load_explorer_model  # noqa: E402
from explorer.testdata import load_test_set  # noqa: E402

K = 5
TARGET_POINTS = 6  # every photo condition within this many points of its clean version


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def knn_votes(codes: np.ndarray, labels: np.ndarray, queries: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    """The class voted by the K nearest codes (Euclidean) of each query.

    codes: float [N, d] of the reference digits, labels int [N]; queries float [M, d]; exclude int [M]:
    a reference index to leave out per query (-1: none). returns int [M]; ties go to the class of the
    nearest neighbour among the tied classes.
    """
    codes = np.asarray(codes, np.float64)
    squared = (codes**2).sum(1)
    votes = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), 1000):
        q = np.asarray(queries[start : start + 1000], np.float64)
        d = squared[None] - 2 * q @ codes.T  # [m, N]: squared distance less |q|^2, same order
        rows = np.flatnonzero(exclude[start : start + 1000] >= 0)
        d[rows, exclude[start : start + 1000][rows]] = np.inf
        nearest = np.argpartition(d, K, axis=1)[:, :K]
        nearest = np.take_along_axis(nearest, np.argsort(np.take_along_axis(d, nearest, 1), 1), 1)
        for i, idx in enumerate(nearest):  # nearest first
            counts = np.bincount(labels[idx], minlength=10)
            tied = np.flatnonzero(counts == counts.max())
            votes[start + i] = next(labels[j] for j in idx if labels[j] in tied)
    return votes


def deskew(image: np.ndarray) -> np.ndarray:
    """Moment-based deskew of a 28x28 digit: the shear that makes its principal axis vertical
    (x' = x - alpha (y - cy), alpha = cov(x, y) / var(y)), centre of mass kept at the centre."""
    total = image.sum()
    ys, xs = np.indices(image.shape)
    cy, cx = (ys * image).sum() / total, (xs * image).sum() / total
    var_y = ((ys - cy) ** 2 * image).sum() / total
    cov = ((ys - cy) * (xs - cx) * image).sum() / total
    alpha = cov / max(var_y, 1e-6)
    center = (np.array(image.shape) - 1) / 2
    matrix = np.array([[1.0, 0.0], [alpha, 1.0]])  # output (y, x) -> input (y, x + alpha y)
    offset = np.array([cy, cx]) - matrix @ center
    return np.clip(ndimage.affine_transform(image, matrix, offset=offset, order=1), 0, 1).astype(np.float32)


def preprocess_all(samples: list[evalset.Sample], deskewed: bool) -> tuple[dict, dict, np.ndarray]:
    """Every sample through each pipeline, as an upload.

    returns: ({pipeline: float32 [M, 28, 28], zeros where refused}, {pipeline: bool [M] refused},
    bool [M]: the new preprocessing added a note, e.g. several digits).
    """
    pipelines = {"before": before.to_mnist, "after": after.to_mnist}
    images = {name: np.zeros((len(samples), 28, 28), np.float32) for name in pipelines}
    refused = {name: np.zeros(len(samples), bool) for name in pipelines}
    noted = np.zeros(len(samples), bool)
    seconds = dict.fromkeys(pipelines, 0.0)
    for i, sample in enumerate(samples):
        for name, to_mnist in pipelines.items():
            t = time.perf_counter()
            try:
                result = to_mnist(sample.data)
                images[name][i] = result.image
                noted[i] |= bool(getattr(result, "notes", ()))
            except (before.UploadError, after.UploadError):
                refused[name][i] = True
            seconds[name] += time.perf_counter() - t
        if (i + 1) % 500 == 0:
            progress(f"preprocessed {i + 1}/{len(samples)}")
    if deskewed:
        images["after+deskew"] = np.stack([deskew(x) if x.any() else x for x in images["after"]])
        refused["after+deskew"] = refused["after"]
    for name, s in seconds.items():
        progress(f"{name}: {1000 * s / len(samples):.1f} ms per upload")
    return images, refused, noted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=8, help="digits of each class per source (8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-16d", action="store_true", help="skip mnist-vae-16d")
    parser.add_argument("--deskew", action="store_true", help="also the new preprocessing + moment deskew")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    progress("encoding the MNIST test set")
    test_images, test_labels = load_test_set("mnist")
    names = ["mnist-vae-2d"] + ([] if args.no_16d else ["mnist-vae-16d"])
    models = {name: load_explorer_model(REPO / "checkpoints" / name, test_images) for name in names}

    progress(f"generating the evaluation set ({args.per_class} per class and source, seed {args.seed})")
    samples = list(evalset.evaluation_set(per_class=args.per_class, seed=args.seed))
    progress(f"{len(samples)} uploads; preprocessing each before and after")
    images, refused, noted = preprocess_all(samples, args.deskew)
    pipelines = list(images)

    exclude = np.array([-1 if s.mnist_index is None else s.mnist_index for s in samples])
    truth = np.array([s.label for s in samples])
    hits = {}  # (model, pipeline) -> bool [M]
    for name, m in models.items():
        for p in pipelines:
            z = encode(m.model, images[p])
            hits[name, p] = (knn_votes(m.codes, test_labels, z, exclude) == truth) & ~refused[p]
    everyone = np.arange(len(test_labels))
    raw = {name: float(np.mean(knn_votes(m.codes, test_labels, m.codes, everyone) == test_labels))
           for name, m in models.items()}

    groups = defaultdict(list)  # (source, condition) -> sample indices
    for i, s in enumerate(samples):
        groups[s.source, s.condition].append(i)
        if s.source in evalset.PHOTO_SOURCES:
            groups["photos", s.condition].append(i)

    def rate(model: str, pipeline: str, key) -> float:
        return float(np.mean(hits[model, pipeline][groups[key]]))

    print("# Uploads landing among their own kind (5-NN vote among the encoded MNIST test digits)\n")
    print(f"seed {args.seed}, {args.per_class} digits per class and source; photos: "
          f"{', '.join(evalset.PHOTO_SOURCES)} digits on paper (200-400 px) under each condition; "
          f"drawings on the app's canvas\n")
    print("| condition | what it simulates |\n|---|---|")
    for condition, what in evalset.CONDITIONS.items():
        print(f"| {condition} | {what} |")
    for source, width in evalset.CANVAS_WIDTHS.items():
        print(f"| {source} | the app's {evalset.CANVAS_SIZE} px canvas, strokes {width} px wide |")

    columns = [(name, p) for name in models for p in pipelines]
    header = " | ".join(f"{p} {name.removeprefix('mnist-vae-')}" for name, p in columns)
    n_photos = len(groups["photos", "clean"])
    print(f"\n## Photos, the three sources together ({n_photos} digits per condition)\n")
    print(f"| condition | {header} | after 2d − clean | within {TARGET_POINTS} points |")
    print("|---|" + "---:|" * len(columns) + "---:|:---:|")
    clean = rate("mnist-vae-2d", "after", ("photos", "clean"))
    for condition in evalset.CONDITIONS:
        cells = " | ".join(f"{rate(*c, ('photos', condition)):.2f}" for c in columns)
        delta = 100 * (rate("mnist-vae-2d", "after", ("photos", condition)) - clean)
        ok = "" if condition == "clean" else ("yes" if delta >= -TARGET_POINTS else "no")
        print(f"| {condition} | {cells} | {delta:+.0f} | {ok} |")

    print("\n## Each source\n")
    print(f"| source | condition | {header} |")
    print("|---|---|" + "---:|" * len(columns))
    for source in (*evalset.PHOTO_SOURCES, *evalset.CANVAS_WIDTHS):
        for condition in evalset.CONDITIONS:
            if (source, condition) in groups:
                cells = " | ".join(f"{rate(*c, (source, condition)):.2f}" for c in columns)
                print(f"| {source} | {condition} | {cells} |")
    cells = " | ".join(f"{raw[name]:.2f}" for name, _ in columns)
    print(f"| MNIST test digits as they are, not uploaded (all 10,000, leave-one-out) | – | {cells} |")

    print("\nRefused (UploadError): "
          + ", ".join(f"{p} {int(refused[p].sum())}/{len(samples)}" for p in pipelines))
    print(f"Noted as several digits (every upload holds one): {int(noted.sum())}/{len(samples)}")
    print(f"Total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
