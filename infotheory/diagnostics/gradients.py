"""Diagnostic 3 — vanishing gradients and imbalanced optimisation.

Per measurement: the generator's gradient norm per layer split by loss term (adversarial vs
content, each back-propagated alone with ``torch.autograd.grad``), their ratio, D(real)/D(fake)
statistics, the fraction of saturated discriminator outputs, the D/G loss balance, and a
warning when the adversarial gradient falls below ``threshold`` × the content gradient.
"""
from __future__ import annotations

import json
import math
import warnings
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from .._isolate import no_side_effects

__all__ = ["gradient_balance", "GradientImbalanceWarning", "layer_groups"]


class GradientImbalanceWarning(UserWarning):
    """The adversarial gradient is a vanishing fraction of the content gradient."""


def layer_groups(model: nn.Module) -> "OrderedDict[str, list[nn.Parameter]]":
    """Trainable parameters grouped by top-level child (enc1, dec3, detail, ...)."""
    groups: OrderedDict[str, list[nn.Parameter]] = OrderedDict()
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups.setdefault(name.split(".")[0], []).append(p)
    return groups


def _norms(grads: tuple[torch.Tensor | None, ...], groups: "OrderedDict[str, list[nn.Parameter]]") -> dict[str, float]:
    out, i = {}, 0
    for name, ps in groups.items():
        sq = 0.0
        for _ in ps:
            g = grads[i]
            sq += 0.0 if g is None else float(g.detach().float().pow(2).sum())
            i += 1
        out[name] = math.sqrt(sq)
    return out


def gradient_balance(G: nn.Module, D: nn.Module, objective: Any, x: torch.Tensor, y: torch.Tensor,
                     threshold: float = 0.01, saturation_logit: float = 4.0, step: int = 0,
                     warn: bool = True) -> list[dict[str, Any]]:
    """Measure on batch (x, y) without changing any parameter or stored gradient.

    ``objective``: a :class:`models.GeneratorObjective` (adversarial loss + weighted content loss).
    A discriminator output is *saturated* when |logit| > ``saturation_logit`` (σ < 0.018 or > 0.982).
    Returns tidy rows (split="gradients"); per-layer rows carry the layer name.
    """
    with no_side_effects(G, D):
        return _gradient_balance(G, D, objective, x, y, threshold, saturation_logit, step, warn)


def _gradient_balance(G, D, objective, x, y, threshold, saturation_logit, step, warn):
    groups = layer_groups(G)
    params = [p for ps in groups.values() for p in ps]
    fake = G(x)
    d_fake, d_real = D(x, fake).float(), D(x, y).float()
    terms = objective.terms(d_fake, d_real.detach(), fake.float(), y)
    g_adv = torch.autograd.grad(terms["adversarial"], params, retain_graph=True, allow_unused=True)
    g_con = torch.autograd.grad(terms["content"], params, allow_unused=True)
    n_adv, n_con = _norms(g_adv, groups), _norms(g_con, groups)
    tot_adv = math.sqrt(sum(v**2 for v in n_adv.values()))
    tot_con = math.sqrt(sum(v**2 for v in n_con.values()))
    ratio = tot_adv / max(tot_con, 1e-30)
    with torch.no_grad():
        d_loss = float(objective.adv.d_loss(d_real, d_fake.detach()))
        sat = float(torch.cat([d_real.flatten(), d_fake.flatten()]).abs().gt(saturation_logit).float().mean())
        stats = {"D(real)": float(torch.sigmoid(d_real).mean()), "D(fake)": float(torch.sigmoid(d_fake).mean()),
                 "D(real)_logit_std": float(d_real.std()), "D(fake)_logit_std": float(d_fake.std()),
                 "d_saturated_fraction": sat, "loss_d": d_loss, "loss_g_adv": float(terms["adversarial"]),
                 "loss_g_content": float(terms["content"]),
                 "grad_norm_adv": tot_adv, "grad_norm_content": tot_con, "grad_ratio_adv_content": ratio,
                 "vanishing_adv_gradient": float(ratio < threshold)}
    p = json.dumps({"threshold": threshold, "saturation_logit": saturation_logit,
                    "adversarial": objective.adv.name, "lambda_adv": objective.lambda_adv,
                    "lambda_content": objective.lambda_content})
    rows = [{"step": step, "split": "gradients", "metric": k, "value": v, "layer": "", "params": p}
            for k, v in stats.items()]
    for name in groups:
        rows.append({"step": step, "split": "gradients", "metric": "grad_norm_adv", "value": n_adv[name],
                     "layer": name, "params": p})
        rows.append({"step": step, "split": "gradients", "metric": "grad_norm_content", "value": n_con[name],
                     "layer": name, "params": p})
        rows.append({"step": step, "split": "gradients", "metric": "grad_ratio_adv_content",
                     "value": n_adv[name] / max(n_con[name], 1e-30), "layer": name, "params": p})
    if warn and ratio < threshold:
        warnings.warn(f"step {step}: adversarial gradient is {ratio:.2e} of the content gradient (< {threshold}); "
                      f"D saturated on {sat:.0%} of patches — the adversarial term is vanishing or drowned",
                      GradientImbalanceWarning, stacklevel=3)
    return rows
