"""Distributions with closed-form mutual information, for tests, benchmarks and notebooks.

Every sampler returns a :class:`GroundTruth` (x (n, dx), y (n, dy), true MI in nats). MI is
invariant under invertible per-coordinate maps, so :func:`warp` keeps the ground truth.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .estimators.copula import t_mi_correction

__all__ = ["GroundTruth", "correlated_gaussian", "sparse_gaussian", "student_t", "uniform_noise", "warp",
           "shear", "radial_rotation", "coupling_flow", "WARPS", "rho_for_mi", "labelled_gaussians"]


@dataclass
class GroundTruth:
    x: np.ndarray
    y: np.ndarray
    mi: float
    name: str


def rho_for_mi(mi: float, pairs: int) -> float:
    """Correlation per coordinate pair so that ``pairs`` independent pairs carry ``mi`` nats in total."""
    if pairs < 1 or mi < 0:
        raise ValueError(f"need pairs >= 1 and mi >= 0, got pairs={pairs}, mi={mi}")
    return math.sqrt(1.0 - math.exp(-2.0 * mi / pairs))


def _paired_normals(n: int, dx: int, dy: int, pairs: int, rho: float, rng: np.random.Generator):
    x = rng.standard_normal((n, dx))
    y = rng.standard_normal((n, dy))
    y[:, :pairs] = rho * x[:, :pairs] + math.sqrt(1 - rho**2) * y[:, :pairs]
    return x, y


def correlated_gaussian(n: int, dx: int, dy: int, mi: float, seed: int = 0) -> GroundTruth:
    """Gaussian (x, y) with min(dx, dy) equally correlated coordinate pairs; I = mi nats exactly."""
    pairs = min(dx, dy)
    rng = np.random.default_rng(seed)
    x, y = _paired_normals(n, dx, dy, pairs, rho_for_mi(mi, pairs), rng)
    return GroundTruth(x, y, float(mi), f"gaussian {dx}x{dy} I={mi:g}")


def sparse_gaussian(n: int, dx: int, dy: int, mi: float, pairs: int = 2, seed: int = 0) -> GroundTruth:
    """Gaussian with only ``pairs`` dependent coordinate pairs hidden among dx/dy columns (shuffled)."""
    pairs = min(pairs, dx, dy)
    rng = np.random.default_rng(seed)
    x, y = _paired_normals(n, dx, dy, pairs, rho_for_mi(mi, pairs), rng)
    x, y = x[:, rng.permutation(dx)], y[:, rng.permutation(dy)]
    return GroundTruth(x, y, float(mi), f"sparse {pairs}-pair gaussian {dx}x{dy} I={mi:g}")


def student_t(n: int, dx: int, dy: int, nu: float, rho: float, seed: int = 0) -> GroundTruth:
    """Multivariate Student-t (ν dof) with pairwise correlation ρ on min(dx, dy) pairs.

    I = Gaussian MI of the same correlation + a ν-dependent term (> 0 even when ρ = 0:
    the shared chi-square scale makes the coordinates dependent).
    """
    pairs = min(dx, dy)
    rng = np.random.default_rng(seed)
    x, y = _paired_normals(n, dx, dy, pairs, rho, rng)
    w = np.sqrt(rng.chisquare(nu, size=(n, 1)) / nu)
    mi = -0.5 * pairs * math.log(1 - rho**2) + t_mi_correction(nu, dx, dy)
    return GroundTruth(x / w, y / w, float(mi), f"student-t nu={nu:g} {dx}x{dy} rho={rho:g}")


WARPS = {
    "cube": lambda a: a**3,
    "asinh": np.arcsinh,
    "exp": np.exp,
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "wiggly": lambda a: a + 0.4 * np.sin(2.0 * a),
}


def warp(gt: GroundTruth, kind: str = "cube", which: str = "both") -> GroundTruth:
    """Apply an invertible per-coordinate map (``WARPS``) to x, y or both; the MI is unchanged."""
    if kind not in WARPS:
        raise ValueError(f"unknown warp {kind!r}; choose one of {sorted(WARPS)}")
    f = WARPS[kind]
    x = f(gt.x) if which in ("x", "both") else gt.x
    y = f(gt.y) if which in ("y", "both") else gt.y
    return GroundTruth(x, y, gt.mi, f"{kind}({gt.name})")


def uniform_noise(n: int, d: int, a: float, seed: int = 0) -> GroundTruth:
    """x ~ U(0,1)^d, y = x + a·U(0,1)^d (0 < a <= 1): I = d (a/2 - log a). Not an elliptical copula."""
    if not 0 < a <= 1:
        raise ValueError(f"a must be in (0, 1], got {a}")
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    y = x + a * rng.random((n, d))
    return GroundTruth(x, y, float(d * (a / 2 - math.log(a))), f"uniform+uniform noise d={d} a={a:g}")


def shear(gt: GroundTruth, strength: float = 1.0, which: str = "both") -> GroundTruth:
    """Invertible non-coordinatewise map x_j <- x_j + strength·sin(2·x_{j-1}) (triangular, so invertible).

    The MI is unchanged, but the copula is no longer elliptical. Needs d >= 2 on the warped side.
    """
    def f(a: np.ndarray) -> np.ndarray:
        if a.shape[1] < 2:
            raise ValueError("shear needs at least 2 columns")
        out = a.copy()
        out[:, 1:] += strength * np.sin(2.0 * a[:, :-1])
        return out

    x = f(gt.x) if which in ("x", "both") else gt.x
    y = f(gt.y) if which in ("y", "both") else gt.y
    return GroundTruth(x, y, gt.mi, f"shear({gt.name})")


def radial_rotation(gt: GroundTruth, strength: float = 1.0, which: str = "both") -> GroundTruth:
    """Rotate each consecutive coordinate pair (x_{2i}, x_{2i+1}) by the angle strength·r, r the pair's
    radius — a swirl. The radius is kept, so the map is invertible (rotate back by the same angle)
    and the MI is unchanged; the dependence is far from elliptical. An odd last coordinate stays."""
    def f(a: np.ndarray) -> np.ndarray:
        if a.shape[1] < 2:
            raise ValueError("radial_rotation needs at least 2 columns")
        out = a.copy()
        for i in range(0, a.shape[1] - 1, 2):
            u, v = a[:, i], a[:, i + 1]
            t = strength * np.hypot(u, v)
            out[:, i], out[:, i + 1] = np.cos(t) * u - np.sin(t) * v, np.sin(t) * u + np.cos(t) * v
        return out

    x = f(gt.x) if which in ("x", "both") else gt.x
    y = f(gt.y) if which in ("y", "both") else gt.y
    return GroundTruth(x, y, gt.mi, f"swirl({gt.name})")


def coupling_flow(gt: GroundTruth, strength: float = 1.0, which: str = "both") -> GroundTruth:
    """One affine coupling layer (RealNVP-style): the second half of the coordinates is scaled by
    exp(strength·tanh(first-half mean)) and shifted by strength·sin(first half, cycled). The first
    half passes unchanged, so the map inverts exactly and the MI is unchanged. Needs d >= 2."""
    def f(a: np.ndarray) -> np.ndarray:
        d = a.shape[1]
        if d < 2:
            raise ValueError("coupling_flow needs at least 2 columns")
        h = d // 2
        first, second = a[:, :h], a[:, h:]
        scale = np.exp(strength * np.tanh(first.mean(axis=1, keepdims=True)))
        shift = strength * np.sin(np.resize(first.T, (d - h, len(a))).T)
        return np.hstack([first, second * scale + shift])

    x = f(gt.x) if which in ("x", "both") else gt.x
    y = f(gt.y) if which in ("y", "both") else gt.y
    return GroundTruth(x, y, gt.mi, f"coupling({gt.name})")


def labelled_gaussians(n: int, dx: int, mu: float, n_classes: int = 2, seed: int = 0) -> GroundTruth:
    """Class labels y (n,) int64, uniform over ``n_classes``; x (n, dx) standard normal with the class
    mean ``mu · c`` on coordinate 0 only. I(X; Y) = h(X_0) − ½ log(2πe), h of the equal-weight
    Gaussian mixture by numerical integration (0 for mu = 0; → log n_classes as mu grows)."""
    from scipy import integrate, stats

    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    x = rng.standard_normal((n, dx))
    x[:, 0] += mu * y
    means = mu * np.arange(n_classes)

    def p(t: float) -> float:
        return float(np.mean(stats.norm.pdf(t, means)))

    lo, hi = means.min() - 12, means.max() + 12
    pts = list(means) if n_classes < 50 else None
    h = integrate.quad(lambda t: -p(t) * math.log(max(p(t), 1e-300)), lo, hi, points=pts, limit=200)[0]
    mi = max(0.0, h - 0.5 * math.log(2 * math.pi * math.e))
    return GroundTruth(x, y.astype(np.int64), mi, f"labelled-gaussians(d={dx}, mu={mu}, K={n_classes})")
