"""A diagnostics monitor for any training loop, side-effect free on the training run.

    monitor = Monitor(G, probe=(x, y), D=D, objective=objective, every=50)   # 1. construct
    for step in range(steps):
        ...your step...
        monitor(step)                                                        # 2. call each step
    monitor.table()                                                          # 3. the tidy table

Every ``every`` steps it measures, on the fixed probe batch: the information plane of ``layers``
(default: every module whose output changes resolution, found by one forward pass), the detail
loss per frequency band, and — when a discriminator and an objective with separable adversarial
and content terms are given — the gradient balance. Each measurement leaves the models, their
buffers, modes, hooks, gradients and the RNG as they were, so a run with the monitor trains
exactly as one without it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ._isolate import eval_mode, isolated
from ._validate import check_finite
from .bands import default_levels
from .diagnostics.detail import detail_loss
from .diagnostics.gradients import gradient_balance
from .infoplane import InformationPlane
from .api import get_estimator
from .taps import first_tensor, resolve_layers
from .tensorboard import TensorBoardLog

__all__ = ["Monitor", "resolution_layers"]


@torch.no_grad()
def resolution_layers(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the outermost submodules whose output's spatial size is a different scale from their
    input's (a factor of √2 or more: down- and up-sampling stages, not padding or valid
    convolutions), in call order, from one eval-mode forward pass on ``x``."""
    seen: dict[str, tuple[Any, Any]] = {}
    order: list[str] = []

    def hook(name: str):
        def fn(m: nn.Module, args: tuple, out: Any) -> None:
            a = first_tensor(args)
            o = first_tensor(out)
            if a is not None and o is not None and a.dim() >= 3 and o.dim() >= 3 and name not in seen:
                seen[name] = (tuple(a.shape[2:]), tuple(o.shape[2:]))
                order.append(name)
        return fn

    with isolated(model), eval_mode(model):
        for name, m in model.named_modules():
            if name:
                m.register_forward_hook(hook(name))
        model(x[:1])
    def rescales(shapes: tuple[Any, Any]) -> bool:  # a scale change (stride, up-sampling), not padding
        return any(abs(math.log2(max(o, 1) / max(i, 1))) >= 0.5 for i, o in zip(*shapes))

    changed = [n for n in order if len(seen[n][0]) == len(seen[n][1]) and rescales(seen[n])]
    return [n for n in changed if not any(n.startswith(p + ".") for p in changed if p != n)]


class Monitor:
    """Diagnostics every ``every`` steps on a fixed probe batch ``probe = (x, y)`` (B, C, H, W).

    Args:
        G: the generator (any ``nn.Module`` mapping x to a restored image of x's shape).
        probe: (degraded, clean) batch, kept for the whole run.
        D, objective: optional; with both, the gradient balance is measured (``d_input`` says how
            D takes its inputs, see :func:`infotheory.diagnostics.discriminator_call`).
        layers: information-plane layers (default: :func:`resolution_layers`).
        estimator, estimator_params: the information plane's estimator (default KDE, σ² = 0.1).
        detail: measure the detail loss per band.
        n_per_image, seed: receptive-field patches per probe image, and their seed, for the
            information plane.
        detail_estimator: the detail loss's MI estimator.
        tensorboard: a folder (or a :class:`~infotheory.tensorboard.TensorBoardLog`): every
            measurement is also written there as scalars, with the information-plane figure.
    """

    def __init__(self, G: nn.Module, probe: tuple[torch.Tensor, torch.Tensor], D: nn.Module | None = None,
                 objective: Any = None, every: int = 50, layers: Sequence[str] | None = None,
                 estimator: str = "kde", estimator_params: dict[str, Any] | None = None, detail: bool = True,
                 d_input: Any = "auto", n_per_image: int = 16, threshold: float = 0.01, seed: int = 0,
                 detail_estimator: str = "gaussian", tensorboard: str | Path | TensorBoardLog | None = None) -> None:
        if not (isinstance(probe, (tuple, list)) and len(probe) == 2
                and all(isinstance(t, torch.Tensor) for t in probe)):
            raise TypeError("probe must be a (degraded, clean) pair of (B, C, H, W) tensors, got "
                            f"{type(probe).__name__}" + (f" of {len(probe)}" if isinstance(probe, (tuple, list)) else ""))
        x, y = probe
        if x.shape != y.shape or x.dim() != 4:
            raise ValueError(f"probe must be two (B, C, H, W) batches of one shape, got {tuple(x.shape)} and "
                             f"{tuple(y.shape)}")
        for name, t in (("degraded", x), ("clean", y)):
            check_finite(t, f"the probe's {name} batch")
        if every < 1:
            raise ValueError(f"every={every}: must be a positive number of steps")
        get_estimator(detail_estimator)  # a wrong name is said now, not at the first measurement
        if (D is None) != (objective is None):
            raise ValueError("the gradient balance needs both D and objective (or neither)")
        self.G, self.D, self.objective, self.probe = G, D, objective, (x.detach(), y.detach())
        self.every, self.detail, self.d_input, self.threshold = every, detail, d_input, threshold
        self.detail_estimator = detail_estimator
        self.layers = list(layers) if layers is not None else resolution_layers(G, x)
        resolve_layers(G, self.layers)  # names the layers G lacks
        plane = InformationPlane(self.layers, estimator, estimator_params, n_per_image=n_per_image, seed=seed)
        self.plane = plane if self.layers else None  # built either way: it checks the estimator and its params
        self.rows: list[dict[str, Any]] = []
        self._warned = False
        self.tensorboard = (tensorboard if isinstance(tensorboard, TensorBoardLog) or tensorboard is None
                            else TensorBoardLog(tensorboard))

    def __call__(self, step: int) -> list[dict[str, Any]]:
        """Measure if ``step`` is a multiple of ``every``; returns this call's rows (also kept)."""
        if step % self.every:
            return []
        rows = self.measure(step)
        self.rows += rows
        if self.tensorboard is not None:
            self.tensorboard.rows(rows)
            self.tensorboard.information_plane(self.rows, step)
            self.tensorboard.flush()
        return rows

    def measure(self, step: int, infoplane: bool = True) -> list[dict[str, Any]]:
        """Every diagnostic now, on the probe batch (``infoplane=False`` leaves the information plane
        out, e.g. when a caller measures it across ranks); tidy rows, not kept."""
        x, y = self.probe
        rows: list[dict[str, Any]] = []
        if infoplane and self.plane is not None:
            rows += self.plane.measure(self.G, x, y, step)
        if self.D is not None:
            rows += gradient_balance(self.G, self.D, self.objective, x, y, threshold=self.threshold, step=step,
                                     warn=not self._warned, d_input=self.d_input)
            self._warned = self._warned or any(r["metric"] == "vanishing_adv_gradient" and r["value"] == 1.0
                                               for r in rows)
        if self.detail:
            with isolated(self.G), eval_mode(self.G), torch.no_grad():
                y_hat = self.G(x)
            rows += detail_loss(x, y_hat, y, levels=default_levels(min(x.shape[-2:])), estimator=self.detail_estimator,
                                step=step)
        return rows

    def table(self):
        """Every row so far as a pandas DataFrame (tidy: step, split, metric, value, layer, …)."""
        import pandas as pd

        return pd.DataFrame(self.rows)
