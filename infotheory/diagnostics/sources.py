"""The three sources of a restorer's output information, by path ablation and by captum attribution.

(a) *extracted*: high-level information through the deep path (bottleneck);
(b) *retained*: low-level information through the skips and the detail branch;
(c) *external*: what the model adds from its training data, measured as the output's gain over
    the input (PSNR, and the linear-Gaussian MI gain I_G(Ŷ;Y) − I_G(X;Y)). The true MI cannot
    grow (I(Ŷ;Y) ≤ I(X;Y)): a learned prior makes information that X holds *usable*, which is what
    these gains measure.

Ablation replaces a path's output at inference by zeros or by its per-channel mean (forward hooks,
removed afterwards) and reports the drop of I(Ŷ;Y) and PSNR. Captum's LayerIntegratedGradients
attributes a per-example scalar (default: high-band energy of the output, shape (B,)) to each path;
completeness (attributions summing to f(x) − f(baseline)) only holds for layers that cut the graph —
the deep path of a U-Net does not, since skips bypass it — so the convergence delta is reported.
"""
from __future__ import annotations

import contextlib
import json
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from ..api import estimate_mi
from ..bands import laplacian_bands
from .._isolate import eval_mode, isolated
from ..taps import resolve_layers
from ..reductions import patch_vectors
from ..rows import tidy_row

__all__ = ["ablate", "information_sources", "detail_energy"]


@contextlib.contextmanager
def ablate(model: nn.Module, layers: Sequence[str], mode: str = "zero") -> Iterator[None]:
    """Within the block, the outputs of ``layers`` are replaced by zeros (``zero``) or by their
    per-channel mean over batch and space (``mean``). Hooks are removed on exit."""
    if mode not in ("zero", "mean"):
        raise ValueError(f"ablation mode={mode!r}; choose 'zero' or 'mean'")

    def replace(out: Any) -> Any:
        if isinstance(out, (tuple, list)):  # layers returning several tensors: each one is ablated
            return type(out)(replace(o) for o in out)
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            return out
        if mode == "zero":
            return torch.zeros_like(out)
        dims = [d for d in range(out.dim()) if d != 1]
        return out.mean(dim=dims, keepdim=True).expand_as(out).clone()

    def hook(m: nn.Module, args: Any, out: Any) -> Any:
        return replace(out)

    handles = []
    try:
        for name in layers:
            handles.append(model.get_submodule(name).register_forward_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()


def detail_energy(out: torch.Tensor) -> torch.Tensor:
    """Per-example scalar (B,): mean squared finest Laplacian band of an image batch."""
    return laplacian_bands(out, 1)[0].pow(2).flatten(1).mean(1)


def _mi(a: torch.Tensor, b: torch.Tensor, estimator: str, seed: int, **params: Any):
    return estimate_mi(patch_vectors(a.float(), 4, 64, seed, 8), patch_vectors(b.float(), 4, 64, seed, 8),
                       method=estimator, **params)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.clamp(-1, 1) - b) / 2).pow(2).mean().item()  # [-1, 1] images -> data range 1
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def information_sources(model: nn.Module, x: torch.Tensor, y: torch.Tensor, paths: dict[str, list[str]] | None = None,
                        estimator: str = "gaussian", mode: str = "mean", attribution: bool = True,
                        target: Callable[[torch.Tensor], torch.Tensor] = detail_energy, n_steps: int = 16,
                        seed: int = 0, step: int = 0, internal_batch_size: int | None = None,
                        **params: Any) -> list[dict[str, Any]]:
    """x, y: (B, C, H, W) in [-1, 1]; ``paths`` name -> module names (default ``model.paths()``).
    Tidy rows (split="sources"): per ablation the PSNR and I(Ŷ;Y) and their drops; the external
    gains; per path the captum attribution and its convergence delta. ``internal_batch_size``: the
    examples captum's integration evaluates at once (default B: one integration step at a time, the
    memory of one forward and backward of x; all at once, B × n_steps took ~50 GiB for 12 whole
    256² images through a depth-7 U-Net)."""
    if paths is None:
        if not callable(getattr(model, "paths", None)):
            raise ValueError("pass paths={'name': [module names], ...} for models without a paths() method")
        paths = model.paths()
    for name, mods in paths.items():
        resolve_layers(model, list(mods))  # unknown module names are named, with the valid ones
    with isolated(model):
        return _information_sources(model, x, y, paths, estimator, mode, attribution, target, n_steps, seed, step,
                                    internal_batch_size or x.shape[0], **params)


