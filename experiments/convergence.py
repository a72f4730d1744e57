"""Convergence is measured, not assumed: did a run reach its plateau?

The rule (stated before any run), two-sided: fit a least-squares line to the held-out PSNR
evaluations in the last quarter of training (the evaluation at the quarter's start included) — on
the validation split, carved from the training images, when the run has one; the run has
*converged* when the line's change over that quarter lies within ±``tol`` dB (0.05); it is still
*climbing* when it gains more, and *unstable* when it loses more (a run whose held-out PSNR falls is
not at a plateau). A line, not the difference of two points, so one noisy evaluation neither hides a
climb nor invents one. At least 3 evaluations must fall in the window, otherwise the run cannot be
judged (``converged`` and ``status`` are None).

Under model selection on the validation split (``train.select: best_val``) the judged model is the
generator at its best validation evaluation, not the last one. A fall after that evaluation is then
past the peak that selection keeps (``status`` still says ``unstable``, and the tables show it), so
such a run *has* converged; a run still ``climbing`` has not (its best may lie beyond the horizon) —
unless its fitted line ends more than ``tol`` below the kept evaluation (``best``): a curve that
recovers from a dip without reaching its earlier peak gives no sign that a longer run would beat it
(amendment registered after the first selected runs, whose baselines dipped ~1.5 dB mid-training and
recovered below their peaks; it applies to runs trained after it). Without selection the rule is the
two-sided one above: the last model is judged.
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
            window: float = WINDOW, selected: bool = False, best: float | None = None) -> dict[str, Any]:
    """{'gain_db', 'converged', 'status', 'n_points', 'window_start'} for a held-out PSNR curve (dB by step).

    ``total``: the run's number of steps (default: the last evaluated step). ``gain_db`` is the
    fitted change over the window; ``status`` ``converged`` / ``climbing`` / ``unstable`` (NaN, None
    and None with fewer than 3 evaluations in it); ``converged`` is ``status == "converged"``, or with
    ``selected`` (the best validation model is judged) ``status != "climbing"`` or, given the kept
    evaluation's PSNR ``best``, a climb whose fitted end stays more than ``tol`` below it.
    ``below_peak_db``: best − the fitted end value (NaN without ``best``).
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
        return {"gain_db": math.nan, "converged": None, "status": None, "n_points": n, "window_start": start,
                "below_peak_db": math.nan}
    slope, icept = (float(c) for c in np.polyfit(s[m], v[m], 1))
    gain = slope * (end - start)
    status = "climbing" if gain >= tol else ("unstable" if gain <= -tol else "converged")
    below = float(best) - (slope * end + icept) if best is not None else math.nan
    converged = (status != "climbing" or below > tol) if selected else status == "converged"
    return {"gain_db": gain, "converged": converged, "status": status, "n_points": n,
            "window_start": start, "below_peak_db": below}
