"""Problem 3 — vanishing gradients / imbalanced optimisation: the pix2pix objective (vanilla BCE +
100·L1) vs other loss measures (LSGAN, hinge, WGAN-GP, relativistic average) and rebalanced
weights (λ_content = 10).

Primary evidence, in information: how much a discriminator trained to win against the frozen
generator (the D-optimality probe, experiments/probe.py) knows about real vs restored — a lower
bound on JSD(real, restored) = I(sample; real/restored label) from its held-out cross-entropy
(:func:`infotheory.jsd_lower_bound`, nats, ceiling log 2). Near the ceiling the minimax gradient
vanishes (Arjovsky & Bottou, 2017). Secondary: the adversarial/content gradient ratio over
training, the fraction of saturated outputs, PSNR/SSIM.
"""
from __future__ import annotations

import math
from typing import Any

from .base import MAX_DEPTH, Problem
from .decision import Comparison

__all__ = ["PROBLEM", "JSD_FRACTION"]

# the probe's discriminator is judged on held-out training pairs at the training crop size
PROBE_PAIRS = "training-crop-size pairs of the training set that the probe's discriminator never trained on"
JSD_FRACTION = 0.9  # pre-registered: a winning D knows more than 90 % of log 2 nats about real vs restored


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
    section=3,
    figures=["gradients_jsd_vs_gradient", "gradients_ratio_and_saturation", "gradients_d_probe"],
    effects=[Comparison("what the adversarial term adds to PSNR (baseline − L1-only)", "psnr", a="baseline",
                        b="l1-only"),
             Comparison("what the adversarial term adds to realism (SWD ×10³, baseline − L1-only; lower is more "
                        "realistic)", "swd", a="baseline", b="l1-only", yes_if="less", unit="×10³")],
    configs=configs,
    baseline="baseline",
    fixes=["lsgan", "hinge", "wgangp", "relativistic", "rebalanced"],  # l1-only is a control, not a fix
    analysis=["d_probe"],
    # decided before any run, in information: does a discriminator that wins against the baseline's
    # restorer saturate the JSD (where the minimax gradient vanishes)? and does LSGAN — the one
    # pre-registered alternative — leave a winning D less to know (a lower JSD bound)?
    present=Comparison(f"Does a discriminator trained to win against the baseline know more than {JSD_FRACTION:.0%} of "
                       "log 2 about real vs restored (held-out JSD lower bound, nats)?", "probe_jsd", a="baseline",
                       threshold=JSD_FRACTION * math.log(2), yes_if="greater", unit="nats", scored_on=PROBE_PAIRS),
    fix=Comparison("Does LSGAN leave a winning discriminator less information about real vs restored than the baseline "
                   "(JSD lower bound, nats)?", "probe_jsd", a="lsgan", b="baseline", yes_if="less", unit="nats",
                   scored_on=PROBE_PAIRS),
    secondary=[Comparison("secondary: is the baseline's adversarial gradient drowned by its content gradient (median "
                          "over training of ‖∇adv‖/‖∇content‖ below 0.01)?", "log10_grad_ratio", a="baseline",
                          threshold=-2.0, yes_if="less", unit="log10"),
               Comparison("secondary: does LSGAN raise the adversarial/content gradient ratio over the baseline's?",
                          "log10_grad_ratio", a="lsgan", b="baseline", unit="log10")],
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
