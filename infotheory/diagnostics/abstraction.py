"""Diagnostic 1 — over-invested abstraction: what each further down-sampling keeps of the target
information, I(T_l;Y), against what it costs (parameters, FLOPs)."""
from __future__ import annotations

import json
from typing import Any, Sequence

import torch
from torch import nn

from ..infoplane import InformationPlane

__all__ = ["abstraction_profile", "layer_costs"]


def layer_costs(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, dict[str, float]]:
    """Parameters and forward FLOPs (2 × multiply-adds of conv/linear layers) inside each named layer."""
    costs = {n: {"params": 0.0, "flops": 0.0} for n in layers}
    hooks = []

    def counter(name: str):
        def hook(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
            kk = m.kernel_size[0] * m.kernel_size[1] if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) else 0
            if isinstance(m, nn.Conv2d):  # every output position: in/groups × k² MACs per output channel
                hw = out.shape[-2] * out.shape[-1]
                costs[name]["flops"] += 2.0 * hw * m.out_channels * (m.in_channels // m.groups) * kk
            elif isinstance(m, nn.ConvTranspose2d):  # every input position scatters out/groups × k² MACs
                hw = args[0].shape[-2] * args[0].shape[-1]
                costs[name]["flops"] += 2.0 * hw * m.in_channels * (m.out_channels // m.groups) * kk
            elif isinstance(m, nn.Linear):
                costs[name]["flops"] += 2.0 * m.in_features * m.out_features * out.shape[:-1].numel()
        return hook

    try:
        for n in layers:
            mod = model.get_submodule(n)
            costs[n]["params"] = float(sum(p.numel() for p in mod.parameters()))
            for sub in mod.modules():
                hooks.append(sub.register_forward_hook(counter(n)))
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in hooks:
            h.remove()
    return costs


def abstraction_profile(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layers: Sequence[str] | None = None,
                        estimator: str = "kde", params: dict[str, Any] | None = None, step: int = 0,
                        **plane_kw: Any) -> list[dict[str, Any]]:
    """Per encoder layer (default ``enc1 … enc{depth}`` of a UNetGenerator): I(X;T_l), I(T_l;Y),
    the gain ΔI(T_l;Y) over the previous layer, and the layer's parameters and FLOPs per image
    (cumulative too). Tidy rows with split="abstraction", layer=name."""
    if layers is None:
        depth = getattr(model, "depth", None)
        if depth is None:
            raise ValueError("pass layers=[...] for models that are not a UNetGenerator")
        layers = [f"enc{i}" for i in range(1, depth + 1)]
    plane = InformationPlane(layers, estimator, params, **plane_kw)
    rows = plane.measure(model, x, y, step)
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
            out.append({"step": step, "split": "abstraction", "metric": k, "value": float(v), "layer": name,
                        "estimator": estimator, "params": json.dumps(plane.params)})
    return out
