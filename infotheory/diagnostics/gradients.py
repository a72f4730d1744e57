"""Diagnostic 3 — vanishing gradients and imbalanced optimisation.

Per measurement: the generator's gradient norm per layer split by loss term (adversarial vs
content, each back-propagated alone with ``torch.autograd.grad``), their ratio, D(real)/D(fake)
statistics, the information D has about real vs generated (``jsd_lower_bound``: a lower bound on
JSD = I(sample; real/generated) in nats from D's calibrated outputs on the batch,
:func:`infotheory.jsd_lower_bound`), the fraction of saturated discriminator outputs, the D/G loss balance, and a
warning when the adversarial gradient falls below ``threshold`` × the content gradient.
"""
from __future__ import annotations

import inspect
import json
import math
import warnings
from collections import OrderedDict
from typing import Any, Callable

import torch
from torch import nn

from .._isolate import isolated
from ..rows import tidy_row

__all__ = ["gradient_balance", "GradientImbalanceWarning", "layer_groups", "discriminator_call"]


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


DInput = str | Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def discriminator_call(D: nn.Module, d_input: DInput = "auto") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """How to score (condition x, image) with ``D``, as a function ``(x, img) -> logits``.

    ``d_input``: ``"pair"`` calls ``D(x, img)`` (infoflow's PatchDiscriminator); ``"concat"`` calls
    ``D(torch.cat([x, img], 1))`` (most pix2pix ports); ``"image"`` calls ``D(img)`` (unconditional);
    a callable ``f(D, x, img)`` does anything else; ``"auto"`` picks ``pair`` when ``D.forward``
    takes two inputs, else ``concat`` when D's first convolution takes x's and img's channels
    together, else ``image``.
    """
    if callable(d_input):
        return lambda x, img: d_input(D, x, img)
    calls = {"pair": lambda x, img: D(x, img), "concat": lambda x, img: D(torch.cat([x, img], dim=1)),
             "image": lambda x, img: D(img)}
    if d_input == "auto":
        return lambda x, img: calls[_infer_d_input(D, x, img)](x, img)
    if d_input not in calls:
        raise ValueError(f"d_input={d_input!r}; choose 'auto', 'pair', 'concat', 'image' or a callable f(D, x, img)")
    return calls[d_input]


