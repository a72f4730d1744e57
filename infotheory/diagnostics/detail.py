"""Diagnostic 2 — detail loss: per frequency band, what the output keeps of the target's detail.

For each Laplacian band b of X (input), Ŷ (output) and Y (target):
* ``energy_retention`` = ||Ŷ_b||² / ||Y_b||² (1 = as much detail as the target, < 1 = smoothed);
* ``detail_residual`` = ||Ŷ_b − Y_b||² / ||Y_b||² (the detail error, 0 = perfect);
* ``I(Y_b;Ŷ_b)`` and ``I(Y_b;X_b)`` — MI between aligned p×p patches of the band (nats);
and at full resolution the data-processing check I(Y;Ŷ) ≤ I(Y;X) (Ŷ is a function of X), reported
with the estimator's uncertainty (a violation beyond it means the estimate, not physics, is off).
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from .._isolate import isolated
from ..api import estimate_mi
from ..bands import BAND_NAMES, laplacian_bands
from ..reductions import patch_vectors
from ..rows import tidy_row

__all__ = ["detail_loss"]


@torch.no_grad()
def detail_loss(x: torch.Tensor, y_hat: torch.Tensor, y: torch.Tensor, levels: int = 3, patch: int = 4,
                n_per_image: int = 64, dim: int = 8, estimator: str = "gaussian", seed: int = 0,
                step: int = 0, **params: Any) -> list[dict[str, Any]]:
    """x, ŷ, y: (B, C, H, W) on one device (H, W divisible by 2**levels). Returns tidy rows
    (split="detail", metric, value, layer=band name, estimator, params)."""
    if not (x.shape == y_hat.shape == y.shape):
        raise ValueError(f"x {tuple(x.shape)}, y_hat {tuple(y_hat.shape)} and y {tuple(y.shape)} must match")
    with isolated():  # the global RNG is left as it was
        return _detail_loss(x, y_hat, y, levels, patch, n_per_image, dim, estimator, seed, step, **params)


def _detail_loss(x, y_hat, y, levels, patch, n_per_image, dim, estimator, seed, step, **params):
    bx, bo, by = (laplacian_bands(t.float(), levels) for t in (x, y_hat, y))
    rows: list[dict[str, Any]] = []
    pj = json.dumps({**params, "patch": patch, "n_per_image": n_per_image, "projection_dim": dim, "seed": seed,
                     "levels": levels})

    def add(metric: str, value: float, band: str, est: str = "", extra: str | None = None) -> None:
        rows.append(tidy_row(step, "detail", metric, value, band, estimator=est, params=extra or pj))

    for name, a, o, t in zip(BAND_NAMES(levels), bx, bo, by):
        e_t = float((t**2).sum())
        add("energy_retention", float((o**2).sum()) / max(e_t, 1e-12), name)
        add("energy_retention_input", float((a**2).sum()) / max(e_t, 1e-12), name)
        add("detail_residual", float(((o - t) ** 2).sum()) / max(e_t, 1e-12), name)
        k = max(1, patch // 2 ** min(BAND_NAMES(levels).index(name), 2))
        py, po, px = (patch_vectors(v, k, n_per_image, seed, dim) for v in (t, o, a))
        add("I(Y_b;Yhat_b)", estimate_mi(py, po, method=estimator, **params).value, name, estimator)
        add("I(Y_b;X_b)", estimate_mi(py, px, method=estimator, **params).value, name, estimator)
    py, po, px = (patch_vectors(v.float(), patch, n_per_image, seed, dim) for v in (y, y_hat, x))
    i_out = estimate_mi(py, po, method=estimator, **params)
    i_in = estimate_mi(py, px, method=estimator, **params)
    tol = 3 * float(np.hypot(i_out.std or 0.0, i_in.std or 0.0))
    add("I(Y;Yhat)", i_out.value, "full", estimator)
    add("I(Y;X)", i_in.value, "full", estimator)
    add("dpi_holds", float(i_out.value <= i_in.value + tol), "full", estimator,
        json.dumps({"tolerance_nats": tol, "I(Y;Yhat)": i_out.value, "I(Y;X)": i_in.value}))
    return rows
