"""The diagnostics :class:`~infotheory.monitor.Monitor` as a PyTorch Lightning callback (an optional
extra: ``pip install pytorch-lightning`` or ``lightning``).

    trainer = pl.Trainer(callbacks=[monitor_callback(probe=(x, y), generator="G", discriminator="D",
                                                      objective=objective, every=50)])
    trainer.fit(model)
    callback.monitor.table()          # the tidy table, as with a Monitor in a plain loop

The callback builds its Monitor at the first training batch from the LightningModule's attributes
(``generator``, ``discriminator``) with the probe moved to the module's device, measures after
every ``every``-th optimiser step (``trainer.global_step``) and, when the trainer has a logger,
sends the rows to it as ``infoflow/<split>/<metric>[/<layer>]`` scalars. Like the Monitor, it
leaves the training run as it was (tested: same weights with and without it).
"""
from __future__ import annotations

import math
from typing import Any

import torch

from .monitor import Monitor
from .tensorboard import scalar_tag

__all__ = ["monitor_callback", "lightning_callback_base"]


def lightning_callback_base() -> type:
    """Lightning's ``Callback`` class: from ``lightning.pytorch`` if installed, else ``pytorch_lightning``."""
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback
        except ImportError as exc:
            raise ImportError("monitor_callback needs PyTorch Lightning: pip install pytorch-lightning (or lightning); "
                              "in a plain loop use infotheory.Monitor directly") from exc
    return Callback


def monitor_callback(probe: tuple[torch.Tensor, torch.Tensor], generator: str = "generator",
                     discriminator: str | None = None, objective: Any = None, every: int = 50,
                     **monitor_kwargs: Any) -> Any:
    """A Lightning callback running :class:`Monitor` on ``module.<generator>`` (and
    ``module.<discriminator>`` with ``objective`` for the gradient balance) every ``every`` steps.

    Args:
        probe: (degraded, clean) batch (B, C, H, W), kept for the whole run.
        generator, discriminator: attribute names of the models on the LightningModule.
        objective: the generator objective (needed with a discriminator).
        every: optimiser steps between measurements.
        **monitor_kwargs: passed to :class:`Monitor` (``layers``, ``estimator``, ``tensorboard``, …).
    """
    base = lightning_callback_base()
    if (discriminator is None) != (objective is None):
        raise ValueError("the gradient balance needs both discriminator and objective (or neither)")

    class InfoflowMonitor(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.monitor: Monitor | None = None

        def _build(self, module: Any) -> Monitor:
            for name in (generator, discriminator):
                if name is not None and not isinstance(getattr(module, name, None), torch.nn.Module):
                    found = sorted(n for n, _ in module.named_children())
                    raise AttributeError(f"the LightningModule has no nn.Module attribute {name!r}; its modules: {found}")
            x, y = (t.to(module.device) for t in probe)
            return Monitor(getattr(module, generator), (x, y),
                           D=getattr(module, discriminator) if discriminator else None, objective=objective,
                           every=every, **monitor_kwargs)

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if self.monitor is None:
                self.monitor = self._build(pl_module)
            step = int(trainer.global_step)
            if step == 0 or step == getattr(self, "_last", None):  # no optimiser step yet / same step again
                return
            self._last = step
            rows = self.monitor(step)
            if rows and trainer.logger is not None:
                trainer.logger.log_metrics({f"infoflow/{scalar_tag(r)}": float(r["value"]) for r in rows
                                            if math.isfinite(float(r["value"]))}, step=step)

    return InfoflowMonitor()
