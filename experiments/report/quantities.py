"""Per-run numbers the pre-registered comparisons are decided on: ``quantity -> {seed: value}`` for
one (task, configuration), read from the tidy tables of :func:`experiments.report.collect`.

* ``psnr`` / ``ssim`` / ``swd`` — final scores on the whole test images (dB / – / SWD ×10³);
* ``band0_residual`` — finest Laplacian band's detail residual ‖Ŷ₀−Y₀‖²/‖Y₀‖² (analysis ``detail``);
* ``log10_grad_ratio`` — log10 of the median over training of ‖∇adv‖/‖∇content‖ at G's parameters;
* ``probe_retained_minimax`` / ``probe_retained`` — fraction of its peak adversarial gradient the
  minimax BCE form / the run's own loss keeps as a fresh discriminator wins (D-optimality probe);
* ``probe_d_saturated`` — fraction of that discriminator's outputs in its loss's saturated region at
  the end of the probe (the BCE discriminator the minimax control is measured against): did it win?
"""
from __future__ import annotations

import math
from typing import Callable

import pandas as pd

from ..probe import probe_summary
from .collect import overall_rows

__all__ = ["QUANTITIES", "per_seed", "converged_runs"]


def _runs_col(col: str) -> Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame, str, str], dict[int, float]]:
    def get(runs, met, ana, task, config):
        if not len(runs) or col not in runs:
            return {}
        r = runs[(runs.task == task) & (runs.config == config)]
        return {int(s): float(v) for s, v in zip(r.seed, r[col]) if pd.notna(v)}

    return get


def _band0(runs, met, ana, task, config) -> dict[int, float]:
    if not len(ana) or "split" not in ana:
        return {}
    a = ana[(ana.task == task) & (ana.config == config) & (ana.split == "detail") & (ana.metric == "detail_residual")]
    a = a[a.layer.astype(str).str.startswith("band0")]
    return {int(k): float(v) for k, v in a.groupby("seed")["value"].mean().items()}


def _grad_ratio(runs, met, ana, task, config) -> dict[int, float]:
    if not len(met) or "split" not in met:
        return {}
    m = met[(met.task == task) & (met.config == config) & (met.split == "gradients")
            & (met.metric == "grad_ratio_adv_content")]
    med = overall_rows(m).groupby("seed")["value"].median()
    return {int(k): math.log10(v) for k, v in med.items() if v > 0}


def _probe(which: str | None, field: str = "retained") -> Callable[..., dict[int, float]]:
    def get(runs, met, ana, task, config):
        if not len(ana) or "split" not in ana:
            return {}
        loss = which
        if loss is None:
            r = runs[(runs.task == task) & (runs.config == config)]
            loss = str(r.adversarial.iloc[0]) if len(r) else ""
        a = ana[(ana.task == task) & (ana.config == config) & (ana.split == "d_probe") & (ana.layer == loss)]
        out = {}
        for seed, g in a.groupby("seed"):
            v = probe_summary(g.to_dict("records")).get(loss, {}).get(field)
            if v is not None and math.isfinite(v):
                out[int(seed)] = float(v)
        return out

    return get


QUANTITIES: dict[str, Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame, str, str], dict[int, float]]] = {
    "psnr": _runs_col("final_psnr"), "ssim": _runs_col("final_ssim"), "swd": _runs_col("final_swd"),
    "band0_residual": _band0, "log10_grad_ratio": _grad_ratio,
    "probe_retained_minimax": _probe("saturating"), "probe_retained": _probe(None),
    "probe_d_saturated": _probe("saturating", "saturated"),
}


def per_seed(runs: pd.DataFrame, metrics: pd.DataFrame, analysis: pd.DataFrame, task: str, quantity: str
             ) -> Callable[[str], dict[int, float]]:
    """``config -> {seed: value}`` of ``quantity`` on ``task``."""
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; choose from {sorted(QUANTITIES)}")
    fn = QUANTITIES[quantity]
    return lambda config: fn(runs, metrics, analysis, task, config)


def converged_runs(runs: pd.DataFrame, task: str) -> Callable[[str], dict[int, bool | None]]:
    """``config -> {seed: converged}`` by the plateau rule (None when the run could not be judged)."""
    def get(config: str) -> dict[int, bool | None]:
        if not len(runs) or "converged" not in runs:
            return {}
        r = runs[(runs.task == task) & (runs.config == config)]
        return {int(s): (None if v is None or (isinstance(v, float) and math.isnan(v)) else bool(v))
                for s, v in zip(r.seed, r.converged)}

    return get
