"""Per-run numbers the pre-registered comparisons are decided on: ``quantity -> {seed: value}`` for
one (task, configuration), read from the tidy tables of :func:`experiments.report.collect`.

* ``psnr`` / ``ssim`` / ``swd`` — final scores on the whole test images (dB / – / SWD ×10³);
* ``band0_residual`` — finest Laplacian band's detail residual ‖Ŷ₀−Y₀‖²/‖Y₀‖² (analysis ``detail``);
* ``log10_grad_ratio`` — log10 of the median over training of ‖∇adv‖/‖∇content‖ at G's parameters;
* ``probe_retained_minimax`` / ``probe_retained`` — fraction of its peak adversarial gradient the
  minimax BCE form / the run's own loss keeps as a fresh discriminator wins (D-optimality probe);
* ``probe_d_saturated`` — fraction of that discriminator's outputs in its loss's saturated region at
  the end of the probe (the BCE discriminator the minimax control is measured against): did it win?

Information quantities (analysis ``information``, on the whole test images; each has its normal
bootstrap interval over images, read by :data:`IMAGE_SE` as a standard error):

* ``band0_retention`` — I(Y₀;Ŷ₀)/I(Y₀;X₀) of the finest Laplacian band (fraction);
* ``info_yyhat`` — I(Y;Ŷ) on 8×8 patches of the whole image (nats);
* ``deep_info_share`` — the share of I(Y;Ŷ) that the levels below the first ``KEEP_LEVELS``
  down-samplings add (fraction; :func:`infotheory.level_information`);
* ``probe_jsd`` — the D-optimality probe's final lower bound on JSD(real, restored) =
  I(sample; real/restored), on held-out pairs (nats; ceiling log 2), with the run's own D objective.
"""
from __future__ import annotations

import math
from typing import Callable

import pandas as pd

from ..probe import probe_summary
from .collect import overall_rows

__all__ = ["QUANTITIES", "IMAGE_SE", "per_seed", "per_seed_se", "converged_runs"]


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


def _info(metric: str, layer: str, suffix: str = "") -> Callable[..., dict[int, float]]:
    """``metric`` (+ ``suffix``: '', '_low', '_high') of split ``information`` at the layer that starts with ``layer``."""
    def get(runs, met, ana, task, config):
        if not len(ana) or "split" not in ana:
            return {}
        a = ana[(ana.task == task) & (ana.config == config) & (ana.split == "information")
                & (ana.metric == metric + suffix)]
        a = a[a.layer.astype(str).str.startswith(layer)]
        return {int(k): float(v) for k, v in a.groupby("seed")["value"].mean().items()}

    return get


def _info_se(metric: str, layer: str) -> Callable[..., dict[int, float]]:
    """The image-bootstrap standard error of an information quantity: its 95 % interval's width / 3.92."""
    lo, hi = _info(metric, layer, "_low"), _info(metric, layer, "_high")

    def get(runs, met, ana, task, config):
        a, b = lo(runs, met, ana, task, config), hi(runs, met, ana, task, config)
        return {k: (b[k] - a[k]) / 3.92 for k in a if k in b and math.isfinite(b[k] - a[k])}

    return get


INFO = {"band0_retention": ("retention", "band0"), "info_yyhat": ("I_y_yhat", "image"),
        "deep_info_share": ("deep_share", "levels>")}

QUANTITIES: dict[str, Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame, str, str], dict[int, float]]] = {
    "psnr": _runs_col("final_psnr"), "ssim": _runs_col("final_ssim"), "swd": _runs_col("final_swd"),
    "band0_residual": _band0, "log10_grad_ratio": _grad_ratio,
    "probe_retained_minimax": _probe("saturating"), "probe_retained": _probe(None),
    "probe_d_saturated": _probe("saturating", "saturated"), "probe_jsd": _probe(None, "jsd"),
    **{name: _info(*where) for name, where in INFO.items()},
}
# per-run standard errors from the variance over test images (the quantities that have one)
IMAGE_SE: dict[str, Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame, str, str], dict[int, float]]] = {
    name: _info_se(*where) for name, where in INFO.items()}


def per_seed(runs: pd.DataFrame, metrics: pd.DataFrame, analysis: pd.DataFrame, task: str, quantity: str
             ) -> Callable[[str], dict[int, float]]:
    """``config -> {seed: value}`` of ``quantity`` on ``task``."""
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r}; choose from {sorted(QUANTITIES)}")
    fn = QUANTITIES[quantity]
    return lambda config: fn(runs, metrics, analysis, task, config)


def per_seed_se(runs: pd.DataFrame, metrics: pd.DataFrame, analysis: pd.DataFrame, task: str, quantity: str
                ) -> Callable[[str], dict[int, float]] | None:
    """``config -> {seed: image-bootstrap s.e.}`` of ``quantity`` on ``task``; None when the quantity
    has no per-image variance (PSNR is averaged over a fixed set; the probe's numbers are one D's)."""
    fn = IMAGE_SE.get(quantity)
    return None if fn is None else (lambda config: fn(runs, metrics, analysis, task, config))


def converged_runs(runs: pd.DataFrame, task: str) -> Callable[[str], dict[int, bool | None]]:
    """``config -> {seed: converged}`` by the plateau rule (None when the run could not be judged)."""
    def get(config: str) -> dict[int, bool | None]:
        if not len(runs) or "converged" not in runs:
            return {}
        r = runs[(runs.task == task) & (runs.config == config)]
        return {int(s): (None if v is None or (isinstance(v, float) and math.isnan(v)) else bool(v))
                for s, v in zip(r.seed, r.converged)}

    return get
