"""Problem 2 — inherent detail loss: down-sampling destroys high-frequency detail. Baseline U-Net
vs the same without skips (all detail must cross the bottleneck) vs the fix, a full-resolution
detail extraction branch accumulated into every decoder scale (with a global residual).

Evidence: per-band energy retention, detail residual and MI (Laplacian bands), PSNR/SSIM.
"""
from __future__ import annotations

from typing import Any

from .base import MAX_DEPTH, Problem
from .decision import Comparison

__all__ = ["PROBLEM"]


def configs(preset: str) -> dict[str, dict[str, Any]]:
    d = MAX_DEPTH[preset]
    return {
        "baseline": {"model.depth": d},
        "no-skip": {"model.depth": d, "model.skips": False},
        "detail-branch": {"model.depth": d, "model.detail_branch": True, "model.global_residual": True},
    }


PROBLEM = Problem(
    name="detail",
    title="Inherent detail loss (down-sampling destroys high frequencies)",
    configs=configs,
    baseline="baseline",
    fixes=["detail-branch"],
    analysis=["detail", "sources"],
    # decided before any run: the same-depth U-Net with and without the full-resolution path — not
    # the no-skip model, whose loss of detail is certain (it is the positive control)
    present=Comparison("Does the baseline lose finest-band detail that a full-resolution path keeps?",
                       "band0_residual", a="baseline", b="detail-branch", unit=""),
    fix=Comparison("Does the fix (full-resolution detail branch) restore better than the baseline?", "psnr",
                   a="detail-branch", b="baseline"),
    controls=[Comparison("positive control: without skips more finest-band detail is lost", "band0_residual",
                         a="no-skip", b="baseline", unit="")],
)
