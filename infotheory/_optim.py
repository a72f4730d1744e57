"""Adam with the fused kernel where this torch has one — shared by the flow fits and the trainer."""
from __future__ import annotations

from typing import Any

import torch

__all__ = ["fused_adam"]


def fused_adam(params: Any, **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam(params, **kwargs)`` with the fused kernel: one pass over all tensors instead
    of a Python loop of per-parameter operations (values equal to float rounding). The default
    implementation where this torch has no fused kernel for the parameters' device (torch < 2.4 on CPU)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, **kwargs)
