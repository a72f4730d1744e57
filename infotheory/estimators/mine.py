"""MINE: the Donsker–Varadhan bound with the moving-average gradient correction (Belghazi et al. 2018)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .base import register
from .neural import NeuralEstimator, _logmeanexp_offdiag

__all__ = ["MINEEstimator"]


@register
@dataclass
class MINEEstimator(NeuralEstimator):
    """I ≥ E_P[T] - log E_{P⊗P}[e^T] (nats), critic T trained with a bias-corrected gradient.

    The mini-batch gradient of log E[e^T] is biased; MINE replaces its denominator by an
    exponential moving average of E[e^T] with rate ``ema_rate``. The reported value is the plain
    DV bound on the held-out test split. See :class:`NeuralEstimator` for the shared parameters.
    """

    ema_rate: float = 0.01

    name = "mine"
    kind = "mine"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.ema_rate <= 1:
            raise ValueError(f"ema_rate must be in (0, 1], got {self.ema_rate}")
        self._ema: torch.Tensor | None = None

    def _loss(self, s: torch.Tensor) -> torch.Tensor:
        joint = s.diagonal().mean()
        lme = _logmeanexp_offdiag(s)  # log of the batch mean of e^T over marginal pairs
        mean_exp = lme.detach().exp()
        self._ema = mean_exp if self._ema is None else (1 - self.ema_rate) * self._ema + self.ema_rate * mean_exp
        # d/dθ of this surrogate = E[e^T ∇T] / EMA(E[e^T]): the corrected DV gradient
        surrogate = (lme - lme.detach()).exp() * mean_exp / self._ema
        return -(joint - surrogate)

    def estimate(self, x: Any, y: Any):  # type: ignore[override]
        self._ema = None
        return super().estimate(x, y)
