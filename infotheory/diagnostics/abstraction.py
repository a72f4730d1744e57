"""Diagnostic 1 — over-invested abstraction: what each further down-sampling keeps of the target
information, I(T_l;Y), against what it costs (parameters, FLOPs)."""
from __future__ import annotations

import json
from typing import Any, Sequence

import torch
from torch import nn

from .._isolate import eval_mode, isolated
from ..infoplane import InformationPlane
from ..taps import resolve_layers
from ..rows import tidy_row

__all__ = ["abstraction_profile", "layer_costs"]


def layer_costs(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, dict[str, float]]:
    """Parameters and forward FLOPs per image inside each named layer, from one eval-mode pass on
    ``x[:1]``. FLOPs are counted by ``torch.utils.flop_counter`` (every operator it knows: conv,
    transposed conv, matmul, attention…; 2 FLOPs per multiply-add), so any ``nn.Module`` works.
    The model is left as it was found (:func:`~infotheory._isolate.isolated`)."""
    from torch.utils.flop_counter import FlopCounterMode

    mods = resolve_layers(model, list(layers))
    counter = FlopCounterMode(display=False)
    with isolated(model), eval_mode(model), torch.no_grad(), counter:
        model(x[:1])
    counts = counter.get_flop_counts()
    prefix = type(model).__name__
    return {n: {"params": float(sum(p.numel() for p in m.parameters())),
                "flops": float(sum(counts.get(f"{prefix}.{n}", {}).values()))} for n, m in mods.items()}


def abstraction_profile(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layers: Sequence[str] | None = None,
                        estimator: str = "kde", params: dict[str, Any] | None = None, step: int = 0,
                        measure: str = "depth", **plane_kw: Any) -> list[dict[str, Any]]:
    """Per encoder layer (default ``enc1 … enc{depth}`` of a UNetGenerator): I(X;T_l), I(T_l;Y),
    the gain ΔI(T_l;Y) over the previous layer, and the layer's parameters and FLOPs per image
    (cumulative too). Tidy rows with split="abstraction", layer=name.

    ``measure="depth"`` (default): :func:`infotheory.depth.information_along_depth` — X and Y are
    the same variables at every layer (one sample per whole probe crop, so x needs at least
    ``depth.MIN_SAMPLES`` crops), T_l the layer's whole map, every rise of I(T;Y) reported with its
    size (``plane_kw``: ``dim``, ``bootstrap``, ``min_samples``). ``measure="local"``: the
    information plane on receptive-field patches (each layer against its own footprint — a local
    view, not a depth ordering; ``plane_kw`` go to :class:`InformationPlane`)."""
    if layers is None:
        depth = getattr(model, "depth", None)
        if depth is None:
            raise ValueError("pass layers=[...] for models that are not a UNetGenerator")
        layers = [f"enc{i}" for i in range(1, depth + 1)]
    if measure == "depth":
        from ..depth import information_along_depth

        est = "gaussian" if estimator == "kde" else estimator  # no noise convention: see depth.py
        rows = information_along_depth(model, x, y, list(layers), est, params, step=step, **plane_kw)
        estimator, pj = est, rows[0]["params"]
    elif measure == "local":
        plane = InformationPlane(layers, estimator, params, **plane_kw)
        rows = plane.measure(model, x, y, step)  # both measurements leave the model as they found it
        pj = json.dumps(plane.params)
    else:
        raise ValueError(f"measure={measure!r}; choose 'depth' (fixed X and Y) or 'local' (receptive-field patches)")
    costs = layer_costs(model, x, layers)
    ity = {r["layer"]: r["value"] for r in rows if r["metric"] == "I(T;Y)"}
    out = [{**r, "split": "abstraction"} for r in rows]
    prev, cum_p, cum_f = None, 0.0, 0.0
    for i, name in enumerate(layers):
        cum_p += costs[name]["params"]
        cum_f += costs[name]["flops"]
        extra = {"downsamplings": i + 1, "params": costs[name]["params"], "flops": costs[name]["flops"],
                 "cum_params": cum_p, "cum_flops": cum_f,
                 "delta_I(T;Y)": (ity[name] - prev) if prev is not None else float("nan")}
        prev = ity[name]
        for k, v in extra.items():
            out.append(tidy_row(step, "abstraction", k, v, name, estimator=estimator, params=pj))
    return out
