"""Latent geometry on numpy arrays: interpolation paths, plane windows and grids, nearest neighbours,
prior quantiles, PCA, manifold grids and posterior ellipses. No torch, no streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

INTERPOLATIONS = ("linear", "spherical")


def interpolate(z_start: np.ndarray, z_end: np.ndarray, steps: int, method: str = "linear") -> np.ndarray:
    """Interpolation between two latent codes, both ends included.

    linear: z(t) = (1 - t) z_start + t z_end.
    spherical (slerp; Shoemake 1985, suggested for VAE latents by White 2016, "Sampling Generative
    Networks"): z(t) = sin((1 - t) w) / sin w * z_start + sin(t w) / sin w * z_end, where w is the
    angle between the two codes; it keeps the path away from the low-density origin of N(0, I).
    Falls back to linear when the codes are (anti)parallel or one is zero.

    z_start, z_end: float [d]. steps: >= 2. returns: float32 [steps, d].
    Raises ValueError if steps < 2, the shapes differ, or the method is unknown.
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {method!r}; expected one of {list(INTERPOLATIONS)}")
    a, b = np.asarray(z_start, np.float64), np.asarray(z_end, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"latent shapes differ: {a.shape} vs {b.shape}")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    omega = np.arccos(np.clip(a @ b / norms, -1.0, 1.0)) if norms > 0 else 0.0
    if method == "linear" or np.sin(omega) < 1e-6:
        return ((1.0 - t) * a + t * b).astype(np.float32)
    return ((np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype(np.float32)


def plane_extent(codes: np.ndarray, pad: float = 0.08, quantile: float = 0.001) -> tuple[float, ...]:
    """A square-ish window (x0, x1, y0, y1) over the bulk of 2-D codes, padded on each side.

    codes: float [N, 2]. The extreme ``quantile`` of points on each side is allowed outside,
    so that one outlier does not shrink the rest of the plane.
    """
    lo = np.quantile(codes, quantile, axis=0)
    hi = np.quantile(codes, 1 - quantile, axis=0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - pad * span, hi + pad * span
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def plane_grid(extent: tuple[float, ...], n: int = 120) -> np.ndarray:
    """An n x n grid of points over extent (x0, x1, y0, y1): float32 [n*n, 2], x varying fastest."""
    x0, x1, y0, y1 = extent
    xs, ys = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


def nearest_test_index(codes: np.ndarray, z: np.ndarray) -> int:
    """Index of the test digit whose latent code is closest (Euclidean) to z [d]."""
    return int(nearest_test_indices(codes, z, 1)[0])


def nearest_shown_index(codes: np.ndarray, labels: np.ndarray, z: np.ndarray,
                        hidden: frozenset[int] = frozenset()) -> int | None:
    """Index of the test digit closest (Euclidean, in latent space) to z [d] among those whose label
    (int [N]) is not ``hidden``; None if every class is hidden. codes: float [N, d]."""
    shown = np.flatnonzero(~np.isin(labels, sorted(hidden)))
    if shown.size == 0:
        return None
    return int(shown[nearest_test_index(codes[shown], z)])


def nearest_test_indices(codes: np.ndarray, z: np.ndarray, k: int) -> np.ndarray:
    """Indices int [k] of the k test digits whose latent codes (float [N, d]) are closest to z [d],
    nearest first (Euclidean distance in latent space)."""
    distances = ((codes - np.asarray(z)[None]) ** 2).sum(axis=1)
    nearest = np.argpartition(distances, min(k, len(distances) - 1))[:k]
    return nearest[np.argsort(distances[nearest])]


def prior_quantile_grid(n: int, latent_dim: int = 2, low: float = 0.05, high: float = 0.95) -> np.ndarray:
    """An n x n grid of 2-D latents spaced by quantiles of the prior N(0, 1) per axis (AEVB, Fig. 4):
    z_i = Phi^-1(p_i) for p_i evenly spaced in [low, high]. Rows run from high z2 (top) to low.

    returns: float32 [n * n, 2], x varying fastest. Raises ValueError unless latent_dim == 2.
    """
    if latent_dim != 2:
        raise ValueError(f"a 2-D grid of latents needs latent_dim 2, got {latent_dim}")
    q = np.array([NormalDist().inv_cdf(p) for p in np.linspace(low, high, n)], dtype=np.float32)
    xs, ys = np.meshgrid(q, q[::-1])
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)


@dataclass
class Projection:
    """A linear 2-D projection of latent codes by principal component analysis.

    points: float32 [N, 2] the codes projected on the first two principal components
    components: float32 [2, d] unit directions; mean: float32 [d]; explained: [2] variance fractions
    """

    points: np.ndarray
    components: np.ndarray
    mean: np.ndarray
    explained: np.ndarray

    def transform(self, z: np.ndarray) -> np.ndarray:
        """Project more latents the same way: z float [M, d] (or [d]) -> float32 [M, 2] (or [2])."""
        return ((np.asarray(z, dtype=np.float32) - self.mean) @ self.components.T).astype(np.float32)


def pca_2d(codes: np.ndarray) -> Projection:
    """Project codes float [N, d] (d >= 2) onto their first two principal components (SVD of the
    centred codes). Component signs are fixed so each has a positive largest entry.
    Raises ValueError for fewer than 2 dimensions or points."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] < 2 or codes.shape[0] < 2:
        raise ValueError(f"PCA needs codes [N >= 2, d >= 2], got {codes.shape}")
    mean = codes.mean(axis=0)
    _, singular, vt = np.linalg.svd(codes - mean, full_matrices=False)
    components = vt[:2] * np.sign(vt[:2, np.abs(vt[:2]).argmax(axis=1)].diagonal())[:, None]
    variance = singular**2
    return Projection(points=((codes - mean) @ components.T).astype(np.float32),
                      components=components.astype(np.float32), mean=mean.astype(np.float32),
                      explained=(variance[:2] / variance.sum()).astype(np.float32))


MANIFOLD_SPACINGS = ("prior", "data")


def manifold_axes(codes: np.ndarray, n: int, spacing: str = "prior") -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of an n x n grid of latents to decode and tile over a 2-D plane.

    spacing "prior": quantiles 5 %..95 % of N(0, 1) on each axis (AEVB, Fig. 4), so each tile covers
    the same prior mass; "data": evenly over the window that holds the codes (``plane_extent``).
    codes: float [N, 2]. returns: (xs float32 [n] increasing, ys float32 [n] decreasing, top row first).
    Raises ValueError for n < 2 or an unknown spacing.
    """
    if n < 2:
        raise ValueError(f"a manifold grid needs n >= 2, got {n}")
    if spacing == "prior":
        grid = prior_quantile_grid(n)
        return grid[:n, 0].copy(), grid[::n, 1].copy()
    if spacing == "data":
        x0, x1, y0, y1 = plane_extent(codes)
        return (np.linspace(x0, x1, n, dtype=np.float32), np.linspace(y1, y0, n, dtype=np.float32))
    raise ValueError(f"unknown spacing {spacing!r}; expected one of {list(MANIFOLD_SPACINGS)}")


def ellipse(mu: np.ndarray, sigma: np.ndarray, k: float = 1.0, n: int = 120) -> np.ndarray:
    """The k-sigma contour of the axis-aligned Gaussian N(mu, diag(sigma^2)) in 2-D, closed.

    mu, sigma: float [2]. returns: float32 [n + 1, 2] points with sum(((z - mu) / sigma)^2) = k^2.
    """
    t = np.linspace(0.0, 2.0 * np.pi, n + 1)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)  # [n + 1, 2]
    return (np.asarray(mu) + k * np.asarray(sigma) * circle).astype(np.float32)
