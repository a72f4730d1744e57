"""GAN losses (vanilla, LSGAN, WGAN-GP, hinge, relativistic average) and content losses.

A loss of your own is one subclass of :class:`AdversarialLoss` registered with
:func:`register_adversarial` (in a module passed to ``infoflow --plugin``).

Every adversarial loss exposes ``d_loss(real, fake)`` and ``g_loss(fake, real)`` on discriminator
outputs (any shape); ``real`` is needed by the relativistic loss only. ``gradient_penalty`` is the
WGAN-GP term. Losses are means over all patch logits.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

from infoflow._registry import register_class

__all__ = ["AdversarialLoss", "ADVERSARIAL_LOSSES", "register_adversarial", "get_adversarial", "content_loss",
           "gradient_penalty", "interpolates", "penalty_at", "GeneratorObjective"]


class AdversarialLoss:
    """Base: subclasses define ``d_loss`` and ``g_loss``; ``name`` for configs and tables.

    ``saturated_fraction(real, fake)`` is the fraction of discriminator outputs in the region where
    this family's loss is flat, with the rule in ``saturation_rule``; NaN where the family has no
    such region (the statistic means nothing there).
    """

    name = "base"
    needs_gp = False  # the discriminator step adds a gradient penalty at interpolates of real and fake
    needs_real_logits = False  # the generator's loss reads D(real) too (relativistic losses)
    # the discriminator normalisation the loss requires: None = any; else the one "auto" picks, and
    # the ones it refuses (with the reason)
    d_norm: str | None = None
    d_norm_refused: tuple[str, ...] = ()
    d_norm_reason: str = ""
    saturation_rule = "undefined: the loss has no flat region"

    def saturated_fraction(self, real: torch.Tensor, fake: torch.Tensor, logit: float = 4.0) -> float:
        return float("nan")

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class Vanilla(AdversarialLoss):
    """Non-saturating BCE-with-logits GAN (pix2pix): G minimises -log D(G(x))."""

    name = "vanilla"
    saturation_rule = "|logit| > 4: sigmoid within 0.018 of 0 or 1, where the BCE is flat"

    def saturated_fraction(self, real, fake, logit=4.0):
        return float(torch.cat([real.flatten(), fake.flatten()]).abs().gt(logit).float().mean())

    def d_loss(self, real, fake):
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))) * 0.5

    def g_loss(self, fake, real=None):
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


class Saturating(AdversarialLoss):
    """Original minimax GAN: G maximises log(1 - D(G(x))) — its gradient vanishes when D wins."""

    name = "saturating"
    saturation_rule = Vanilla.saturation_rule

    def saturated_fraction(self, real, fake, logit=4.0):
        return Vanilla().saturated_fraction(real, fake, logit)

    def d_loss(self, real, fake):
        return Vanilla().d_loss(real, fake)

    def g_loss(self, fake, real=None):
        return -F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))


class LSGAN(AdversarialLoss):
    """Least squares (Mao et al. 2017): targets 1 (real) / 0 (fake)."""

    name = "lsgan"
    saturation_rule = "undefined: the least-squares loss has no flat region (its gradient grows with the error)"

    def d_loss(self, real, fake):
        return 0.5 * (((real - 1) ** 2).mean() + (fake**2).mean())

    def g_loss(self, fake, real=None):
        return 0.5 * ((fake - 1) ** 2).mean()


class WGANGP(AdversarialLoss):
    """Wasserstein critic (Gulrajani et al. 2017); add ``gradient_penalty`` to the critic loss."""

    name = "wgangp"
    needs_gp = True
    d_norm = "layer"
    d_norm_refused = ("batch",)
    d_norm_reason = ("the gradient penalty is per sample and BatchNorm couples the samples of a batch (Gulrajani et "
                     "al. 2017 use no batch norm in the critic)")
    saturation_rule = "undefined: the Wasserstein critic's loss is linear"

    def d_loss(self, real, fake):
        return fake.mean() - real.mean()

    def g_loss(self, fake, real=None):
        return -fake.mean()


class Hinge(AdversarialLoss):
    """Hinge loss (Miyato et al. 2018; Lim & Ye 2017)."""

    name = "hinge"
    saturation_rule = "outside the margin (real > 1, fake < -1), where D's hinge is flat; G's linear loss is not"

    def saturated_fraction(self, real, fake, logit=4.0):
        return float(torch.cat([real.flatten().gt(1), fake.flatten().lt(-1)]).float().mean())

    def d_loss(self, real, fake):
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    def g_loss(self, fake, real=None):
        return -fake.mean()


class RelativisticAverage(AdversarialLoss):
    """Relativistic average GAN (Jolicoeur-Martineau 2019), BCE form; G's loss needs D(real)."""

    name = "relativistic"
    needs_real_logits = True
    saturation_rule = "|relative logit| > 4 (D(real) - mean D(fake), D(fake) - mean D(real)), where the BCE is flat"

    def saturated_fraction(self, real, fake, logit=4.0):
        rel = torch.cat([(real - fake.mean()).flatten(), (fake - real.mean()).flatten()])
        return float(rel.abs().gt(logit).float().mean())

    def d_loss(self, real, fake):
        return (F.binary_cross_entropy_with_logits(real - fake.mean(), torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.zeros_like(fake))) * 0.5

    def g_loss(self, fake, real=None):
        if real is None:
            raise ValueError("the relativistic generator loss needs the discriminator's outputs on real images")
        return (F.binary_cross_entropy_with_logits(fake - real.mean(), torch.ones_like(fake))
                + F.binary_cross_entropy_with_logits(real - fake.mean(), torch.zeros_like(real))) * 0.5


