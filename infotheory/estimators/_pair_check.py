"""Pairwise check of a fitted elliptical copula: the test ``auto`` can afford in many dimensions.

Where KSG cannot cross-check the whole joint (too many dimensions), ``auto`` would return the
elliptical copula's MI unchecked. But every bivariate margin of an elliptical copula is the same
family (same ν) with that pair's correlation, so each pair's MI under the model is known in closed
form — −½ log(1 − r²) plus the Student-t term — and KSG is accurate in two dimensions. A pair whose
KSG estimate exceeds its model MI by more than ``tol`` nats plus a Bonferroni multiple of the KSG
standard error contradicts the model (e.g. x_j = z_j + sin(2 z_{j−1}): a non-monotone link between
neighbours, invisible to a correlation). The check can only warn: a contradicted model's MI may be
off in either direction (low by about half on the shears measured), and dependence that shows in
no single pair — a rotation of coordinate pairs by their radius leaves every pair elliptical-looking —
passes it unnoticed.
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
from scipy import special, stats

from .copula import _fit_t_corr, ppf_of_ranks, t_mi_correction
from .ksg import KSGEstimator

__all__ = ["pair_check", "NonEllipticalWarning"]


class NonEllipticalWarning(UserWarning):
    """``auto`` returned an elliptical copula's MI that some coordinate pairs contradict (see ``pair_check``)."""


def pair_check(u: np.ndarray, nu: float, *, max_pairs: int = 300, max_samples: int = 5000, k: int = 3,
               tol: float = 0.05, alpha: float = 0.01, seed: int = 0) -> dict[str, Any]:
    """Check up to ``max_pairs`` coordinate pairs (seeded choice; all if there are fewer) of the
    rank-uniform data u (n, d) against the elliptical copula with ν = ``nu`` (inf: Gaussian).

    A pair contradicts the model when KSG − model MI > ``tol`` + z·SE, z the one-sided normal
    quantile of ``alpha`` / pairs checked (family-wise false-alarm rate ≈ ``alpha``). Rows are
    subsampled to ``max_samples`` (seeded). Returns ``pairs`` (checked), ``of`` (all pairs),
    ``contradicting`` (count), ``threshold_z``, ``max_excess`` (nats) and ``worst`` (up to five
    contradicting pairs, largest excess first: column indices i < j, ksg, model, excess; nats).
    """
    n, d = u.shape
    if d < 2:
        raise ValueError(f"pair_check needs at least 2 columns, got {d}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, max_samples, replace=False)) if n > max_samples else np.arange(n)
    all_pairs = list(combinations(range(d), 2))
    pick = (np.sort(rng.choice(len(all_pairs), max_pairs, replace=False)) if len(all_pairs) > max_pairs
            else np.arange(len(all_pairs)))
    pairs = [all_pairs[i] for i in pick]
    z_thr = float(stats.norm.isf(alpha / len(pairs)))
    g = ppf_of_ranks(u[rows], special.ndtri)
    q = g if not math.isfinite(nu) else ppf_of_ranks(u[rows], lambda v: special.stdtrit(nu, v))
    extra = t_mi_correction(nu, 1, 1)
    ksg = KSGEstimator(k=k, seed=seed, workers=1, algorithm="tree")
    found, excesses = [], []
    for i, j in pairs:
        r = float(np.corrcoef(q[:, i], q[:, j])[0, 1]) if not math.isfinite(nu) else float(
            _fit_t_corr(q[:, [i, j]], nu)[0, 1])
        model = -0.5 * math.log(max(1.0 - r * r, 1e-12)) + extra
        est = ksg.estimate(g[:, [i]], g[:, [j]])
        excess = est.value - model
        excesses.append(excess)
        if excess > tol + z_thr * (est.std or 0.0):
            found.append({"pair": [i, j], "ksg": est.value, "model": model, "excess": excess})
    found.sort(key=lambda f: -f["excess"])
    return {"pairs": len(pairs), "of": len(all_pairs), "contradicting": len(found), "threshold_z": z_thr,
            "max_excess": float(max(excesses)), "worst": found[:5]}
