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

__all__ = ["PROBLEM"]


def configs(preset: str) -> dict[str, dict[str, Any]]:
    d = MAX_DEPTH[preset]
    out = {"baseline": {"model.depth": d}}
    for loss in ("lsgan", "hinge", "wgangp", "relativistic"):
        out[loss] = {"model.depth": d, "loss.adversarial": loss}
    out["rebalanced"] = {"model.depth": d, "loss.lambda_content": 10.0}
    return out


PROBLEM = Problem(
    name="gradients",
    title="Vanishing gradients and imbalanced optimisation",
    configs=configs,
    baseline="baseline",
    fixes=["lsgan", "hinge", "wgangp", "relativistic", "rebalanced"],
    analysis=["d_probe"],
)