def _infer_d_input(D: nn.Module, x: torch.Tensor, img: torch.Tensor) -> str:
    params = inspect.signature(D.forward).parameters.values()
    required = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
    if len(required) >= 2 or (not required and any(p.kind == p.VAR_POSITIONAL for p in params)):
        return "pair"
    first = next((m for m in D.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    if first is not None and first.in_channels == img.shape[1] != x.shape[1] + img.shape[1]:
        return "image"
    return "concat"


def _terms(objective: Any, d_fake: torch.Tensor, d_real: torch.Tensor, fake: torch.Tensor,
           y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(adversarial, content) weighted scalar terms from ``objective.terms(...)`` (a dict with those
    keys) or from a callable ``objective(d_fake, d_real, fake, y)`` returning the pair or the dict."""
    out = objective.terms(d_fake, d_real, fake, y) if hasattr(objective, "terms") else objective(d_fake, d_real, fake, y)
    if isinstance(out, dict):
        if not {"adversarial", "content"} <= set(out):
            raise ValueError(f"the objective returned keys {sorted(out)}; it must return 'adversarial' and 'content'")
        out = (out["adversarial"], out["content"])
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) and t.numel() == 1
                                                                     for t in out)):
        raise ValueError("the objective must give two scalar tensors: (adversarial term, content term)")
    return out[0], out[1]


def _jsd(d_real: torch.Tensor, d_fake: torch.Tensor) -> float:
    """JSD(real, generated) lower bound (nats) from D's outputs on this batch, calibrated (any loss);
    NaN (no row) with fewer than 4 outputs per class."""
    from ..discriminator_information import jsd_lower_bound

    if min(d_real.numel(), d_fake.numel()) < 4:
        return math.nan
    return jsd_lower_bound(d_real, d_fake.detach(), calibrate=True, n_boot=0)["value"]


def gradient_balance(G: nn.Module, D: nn.Module, objective: Any, x: torch.Tensor, y: torch.Tensor,
                     threshold: float = 0.01, saturation_logit: float = 4.0, step: int = 0,
                     warn: bool = True, d_input: DInput = "auto") -> list[dict[str, Any]]:
    """Measure on batch (x, y) — (B, C, H, W) — leaving G and D as they were found.

    ``objective``: anything with separable adversarial and content terms — a
    :class:`models.GeneratorObjective`, any object whose ``terms(d_fake, d_real, fake, y)`` returns
    ``{"adversarial": ..., "content": ...}``, or a callable with that signature returning the two
    weighted scalars. ``d_input`` says how D takes its inputs (:func:`discriminator_call`).

    A discriminator output is *saturated* where the objective's loss family is flat
    (``objective.adv.saturated_fraction``: |logit| > ``saturation_logit`` for BCE, outside the
    margin for hinge); for families without a flat region (LSGAN, WGAN) and for objectives that do
    not say, there is no ``d_saturated_fraction`` row (nor a ``loss_d`` row without ``objective.adv``). Returns tidy rows (split="gradients"); per-layer rows
    carry the layer name. Example with a pix2pix-port discriminator that takes ``cat([x, y])``::

        def objective(d_fake, d_real, fake, y):
            adv = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
            return adv, 100 * F.l1_loss(fake, y)

        rows = gradient_balance(G, D, objective, x, y, d_input="concat")
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must have the same batch size")
    with isolated(G, D):
        return _gradient_balance(G, D, objective, x, y, threshold, saturation_logit, step, warn,
                                 discriminator_call(D, d_input))


def _gradient_balance(G, D, objective, x, y, threshold, saturation_logit, step, warn, score):
    groups = layer_groups(G)
    if not groups:
        raise ValueError("G has no trainable parameters: there is no gradient to measure")
    params = [p for ps in groups.values() for p in ps]
    with torch.enable_grad():
        fake = G(x)
        d_fake, d_real = score(x, fake).float(), score(x, y).float()
        t_adv, t_con = _terms(objective, d_fake, d_real.detach(), fake.float(), y)
        g_adv = torch.autograd.grad(t_adv, params, retain_graph=True, allow_unused=True)
        g_con = torch.autograd.grad(t_con, params, allow_unused=True)
    n_adv, n_con = _norms(g_adv, groups), _norms(g_con, groups)
    tot_adv = math.sqrt(sum(v**2 for v in n_adv.values()))
    tot_con = math.sqrt(sum(v**2 for v in n_con.values()))
    ratio = tot_adv / max(tot_con, 1e-30)
    adv = getattr(objective, "adv", None)
    with torch.no_grad():
        d_loss = float(adv.d_loss(d_real, d_fake.detach())) if hasattr(adv, "d_loss") else math.nan
        sat = adv.saturated_fraction(d_real, d_fake.detach(), saturation_logit) \
            if hasattr(adv, "saturated_fraction") else math.nan
        stats = {"D(real)": float(torch.sigmoid(d_real).mean()), "D(fake)": float(torch.sigmoid(d_fake).mean()),
                 "D(real)_logit_std": float(d_real.std()), "D(fake)_logit_std": float(d_fake.std()),
                 "d_saturated_fraction": sat, "loss_d": d_loss, "loss_g_adv": float(t_adv),
                 "loss_g_content": float(t_con),
                 "grad_norm_adv": tot_adv, "grad_norm_content": tot_con, "grad_ratio_adv_content": ratio,
                 "vanishing_adv_gradient": float(ratio < threshold),
                 "jsd_lower_bound": _jsd(d_real, d_fake)}
    p = json.dumps({"threshold": threshold, "saturation_logit": saturation_logit,
                    "saturation_rule": getattr(adv, "saturation_rule", "not given by the objective"),
                    "adversarial": getattr(adv, "name", type(objective).__name__),
                    "lambda_adv": getattr(objective, "lambda_adv", None),
                    "lambda_content": getattr(objective, "lambda_content", None)})
    rows = [tidy_row(step, "gradients", k, v, params=p)
            for k, v in stats.items() if math.isfinite(v)]  # undefined statistics are absent, never NaN
    for name in groups:
        rows.append(tidy_row(step, "gradients", "grad_norm_adv", n_adv[name], name, params=p))
        rows.append(tidy_row(step, "gradients", "grad_norm_content", n_con[name], name, params=p))
        rows.append(tidy_row(step, "gradients", "grad_ratio_adv_content", n_adv[name] / max(n_con[name], 1e-30), name,
                             params=p))
    if warn and ratio < threshold:
        sat_txt = f"D saturated on {sat:.0%} of patches" if math.isfinite(sat) else "saturation undefined for this loss"
        warnings.warn(f"step {step}: adversarial gradient is {ratio:.2e} of the content gradient (< {threshold}); "
                      f"{sat_txt} — the adversarial term is vanishing or drowned",
                      GradientImbalanceWarning, stacklevel=3)
    return rows
