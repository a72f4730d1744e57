"""Problem 2 — inherent detail loss: down-sampling destroys high-frequency detail. Baseline U-Net
vs the same without skips (all detail must cross the bottleneck) vs the fix, a full-resolution
detail extraction branch accumulated into every decoder scale. The fix model also predicts a
global residual (Ŷ = X + G(X)); ``baseline+global-residual`` — the baseline with the residual
alone — separates the two, and the fix is decided against it.

Primary evidence, in information: the finest band's retention I(Y₀;Ŷ₀)/I(Y₀;X₀)
(:func:`infotheory.band_information`, whole test images). Secondary: the band-0 detail residual,
PSNR.
"""
from __future__ import annotations

from typing import Any

from .base import MAX_DEPTH, Problem
from .decision import Comparison

__all__ = ["PROBLEM", "RETENTION_THRESHOLD"]

# pre-registered: the baseline loses detail when its output keeps less than 90 % of the finest band's
# information about the target that the input's finest band carried
RETENTION_THRESHOLD = 0.9


def configs(preset: str) -> dict[str, dict[str, Any]]:
    d = MAX_DEPTH[preset]
    return {
        "baseline": {"model.depth": d},
        "baseline+global-residual": {"model.depth": d, "model.global_residual": True},
        "no-skip": {"model.depth": d, "model.skips": False},
        "detail-branch": {"model.depth": d, "model.detail_branch": True, "model.global_residual": True},
    }


PROBLEM = Problem(
    name="detail",
    title="Inherent detail loss (down-sampling destroys high frequencies)",
    section=2,
    figures=["detail_retention_bands", "detail_bands", "detail_band_mi"],
    configs=configs,
    baseline="baseline",
    fixes=["detail-branch"],
    analysis=["information", "detail", "sources"],
    # decided before any run, in information: the baseline's own finest-band retention against a
    # fixed fraction; the fix against the baseline with the same global residual (the branch alone)
    present=Comparison(f"Does the baseline keep less than {RETENTION_THRESHOLD:.0%} of the finest band's information "
                       "(band-0 retention I(Y0;Yhat0)/I(Y0;X0) on whole test images)?", "band0_retention",
                       a="baseline", threshold=RETENTION_THRESHOLD, yes_if="less", unit=""),
    fix=Comparison("Does the full-resolution detail branch raise band-0 retention over the baseline with the same "
                   "global residual (the branch alone)?", "band0_retention", a="detail-branch",
                   b="baseline+global-residual", unit=""),
    controls=[Comparison("positive control: without skips the finest band keeps less information", "band0_retention",
                         a="no-skip", b="baseline", yes_if="less", unit="")],
    secondary=[Comparison("secondary: does the baseline lose finest-band detail that a full-resolution path keeps "
                          "(band-0 residual, baseline − detail-branch)?", "band0_residual", a="baseline",
                          b="detail-branch", unit=""),
               Comparison("secondary: does the detail branch restore better (PSNR) than the baseline with the same "
                          "global residual?", "psnr", a="detail-branch", b="baseline+global-residual"),
               Comparison("secondary: what the global residual alone does to band-0 retention", "band0_retention",
                          a="baseline+global-residual", b="baseline", unit="")],
)
