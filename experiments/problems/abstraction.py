"""Problem 1 — over-invested abstraction: sweep the number of down-samplings of the baseline U-Net;
the fix is a shallower sampling structure with residual blocks at the bottleneck scale.

Primary evidence, in information: what the levels below the fix's own ``KEEP_LEVELS`` = 2
down-samplings add to the output's information about the target, as a share of I(Y;Ŷ)
(:func:`infotheory.level_information`), beside their share of parameters and FLOPs; the fix decided
on I(Y;Ŷ) itself. ``depth2-wide`` (a 2-down-sampling U-Net whose width matches the baseline's
parameter count within 10 %) separates depth from capacity. Secondary: PSNR, the depth trend.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from .base import MAX_DEPTH, PRESET_OVERRIDES, Problem
from .decision import Comparison

__all__ = ["PROBLEM", "KEEP_LEVELS", "DEEP_SHARE_THRESHOLD", "width_matched_ngf"]

KEEP_LEVELS = 2  # pre-registered: the levels deeper than the fix's 2 down-samplings are the ones measured
DEEP_SHARE_THRESHOLD = 0.10  # pre-registered: they add less than 10 % of I(Y;Ŷ)
WIDE_FROM = ("standard", "long", "gpu", "full")  # presets whose grid has the width-matched control


@lru_cache(maxsize=None)
def width_matched_ngf(ngf: int, depth: int, shallow: int = 2, channels: int = 3) -> int:
    """The ngf of a ``shallow``-down-sampling U-Net whose parameter count is closest to that of the
    ``depth``-down-sampling one at ``ngf`` (RGB; grey differs by < 1 %)."""
    from infoflow.models import UNetGenerator

    def n(d: int, g: int) -> int:
        return sum(p.numel() for p in UNetGenerator(channels, channels, depth=d, ngf=g).parameters())

    target = n(depth, ngf)
    lo, hi = ngf, ngf * 64
    while hi - lo > 1:  # parameters grow monotonically with width
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if n(shallow, mid) < target else (lo, mid)
    return min((lo, hi), key=lambda g: abs(n(shallow, g) - target))


def depth_trend(runs: Any, task: str, configs: list[str]) -> str:
    """Context: per-seed least-squares slope of PSNR against the number of down-samplings over the
    whole depth sweep, with its t-interval; and the parameter cost of the deepest vs the shallowest."""
    import math

    import numpy as np

    from .decision import paired_interval

    r = runs[(runs.task == task) & runs.config.isin([c for c in configs if c.startswith("depth") or c == "baseline"])]
    slopes = []
    for _, g in r.groupby("seed"):
        g = g.dropna(subset=["final_psnr"])
        if g.depth.nunique() >= 2:
            slopes.append(float(np.polyfit(g.depth.astype(float), g.final_psnr.astype(float), 1)[0]))
    if not slopes:
        return ""
    m, lo, hi = paired_interval(np.array(slopes))
    ci = "" if math.isnan(lo) else f" (95 % CI [{lo:+.2f}, {hi:+.2f}])"
    p = r.groupby("depth")["params"].first()
    cost = f"; parameters {p.iloc[0] / 1e6:.2f} M at {p.index[0]} down-samplings → {p.iloc[-1] / 1e6:.2f} M at {p.index[-1]}"
    return f"Context — PSNR trend over the depth sweep: {m:+.2f} dB per extra down-sampling{ci}, n = {len(slopes)}{cost}."


def configs(preset: str) -> dict[str, dict[str, Any]]:
    dmax = MAX_DEPTH[preset]
    depths = {"full": list(range(2, dmax)), "standard": [2, 3, 4], "long": [2, 3, 4], "gpu": [2, 4]}.get(preset, [2, 3])  # quick: CPU budget
    out = {f"depth{d}": {"model.depth": d} for d in depths}
    out["baseline"] = {"model.depth": dmax}
    out["fix-sampling"] = {"model.depth": 2, "model.res_blocks": 2 if preset != "full" else 6}
    if preset in WIDE_FROM:
        out["depth2-wide"] = {"model.depth": 2,
                              "model.ngf": width_matched_ngf(int(PRESET_OVERRIDES[preset]["model.ngf"]), dmax)}
    return out


PROBLEM = Problem(
    name="abstraction",
    title="Over-invested abstraction (too many down-samplings)",
    section=1,
    context=depth_trend,
    figures=["abstraction_information_vs_cost", "abstraction_psnr_vs_depth", "abstraction_info_per_layer",
             "abstraction_cost_vs_quality", "abstraction_information_plane"],
    configs=configs,
    baseline="baseline",
    fixes=["fix-sampling"],
    analysis=["information", "abstraction"],
    # decided before any run, in information: one named split of the baseline (the levels below
    # KEEP_LEVELS) against a fixed share; the fix against the baseline on I(Y;Ŷ)
    present=Comparison(f"Do the baseline's levels below {KEEP_LEVELS} down-samplings add less than "
                       f"{DEEP_SHARE_THRESHOLD:.0%} of the output's information about the target (share of I(Y;Yhat) "
                       "lost when they are mean-ablated)?", "deep_info_share", a="baseline",
                       threshold=DEEP_SHARE_THRESHOLD, yes_if="less", unit=""),
    fix=Comparison("Does the fix (2 down-samplings + residual blocks) carry more information about the target than the "
                   "baseline (I(Y;Yhat), nats)?", "info_yyhat", a="fix-sampling", b="baseline", unit="nats"),
    controls=[Comparison("capacity control: a 2-down-sampling U-Net of the baseline's parameter count against the "
                         "baseline (I(Y;Yhat), nats)", "info_yyhat", a="depth2-wide", b="baseline", unit="nats")],
    secondary=[Comparison("secondary: does the fix's 2-down-sampling structure alone restore better (PSNR)?", "psnr",
                          a="depth2", b="baseline"),
               Comparison("secondary: does the fix restore better than the baseline (PSNR)?", "psnr",
                          a="fix-sampling", b="baseline")],
)
