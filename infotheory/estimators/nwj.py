"""NWJ (f-divergence / MINE-f) lower bound: I ≥ E_P[f] - E_{P⊗P}[e^{f-1}] (Nguyen, Wainwright & Jordan 2010)."""
from __future__ import annotations

from dataclasses import dataclass

from .base import register
from .neural import NeuralEstimator

__all__ = ["NWJEstimator"]


@register
@dataclass
class NWJEstimator(NeuralEstimator):
    """Unbiased-gradient, high-variance lower bound in nats; shares the critic/trainer of MINE."""

    name = "nwj"
    kind = "nwj"