ADVERSARIAL_LOSSES: dict[str, Callable[[], AdversarialLoss]] = {
    c.name: c for c in (Vanilla, Saturating, LSGAN, WGANGP, Hinge, RelativisticAverage)
}


def register_adversarial(cls: type[AdversarialLoss]) -> type[AdversarialLoss]:
    """Add a GAN loss (a subclass of :class:`AdversarialLoss` with its own ``name``) to
    :data:`ADVERSARIAL_LOSSES`, where configs (``loss.adversarial``), the trainer, the diagnostics
    and the D-optimality probe find it; usable as a class decorator. The same class again (or its
    definition run again: a re-executed module or notebook cell) replaces it; another class under a
    taken name is refused."""
    return register_class(ADVERSARIAL_LOSSES, cls, AdversarialLoss, "GAN loss", "the config's loss.adversarial")


def get_adversarial(name: str) -> AdversarialLoss:
    if name not in ADVERSARIAL_LOSSES:
        raise ValueError(f"unknown GAN loss {name!r}; choose one of {sorted(ADVERSARIAL_LOSSES)}")
    return ADVERSARIAL_LOSSES[name]()


def content_loss(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``l1`` (pix2pix) or ``l2`` mean error between (B, C, H, W) images."""
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "l2":
        return F.mse_loss(pred, target)
    raise ValueError(f"unknown content loss {kind!r}; choose 'l1' or 'l2'")


def interpolates(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Random points ŷ = ε·real + (1-ε)·fake, ε ~ U(0, 1) per example, that require grad (WGAN-GP)."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    return (eps * real + (1 - eps) * fake.detach().to(real.dtype)).requires_grad_(True)


def input_gradient(d_out: torch.Tensor, inputs: torch.Tensor, scaler: Any = None) -> torch.Tensor:
    """∇ of ``d_out.sum()`` w.r.t. ``inputs`` (same shape), kept in the graph for a penalty.

    With an fp16 ``scaler`` (torch.amp.GradScaler) the gradient is taken of the scaled output and
    unscaled afterwards, so small per-pixel gradients do not underflow in half precision; an
    overflow gives Inf, which makes the scaler skip the step.
    """
    out = d_out.sum() if scaler is None else scaler.scale(d_out.sum())
    (grad,) = torch.autograd.grad(out, inputs, create_graph=True)
    return grad if scaler is None else grad / scaler.get_scale()


def penalty_at(d_mix: torch.Tensor, mix: torch.Tensor, weight: float = 10.0, scaler: Any = None) -> torch.Tensor:
    """weight · E[(||∇_ŷ D(ŷ)||₂ - 1)²] given D's outputs ``d_mix`` on the interpolates ``mix``."""
    grad = input_gradient(d_mix, mix, scaler)
    return weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def gradient_penalty(disc: nn.Module, cond: torch.Tensor, real: torch.Tensor, fake: torch.Tensor,
                     weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP: weight · E[(||∇_ŷ D(x, ŷ)||₂ - 1)²] on random interpolates ŷ of real and fake."""
    mix = interpolates(real, fake)
    return penalty_at(disc(cond, mix), mix, weight)


class GeneratorObjective:
    """λ_adv · adversarial + λ_content · content; pix2pix preset = vanilla + 100·L1.

    ``terms(...)`` returns both terms separately so diagnostics can back-propagate each alone.
    """

    def __init__(self, adversarial: str = "vanilla", content: str = "l1", lambda_adv: float = 1.0,
                 lambda_content: float = 100.0) -> None:
        self.adv = get_adversarial(adversarial)
        self.content = content
        content_loss(content, torch.zeros(1), torch.zeros(1))  # validates the name
        self.lambda_adv, self.lambda_content = float(lambda_adv), float(lambda_content)

    def terms(self, d_fake: torch.Tensor, d_real: torch.Tensor | None, pred: torch.Tensor,
              target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted terms {'adversarial', 'content'} (scalars with graph)."""
        return {"adversarial": self.lambda_adv * self.adv.g_loss(d_fake, d_real),
                "content": self.lambda_content * content_loss(self.content, pred, target)}