def _information_sources(model, x, y, paths, estimator, mode, attribution, target, n_steps, seed, step, chunk,
                         **params):
    rows: list[dict[str, Any]] = []
    pj = json.dumps({"mode": mode, "estimator_params": params, "reduction": "4x4 patches x64/image -> 8 dims"})

    def add(metric: str, value: float, layer: str, extra: str | None = None) -> None:
        rows.append(tidy_row(step, "sources", metric, value, layer, estimator=estimator, params=extra or pj))

    with eval_mode(model):
        with torch.no_grad():
            full = model(x)
            i_full, p_full = _mi(full, y, estimator, seed, **params).value, _psnr(full, y)
            i_in, p_in = _mi(x, y, estimator, seed, **params).value, _psnr(x, y)
            add("I(Yhat;Y)", i_full, "full")
            add("psnr", p_full, "full")
            variants = {k: v for k, v in paths.items() if v}
            retained = [m for k in ("skips", "detail") for m in paths.get(k, [])]
            if retained:
                variants["retained(skips+detail)"] = retained
            for name, mods in variants.items():
                with ablate(model, mods, mode):
                    out = model(x)
                i_abl, p_abl = _mi(out, y, estimator, seed, **params).value, _psnr(out, y)
                add("I(Yhat;Y)", i_abl, f"without {name}")
                add("psnr", p_abl, f"without {name}")
                add("information_from_path", i_full - i_abl, name)
                add("psnr_from_path", p_full - p_abl, name)
            add("external_psnr_gain", p_full - p_in, "external")
            add("external_linear_mi_gain", i_full - i_in, "external",
                json.dumps({"note": "I_est(Yhat;Y) - I_est(X;Y); true MI obeys DPI, this measures usable information"}))
        if attribution:
            with _no_inplace(model):
                rows += _captum_rows(model, x, paths, target, n_steps, step, estimator, chunk)
    return rows


@contextlib.contextmanager
def _no_inplace(model: nn.Module) -> Iterator[None]:
    """Captum's layer methods swap a layer's output for a leaf tensor; an in-place activation right
    after it would then fail, so in-place flags are switched off for the duration."""
    flipped = [m for m in model.modules() if getattr(m, "inplace", False) is True]
    for m in flipped:
        m.inplace = False
    try:
        yield
    finally:
        for m in flipped:
            m.inplace = True


def _captum_rows(model: nn.Module, x: torch.Tensor, paths: dict[str, list[str]], target, n_steps: int, step: int,
                 estimator: str, chunk: int) -> list[dict[str, Any]]:
    from captum.attr import LayerIntegratedGradients

    def f(inp: torch.Tensor) -> torch.Tensor:
        return target(model(inp))  # (B,): captum needs one scalar per example

    base = torch.zeros_like(x)
    rows = []
    for name, mods in paths.items():
        if not mods:
            continue
        layers = [model.get_submodule(m) for m in mods]
        lig = LayerIntegratedGradients(f, layers if len(layers) > 1 else layers[0])
        try:
            attr, delta = lig.attribute(x, baselines=base, n_steps=n_steps, return_convergence_delta=True,
                                        internal_batch_size=chunk)
        except RuntimeError as exc:
            raise ValueError(f"captum could not attribute path {name!r} ({mods}): {exc}. A path's modules must not "
                             "feed each other only; name the last one, or pass attribution=False") from exc
        attrs = attr if isinstance(attr, (list, tuple)) else [attr]
        total = sum(a.flatten(1).sum(1) for a in attrs)
        with torch.no_grad():
            gap = (f(x) - f(base)).abs().mean().item()
        meta = json.dumps({"method": "LayerIntegratedGradients", "target": getattr(target, "__name__", "target"),
                           "n_steps": n_steps, "baseline": "zeros",
                           "caveat": "completeness holds only for layers that cut the graph"})
        rows.append(tidy_row(step, "sources", "attribution", total.mean(), name, estimator="captum", params=meta))
        rows.append(tidy_row(step, "sources", "attribution_delta", float(delta.abs().mean()) / max(gap, 1e-12), name,
                             estimator="captum", params=meta))
    return rows
