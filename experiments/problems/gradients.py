"""Problem 3 — vanishing gradients / imbalanced optimisation: the pix2pix objective (vanilla BCE +
100·L1) vs other loss measures (LSGAN, hinge, WGAN-GP, relativistic average) and rebalanced
weights (λ_content = 10).

Evidence: the adversarial/content gradient ratio over training, the fraction of saturated
discriminator outputs, D/G loss balance, PSNR/SSIM and sample grids; after each run the
D-optimality probe (experiments/probe.py) trains a fresh discriminator against the frozen
generator and records whether the adversarial gradient survives a discriminator that wins.
"""
from __future__ import annotations

from typing import Any

from .base import MAX_DEPTH, Problem
from .decision import Comparison

__all__ = ["PROBLEM"]


def configs(preset: str) -> dict[str, dict[str, Any]]:
    d = MAX_DEPTH[preset]
    out = {"baseline": {"model.depth": d}}
    for loss in ("lsgan", "hinge", "wgangp", "relativistic"):
        out[loss] = {"model.depth": d, "loss.adversarial": loss}
    out["rebalanced"] = {"model.depth": d, "loss.lambda_content": 10.0}
    out["l1-only"] = {"model.depth": d, "loss.lambda_adv": 0.0}  # control: what does the GAN term add?
    return out


PROBLEM = Problem(
    name="gradients",
    title="Vanishing gradients and imbalanced optimisation",
    configs=configs,
    baseline="baseline",
    fixes=["lsgan", "hinge", "wgangp", "relativistic", "rebalanced"],  # l1-only is a control, not a fix
    analysis=["d_probe"],
    # decided before any run: the baseline's own objective, in its own training run (not the minimax
    # form in the probe, whose vanishing is a textbook fact: that is the positive control), against
    # the diagnostics' warning threshold 0.01 = 10^-2
    present=Comparison("Is the baseline's adversarial gradient drowned by its content gradient (median over "
                       "training of ‖∇adv‖/‖∇content‖ below 0.01)?", "log10_grad_ratio", a="baseline",
                       threshold=-2.0, yes_if="less", unit="log10"),
    fix=Comparison("Does LSGAN (the one pre-registered alternative) raise the adversarial/content gradient "
                   "ratio over the baseline's?", "log10_grad_ratio", a="lsgan", b="baseline", unit="log10"),
    controls=[Comparison("positive control: the minimax BCE form vanishes against a winning D (retained "
                         "fraction of its peak gradient < 0.1)", "probe_retained_minimax", a="baseline",
                         threshold=0.1, yes_if="less", unit=""),
              # the instrument check of that control: it can only fire if the probe's D did win
              Comparison("instrument check: the probe's discriminator wins against the baseline (saturated "
                         "fraction of its outputs at the end > 0.9)", "probe_d_saturated", a="baseline",
                         threshold=0.9, yes_if="greater", unit=""),
              *(Comparison(f"secondary: does {c} raise the gradient ratio over the baseline's?", "log10_grad_ratio",
                           a=c, b="baseline", unit="log10") for c in ("hinge", "wgangp", "relativistic", "rebalanced"))],
)
