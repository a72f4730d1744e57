"""What a metric callback sees at a diagnostic step: :class:`StepContext` (the models, not the trainer)."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from infoflow.models import GeneratorObjective

__all__ = ["StepContext", "MetricCallback", "check_metric_callback"]


@dataclass(frozen=True)
class StepContext:
    """What a callback sees at a diagnostic step (every ``train.diagnostics_every`` steps): the
    models to measure, not the trainer. A callback returns tidy metric rows (dicts with step,
    split, metric, value[, layer, estimator, params]) and must leave training untouched (restore
    any module mode, BatchNorm statistics or RNG state it changes).

    ``G``, ``D``: the live generator and discriminator (unwrapped from DDP / compile);
    ``G_eval``: the evaluated generator (the EMA of G under ``train.ema``, else G);
    ``objective``: the generator objective; ``train_set``: the training pairs ((C, H, W) tensors in
    [-1, 1]); ``cfg``: the run's config (read only); ``run_dir``: the run folder;
    ``rank``/``world``: the DDP rank and world size (callbacks run on rank 0 only).
    """

    step: int
    G: torch.nn.Module
    D: torch.nn.Module
    objective: GeneratorObjective
    train_set: Any
    device: torch.device
    cfg: dict[str, Any]
    run_dir: Path
    rank: int = 0
    world: int = 1
    evaluated: Callable[[], torch.nn.Module] | None = field(default=None, repr=False)

    @property
    def G_eval(self) -> torch.nn.Module:
        return self.evaluated() if self.evaluated is not None else self.G

    @property
    def is_main(self) -> bool:
        return self.rank == 0


MetricCallback = Callable[[StepContext], Sequence[dict[str, Any]]]


def check_metric_callback(cb: Any) -> None:
    """A callback is called with one argument, a :class:`StepContext`."""
    if not callable(cb):
        raise TypeError(f"callbacks must be experiments.training.Callback objects or callables taking a "
                        f"StepContext, got {type(cb).__name__}")
    try:
        inspect.signature(cb).bind(None)
    except TypeError:
        raise TypeError(f"callback {getattr(cb, '__name__', cb)!r} has signature {inspect.signature(cb)}; callbacks "
                        "take one argument, a StepContext (ctx.step, ctx.G, ctx.D, ctx.objective, ...)") from None
    except ValueError:  # no signature to inspect (some builtins): trust it
        pass
