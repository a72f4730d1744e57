"""Gaussian-kernel row sums over all pairs, fused in one pass, compiled with numba (CPU).

For widths c_0 > c_1 > … the Kolchinsky–Tracey bounds need, per row i, S_w(i) = Σ_j exp(−‖t_i − t_j‖²/c_w)
(j in i's group). One sweep over the upper triangle (the kernel is symmetric: each pair is visited
once and added to both rows) computes the squared distance by differences (no ‖a‖² + ‖b‖² − 2a·b
cancellation), one ``exp`` for the widest width, and every width that is the widest divided by a
power of two by repeated squaring of that exponential (exp(−d²/(c/4)) = exp(−d²/c)⁴) — the KL and
Bhattacharyya widths 2σ² and 8σ² share one ``exp``. float64 throughout; nothing of size n × n is
allocated, so the time does not depend on what the allocator holds (cold = warm but for the first
call's compilation, cached on disk). One thread: a numba thread pool shares the OpenMP runtime
with torch, and starting one inside a training loop changed the loop's numerics.
"""
from __future__ import annotations

import numpy as np

__all__ = ["available", "kernel_row_sums"]

try:
    import numba as nb
except ImportError:  # pragma: no cover - numba is a dependency; the torch path remains
    nb = None


def available() -> bool:
    """True when numba is importable."""
    return nb is not None


if nb is not None:

    @nb.njit(parallel=False, fastmath=False, cache=True)
    def _sums(t, inv_c0, squarings, groups, use_groups, n_threads):  # pragma: no cover - compiled
        n, d = t.shape
        w = squarings.shape[0]
        acc = np.zeros((n_threads, w, n))
        for tid in range(n_threads):
            for i in range(tid, n, n_threads):
                gi = groups[i] if use_groups else 0
                for j in range(i + 1, n):
                    if use_groups and groups[j] != gi:
                        continue
                    d2 = 0.0
                    for k in range(d):
                        diff = t[i, k] - t[j, k]
                        d2 += diff * diff
                    e = np.exp(-d2 * inv_c0)
                    done = 0
                    for m in range(w):  # widths sorted widest first; squarings cumulative
                        while done < squarings[m]:
                            e = e * e
                            done += 1
                        acc[tid, m, i] += e
                        acc[tid, m, j] += e
        out = np.ones((w, n))  # every row holds its own zero distance: exp(0) = 1
        for tid in range(n_threads):
            out += acc[tid]
        return out


def kernel_row_sums(t: np.ndarray, widths: tuple[float, ...], groups: np.ndarray | None = None,
                    n_threads: int = 1) -> np.ndarray | None:
    """(len(widths), n) float64 row sums Σ_j exp(−‖t_i − t_j‖²/c) over j in i's group (self
    included), for ``t`` (n, d); one thread (``n_threads`` is accepted and ignored). Returns None when a width is not the widest divided by a power of
    two (the torch path then computes it)."""
    order = np.argsort(-np.asarray(widths, dtype=float))
    c0 = float(widths[order[0]])
    sq = []
    for k in order:
        r = np.log2(c0 / float(widths[k]))
        if abs(r - round(r)) > 1e-9:
            return None
        sq.append(int(round(r)))
    g = np.ascontiguousarray(groups, dtype=np.int64) if groups is not None else np.zeros(1, dtype=np.int64)
    # serial: a numba thread pool shares the OpenMP runtime with torch, and starting it inside a training
    # loop's diagnostics changed the loop's numerics (a resumed run then differs from an uninterrupted one)
    sums = _sums(np.ascontiguousarray(t, dtype=np.float64), 1.0 / c0, np.asarray(sq, dtype=np.int64), g,
                 groups is not None, 1)
    out = np.empty_like(sums)
    out[order] = sums
    return out
