"""Kraskov–Stögbauer–Grassberger (KSG-1) nearest-neighbour MI, tree-based (scipy cKDTree)."""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma
from sklearn.neighbors import KDTree

from .._validate import ArrayLike, check_pair
from ..result import MIEstimate
from . import _chebyshev
from .base import MIEstimator, check_positive, register

__all__ = ["KSGEstimator", "count_within"]

BRUTE_MIN_DIM = 8  # joint dimensions from which the all-pairs sweep beats the trees (benchmarks/estimators.py)
BRUTE_MAX_N = 40_000  # beyond this the O(n²) sweep loses to the trees' pruning, whatever the dimension


def _n_threads(workers: int) -> int:
    """Threads meant by a scipy-style ``workers`` value: -1 = the cores this process is given
    (``OMP_NUM_THREADS`` when set — a ``reproduce --jobs`` worker sets its share there — else all)."""
    if workers != -1:
        return max(1, workers)
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(given) if given.isdigit() and int(given) > 0 else (os.cpu_count() or 1)


def count_within(a: np.ndarray, radius: np.ndarray, workers: int = -1) -> np.ndarray:
    """Number of rows j with max-norm ||a_j - a_i|| < radius_i (strict; self included). a: (n, d).

    1-D: two binary searches per point. d > 1: scikit-learn's KDTree range count (it adds whole
    nodes that lie inside the ball without visiting their points), queries split over threads.
    """
    if a.shape[1] == 1:
        col = a[:, 0]
        s = np.sort(col)
        n = len(s)
        # col ± radius rounds, so the binary search can land one place off: settle each end on the
        # distances themselves (|s_j − col| < radius exactly, as the tree path counts)
        hi = np.searchsorted(s, col + radius, side="left")
        lo = np.searchsorted(s, col - radius, side="right")
        for _ in range(2):
            hi += (hi < n) & (np.abs(s[np.minimum(hi, n - 1)] - col) < radius)
            hi -= (hi > 0) & ~(np.abs(s[np.maximum(hi - 1, 0)] - col) < radius)
            lo -= (lo > 0) & (np.abs(s[np.maximum(lo - 1, 0)] - col) < radius)
            lo += (lo < n) & ~(np.abs(s[np.minimum(lo, n - 1)] - col) < radius)
        return hi - lo
    r = np.nextafter(radius, 0.0)
    tree = KDTree(a, leaf_size=30, metric="chebyshev")
    n_threads = min(_n_threads(workers), max(1, a.shape[0] // 2000))
    if n_threads == 1:
        return tree.query_radius(a, r, count_only=True)
    parts = np.array_split(np.arange(a.shape[0]), n_threads)
    with ThreadPoolExecutor(n_threads) as ex:
        out = list(ex.map(lambda idx: tree.query_radius(a[idx], r[idx], count_only=True), parts))
    return np.concatenate(out)


@register
@dataclass
class KSGEstimator(MIEstimator):
    """KSG estimator 1 (Kraskov et al. 2004), max-norm, in nats.

    I = ψ(k) + ψ(N) - ⟨ψ(n_x + 1) + ψ(n_y + 1)⟩, with ε_i the distance to the k-th neighbour
    in the joint space and n_x, n_y the marginal counts strictly inside ε_i. k-NN in the joint
    space with ``scipy.spatial.cKDTree``, marginal range counts with scikit-learn's ``KDTree``
    (1-D: binary search); queries run on ``workers`` threads. O(N log N)-ish, never O(N²).
    With integer labels in ``y`` (or ``x``) the mixed discrete–continuous variant of
    Ross (2014) is used. ``std`` is the standard error of the mean of the per-point terms
    (ignores their mutual dependence: a rough guide).

    Parameters:
        k: neighbours (3–10 typical; larger k: lower variance, more bias).
        standardize: scale every column to unit variance first (max-norm is scale-sensitive).
        jitter: relative noise (× column std) added to break ties, as NPEET does; 0 disables.
        seed: seed of the jitter.
        workers: threads for the neighbour queries (-1 = the cores given: OMP_NUM_THREADS, else all).
        algorithm: ``tree`` (k-d trees), ``brute`` (an exact blocked all-pairs sweep compiled with
            numba: faster where trees cannot prune, i.e. in many dimensions) or ``auto`` (brute
            when the joint space has >= 8 dimensions and n <= 40,000, trees otherwise). Both
            give the same value.
    """

    k: int = 3
    standardize: bool = True
    jitter: float = 1e-10
    seed: int = 0
    workers: int = -1
    algorithm: str = "auto"

    name = "ksg"
    min_samples = 10

    def __post_init__(self) -> None:
        check_positive("k", self.k, integer=True)
        if self.jitter < 0:
            raise ValueError(f"jitter must be >= 0, got {self.jitter}")
        if self.algorithm not in ("auto", "tree", "brute"):
            raise ValueError(f"algorithm={self.algorithm!r}; choose auto, tree or brute")
        if self.algorithm == "brute" and not _chebyshev.available():
            raise ImportError("algorithm='brute' needs numba (pip install numba); or use algorithm='tree'")

    def resolve_algorithm(self, n: int, d_joint: int) -> str:
        """The neighbour search used for n samples in a d_joint-dimensional joint space."""
        if self.algorithm != "auto":
            return self.algorithm
        return "brute" if _chebyshev.available() and d_joint >= BRUTE_MIN_DIM and n <= BRUTE_MAX_N else "tree"

    def _prep(self, a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.standardize:
            a = (a - a.mean(axis=0)) / a.std(axis=0)
        if self.jitter > 0:
            a = a + self.jitter * a.std(axis=0) * rng.standard_normal(a.shape)
        return a

    def estimate(self, x: ArrayLike, y: ArrayLike) -> MIEstimate:
        """x: (n,) or (n, dx); y: (n,) or (n, dy) floats, or integer labels in one of them. Nats."""
        X, Y, xd, yd = check_pair(x, y, method=self.name, min_samples=max(self.min_samples, self.k + 2))
        if xd and yd:
            raise TypeError("ksg needs at least one continuous variable; both are labels (use 'binning')")
        if xd:
            X, Y, xd, yd = Y, X, yd, xd
        n = X.shape[0]
        rng = np.random.default_rng(self.seed)
        X = self._prep(X, rng)
        if yd:
            terms = self._mixed(X, Y[:, 0])
            variant = "ross2014-mixed"
        else:
            Y = self._prep(Y, rng)
            joint = np.hstack([X, Y])
            n_threads = _n_threads(self.workers)
            algorithm = self.resolve_algorithm(n, joint.shape[1])
            if algorithm == "brute":
                eps = _chebyshev.kth_distance(joint, self.k, n_threads)
                nx, ny = (count_within(a, eps, 1) if a.shape[1] == 1 else _chebyshev.count_closer(a, eps, n_threads)
                          for a in (X, Y))
            else:
                dist, _ = cKDTree(joint, leafsize=32).query(joint, k=[self.k + 1], p=np.inf,
                                                            workers=_n_threads(self.workers))
                eps = dist[:, 0]
                if n_threads >= 2:  # one marginal per thread: scales better than splitting each query
                    with ThreadPoolExecutor(2) as ex:
                        nx, ny = ex.map(lambda a: count_within(a, eps, max(1, n_threads // 2)), (X, Y))
                else:
                    nx, ny = count_within(X, eps, 1), count_within(Y, eps, 1)
            terms = digamma(self.k) + digamma(n) - digamma(nx) - digamma(ny)
            variant = "ksg1"
        value = float(terms.mean())
        return MIEstimate(
            value=value,
            method=self.name,
            params=self.params,
            n_samples=n,
            std=float(terms.std() / math.sqrt(n)),
            details={"variant": variant, "neighbour_search": algorithm if variant == "ksg1" else "tree"},
        )

    def _mixed(self, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        classes, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
        if counts.min() <= self.k:
            bad = classes[counts.argmin()]
            raise ValueError(
                f"ksg with labels needs more than k={self.k} samples per class; class {bad} has {counts.min()}"
            )
        radius = np.empty(n)
        for c in range(len(classes)):
            idx = np.flatnonzero(inv == c)
            d, _ = cKDTree(X[idx]).query(X[idx], k=[self.k + 1], p=np.inf, workers=_n_threads(self.workers))
            radius[idx] = d[:, 0]
        # Ross (2014): m_i = points of the whole sample within distance d_i (the k-th neighbour
        # included), i itself excluded — so in-class m_i = k and the ψ(k) − ψ(m) terms balance.
        m = count_within(X, np.nextafter(radius, np.inf), self.workers) - 1
        return digamma(n) - digamma(counts[inv]) + digamma(self.k) - digamma(m)
