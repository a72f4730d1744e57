"""Over-invested abstraction, in information: what the deepest down-sampling levels add to the
output's information about the target, against what those levels cost.

``added = I(Y;Ŷ) − I(Y;Ŷ with the deep layers ablated)`` in nats, on aligned patches of whole
images (:mod:`infotheory.image_information`), the two terms bootstrapped over the same image
resamples (a paired interval). Ablation replaces the deep layers' outputs by their per-channel
mean over the whole image set — one constant for every image — so nothing the deep path computes
from any image reaches the output; what is left is what the shallow levels (and skips) carry. ``share = added / I(Y;Ŷ)``
is set beside the deep layers' share of the model's parameters and FLOPs
(:func:`infotheory.diagnostics.layer_costs`).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ._isolate import eval_mode, isolated
from .diagnostics.abstraction import layer_costs
from .image_information import (DEFAULT_METHOD, DEFAULT_PARAMS, LEVEL, Images, _mi, as_image_list,
                                bootstrap_over_images, image_patches, resampled_stats)
from .taps import resolve_layers

__all__ = ["level_information", "unet_deep_layers"]


def unet_deep_layers(model: nn.Module, keep: int) -> list[str]:
    """The modules of a :class:`models.UNetGenerator` below its first ``keep`` down-samplings:
    ``enc{keep+1} … enc{depth}``, ``bottleneck_res``, ``dec{depth} … dec{keep+1}``. Ablating
    ``enc{keep+1}`` alone already cuts every deeper level (and the skip that leaves it) from the
    output; the others are listed for their cost."""
    depth = getattr(model, "depth", None)
    if depth is None:
        raise ValueError("unet_deep_layers needs a UNetGenerator (a model with .depth); pass deep layers by name")
    if not 0 < keep < depth:
        raise ValueError(f"keep={keep}: choose 1 <= keep < depth = {depth} (levels deeper than keep are ablated)")
    return ([f"enc{i}" for i in range(keep + 1, depth + 1)] + ["bottleneck_res"]
            + [f"dec{i}" for i in range(depth, keep, -1)])


@torch.no_grad()
def _outputs(model: nn.Module, xs: list[torch.Tensor], multiple: int, device: torch.device,
             dtype: torch.dtype) -> list[torch.Tensor]:
    out = []
    for x in xs:
        h, w = x.shape[-2:]
        t = x.to(device, dtype)
        ph, pw = (-h) % multiple, (-w) % multiple
        if ph or pw:
            t = nn.functional.pad(t, (0, pw, 0, ph), mode="reflect")
        out.append(model(t)[..., :h, :w].to("cpu", torch.float64))
    return out


def level_information(model: nn.Module, x: Images, y: Images, deep_layers: Sequence[str],
                      ablate_layers: Sequence[str] | None = None, patch: int = 8, n_per_image: int = 256,
                      dim: int = 8, method: str = DEFAULT_METHOD, n_boot: int = 200, seed: int = 0,
                      level: float = LEVEL, multiple: int | None = None, **params: Any) -> dict[str, Any]:
    """The information about the target that ``deep_layers`` add to the output (nats), with costs.

    x, y: degraded inputs and targets, (B, C, H, W) or lists of (C, H, W) images (whole images; each
    is reflect-padded to ``multiple``, default 2**model.depth or 1, and cropped back).
    ``deep_layers``: the modules whose parameters and FLOPs are the deep levels' cost;
    ``ablate_layers`` (default: the first of them) are the ones mean-ablated. Returns a dict:
    ``I_full``, ``I_ablated``, ``added``, ``share`` (= added / I_full), each with ``_low``/``_high``
    (bootstrap over images, paired), ``param_share``, ``flop_share``, ``n_images``, ``method``,
    ``deep_layers``. The model is left exactly as it was found.
    """
    xs, ys = as_image_list(x, "x"), as_image_list(y, "y")
    if len(xs) != len(ys):
        raise ValueError(f"x has {len(xs)} images, y has {len(ys)}")
    if len(xs) < 2 and n_boot > 0:
        raise ValueError("level_information needs at least 2 images for a bootstrap over images (or n_boot=0)")
    deep = list(deep_layers)
    if not deep:
        raise ValueError("deep_layers is empty: name the modules of the levels whose information is measured")
    resolve_layers(model, deep)
    abl = list(ablate_layers) if ablate_layers is not None else deep[:1]
    resolve_layers(model, abl)
    if multiple is None:
        multiple = 2 ** int(getattr(model, "depth", 0))
    p0 = next(model.parameters(), None)
    device, dtype = (p0.device, p0.dtype) if p0 is not None else (torch.device("cpu"), torch.float32)
    params = {**DEFAULT_PARAMS, **params} if method == DEFAULT_METHOD else params
    with isolated(model), eval_mode(model):
        means = _layer_means(model, abl, xs, multiple, device, dtype)
        full = _outputs(model, xs, multiple, device, dtype)
        with _replaced(model, means):
            cut = _outputs(model, xs, multiple, device, dtype)
        probe = xs[0][..., : max(multiple, min(xs[0].shape[-2], 64)), : max(multiple, min(xs[0].shape[-1], 64))]
        costs = layer_costs(model, _pad_to(probe, multiple).to(device, dtype), deep)
    blocks: dict[str, list[np.ndarray]] = {"y": [], "full": [], "cut": []}
    for i, (t, f, c) in enumerate(zip(ys, full, cut)):
        for k, im in (("y", t), ("full", f), ("cut", c)):
            blocks[k].append(image_patches(im, patch, n_per_image, 0, seed, dim, i))

    pairs = {"I_full": ("y", "full"), "I_ablated": ("y", "cut")}

    def derived(out: dict[str, float]) -> dict[str, float]:
        i_full, i_cut = out["I_full"], out["I_ablated"]
        return {**out, "added": i_full - i_cut, "share": (i_full - i_cut) / i_full if i_full > 0 else math.nan}

    def stats(p: dict[str, np.ndarray]) -> dict[str, float]:
        return derived({k: _mi(p[a], p[b], method, params) for k, (a, b) in pairs.items()})

    out: dict[str, Any] = {}
    for k, (v, lo, hi) in bootstrap_over_images(blocks, stats, n_boot, seed, level,
                                                resampled_stats(pairs, method, params, then=derived)).items():
        out.update({k: v, f"{k}_low": lo, f"{k}_high": hi})
    total_p = float(sum(p.numel() for p in model.parameters()))
    with isolated(model), eval_mode(model), torch.no_grad():
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            model(_pad_to(probe, multiple).to(device, dtype))
        total_f = float(counter.get_total_flops())
    out.update({"param_share": sum(c["params"] for c in costs.values()) / max(total_p, 1.0),
                "flop_share": sum(c["flops"] for c in costs.values()) / max(total_f, 1.0),
                "n_images": len(xs), "method": method, "deep_layers": deep, "ablated": abl})
    return out


def _layer_means(model: nn.Module, layers: list[str], xs: list[torch.Tensor], multiple: int, device: torch.device,
                 dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Per-channel mean of each layer's output over every position of every image (one pass)."""
    sums: dict[str, list] = {n: [0.0, 0] for n in layers}
    handles = []

    def hook(name: str):
        def f(m: nn.Module, args: Any, out: torch.Tensor) -> None:
            dims = [d for d in range(out.dim()) if d != 1]
            sums[name][0] = sums[name][0] + out.detach().double().sum(dim=dims)
            sums[name][1] += out.numel() // out.shape[1]
        return f

    try:
        handles = [model.get_submodule(n).register_forward_hook(hook(n)) for n in layers]
        _outputs(model, xs, multiple, device, dtype)
    finally:
        for h in handles:
            h.remove()
    return {n: (s / max(c, 1)) for n, (s, c) in sums.items()}


class _replaced:
    """Within the block, each named layer's output is its fixed per-channel mean over the image set:
    the same constant for every image, so nothing of any one image passes (hooks removed on exit)."""

    def __init__(self, model: nn.Module, means: dict[str, torch.Tensor]) -> None:
        self.model, self.means, self.handles = model, means, []

    def __enter__(self) -> None:
        for name, mu in self.means.items():
            def f(m: nn.Module, args: Any, out: torch.Tensor, mu: torch.Tensor = mu) -> torch.Tensor:
                shape = [1] * out.dim()
                shape[1] = out.shape[1]
                return mu.to(out.device, out.dtype).reshape(shape).expand_as(out).clone()
            self.handles.append(self.model.get_submodule(name).register_forward_hook(f))

    def __exit__(self, *exc: Any) -> None:
        for h in self.handles:
            h.remove()


def _pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return nn.functional.pad(x, (0, pw, 0, ph), mode="reflect") if (ph or pw) else x
