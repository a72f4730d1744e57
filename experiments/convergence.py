"""Convergence is measured, not assumed: did a run reach its plateau?

The rule (stated before any run): fit a least-squares line to the held-out PSNR evaluations in the
last quarter of training (the evaluation at the quarter's start included); the run has converged
when the line's gain over that quarter is below ``tol`` dB (0.05). A line, not the difference of two
points, so one noisy evaluation neither hides a climb nor invents one. At least 3 evaluations must
fall in the window, otherwise the run cannot be judged (``converged`` is None).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = ["plateau", "TOL_DB", "WINDOW", "MIN_POINTS"]

TOL_DB = 0.05  # dB of PSNR gain over the last quarter still allowed at a plateau
WINDOW = 0.25  # the last quarter of training
MIN_POINTS = 3


def plateau(steps: Sequence[float], psnr: Sequence[float], total: int | None = None, tol: float = TOL_DB,
            window: float = WINDOW) -> dict[str, Any]:
    """{'gain_db', 'converged', 'n_points', 'window_start'} for a held-out PSNR curve (dB by step).

    ``total``: the run's number of steps (default: the last evaluated step). ``gain_db`` is the
    fitted gain over the window (NaN and ``converged`` None with fewer than 3 evaluations in it).
    """
    s, v = np.asarray(steps, dtype=float), np.asarray(psnr, dtype=float)
    if s.shape != v.shape or s.ndim != 1:
        raise ValueError(f"plateau needs two 1-D sequences of the same length, got {s.shape} and {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("plateau: the PSNR curve has NaN or infinite values")
    end = float(total if total is not None else (s.max() if len(s) else 0))
    start = end * (1.0 - window)
    m = (s >= start - 1e-9) & (s <= end)
    n = int(m.sum())
    if n < MIN_POINTS or np.ptp(s[m]) == 0:
        return {"gain_db": math.nan, "converged": None, "n_points": n, "window_start": start}
    slope = float(np.polyfit(s[m], v[m], 1)[0])
    gain = slope * (end - start)
    return {"gain_db": gain, "converged": bool(gain < tol), "n_points": n, "window_start": start}
