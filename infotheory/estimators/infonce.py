"""InfoNCE (contrastive predictive coding) lower bound, capped at log(batch size) (van den Oord et al. 2018)."""
from __future__ import annotations

from dataclasses import dataclass

from .base import register
from .neural import NeuralEstimator

__all__ = ["InfoNCEEstimator"]


@register
@dataclass
class InfoNCEEstimator(NeuralEstimator):
    """I ≥ E[f(x_i,y_i) - log (1/B) Σ_j e^{f(x_i,y_j)}] (nats).

    Low variance but never exceeds log B (B = ``batch_size`` when training, the test-split size
    when reported): ``ceiling`` gives that bound and ``saturated`` flags values near it.
    """

    name = "infonce"
    kind = "infonce"
