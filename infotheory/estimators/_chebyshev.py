"""Exact max-norm (Chebyshev) neighbour queries by blocked brute force, compiled with numba.

In the 10–50 dimensions of layer activations a k-d tree prunes almost nothing and pays for its
bookkeeping; a dimension-major sweep over all pairs vectorises instead. Both kernels compute,
for a block of query rows at once, the max-norm distance to every point, one dimension at a
time (SIMD over points), then read the answer off that row of distances. O(n²·d) time, O(n)
memory per thread; float64 throughout, so the values equal the trees' exactly.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

__all__ = ["available", "kth_distance", "count_closer", "threads"]

_BLOCK = 16  # query rows per sweep: 16 × n float64 distances stay in L2 for n ≈ 10k

try:
    import numba as nb
except ImportError:  # pragma: no cover - numba is a dependency; the trees remain as a fallback
    nb = None


def available() -> bool:
    """True when numba is importable (the brute-force path can run)."""
    return nb is not None


if nb is not None:

    @nb.njit(fastmath=False, cache=True)
    def _block_distances(aT: np.ndarray, i0: int, bs: int) -> np.ndarray:  # pragma: no cover - compiled
        """(bs, n) max-norm distances of query rows i0…i0+bs−1 to every point, one dimension at a
        time (the inner loop runs over points: SIMD)."""
        d, n = aT.shape
        m = np.zeros((bs, n))
        for t in range(d):
            row = aT[t]
            for b in range(bs):
                ai = row[i0 + b]
                mb = m[b]
                for j in range(n):
                    mb[j] = max(mb[j], abs(row[j] - ai))
        return m

    @nb.njit(parallel=True, fastmath=False, cache=True)
    def _sweep_kth(aT: np.ndarray, k: int) -> np.ndarray:  # pragma: no cover - compiled
        n = aT.shape[1]
        out = np.empty(n)
        for blk in nb.prange((n + _BLOCK - 1) // _BLOCK):
            i0 = blk * _BLOCK
            bs = min(_BLOCK, n - i0)
            m = _block_distances(aT, i0, bs)
            best = np.empty(k + 1)
            for b in range(bs):  # the (k+1)-th smallest (self included at 0) by insertion
                best[:] = np.inf
                worst = np.inf
                mb = m[b]
                for j in range(n):
                    v = mb[j]
                    if v < worst:
                        p = k
                        while p > 0 and best[p - 1] > v:
                            best[p] = best[p - 1]
                            p -= 1
                        best[p] = v
                        worst = best[k]
                out[i0 + b] = best[k]
        return out

    @nb.njit(parallel=True, fastmath=False, cache=True)
    def _sweep_count(aT: np.ndarray, r: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
        n = aT.shape[1]
        out = np.empty(n, np.int64)
        for blk in nb.prange((n + _BLOCK - 1) // _BLOCK):
            i0 = blk * _BLOCK
            bs = min(_BLOCK, n - i0)
            m = _block_distances(aT, i0, bs)
            for b in range(bs):
                ri = r[i0 + b]
                c = 0
                mb = m[b]
                for j in range(n):
                    c += mb[j] < ri
                out[i0 + b] = c
        return out


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """numba's worker threads for the calling thread set to ``n`` inside the block, then restored."""
    old = nb.get_num_threads()
    nb.set_num_threads(max(1, min(n, nb.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        nb.set_num_threads(old)


def kth_distance(a: np.ndarray, k: int, n_threads: int = 1) -> np.ndarray:
    """(n,) max-norm distance of each row of ``a`` (n, d) to its k-th nearest other row."""
    with threads(n_threads):
        return _sweep_kth(np.ascontiguousarray(a.T, dtype=np.float64), int(k))


def count_closer(a: np.ndarray, radius: np.ndarray, n_threads: int = 1) -> np.ndarray:
    """(n,) number of rows j with max-norm ``||a_j − a_i|| < radius_i`` (strict; self included)."""
    with threads(n_threads):
        return _sweep_count(np.ascontiguousarray(a.T, dtype=np.float64),
                            np.ascontiguousarray(radius, dtype=np.float64))
