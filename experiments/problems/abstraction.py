"""Problem 1 — over-invested abstraction: sweep the number of down-samplings of the baseline U-Net;
the fix is a shallower sampling structure with residual blocks at the bottleneck scale.

Evidence: PSNR/SSIM vs depth, I(T_l;Y) per encoder layer vs depth (what each further
down-sampling keeps of the target information), parameters/FLOPs, and the bottleneck's
information-plane trajectory over training.
"""
from __future__ import annotations

from typing import Any

from .base import MAX_DEPTH, Problem
from .decision import Comparison

__all__ = ["PROBLEM"]


def configs(preset: str) -> dict[str, dict[str, Any]]:
    dmax = MAX_DEPTH[preset]
    depths = {"full": list(range(2, dmax)), "standard": [2, 3, 4], "long": [2, 3, 4]}.get(preset, [2, 3])  # quick: CPU budget
    out = {f"depth{d}": {"model.depth": d} for d in depths}
    out["baseline"] = {"model.depth": dmax}
    out["fix-sampling"] = {"model.depth": 2, "model.res_blocks": 2 if preset != "full" else 6}
    return out


PROBLEM = Problem(
    name="abstraction",
    title="Over-invested abstraction (too many down-samplings)",
    configs=configs,
    baseline="baseline",
    fixes=["fix-sampling"],
    analysis=["abstraction"],
    # decided before any run: the fix's own sampling structure (2 down-samplings) without its residual
    # blocks against the deepest U-Net — one named depth, not the best of the sweep
    present=Comparison("Does the deepest U-Net spend down-samplings restoration does not need (does the fix's "
                       "2-down-sampling structure alone restore better)?", "psnr", a="depth2", b="baseline"),
    fix=Comparison("Does the fix (2 down-samplings + residual blocks) restore better than the baseline?", "psnr",
                   a="fix-sampling", b="baseline"),
)
