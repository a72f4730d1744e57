"""The GAN trainer — kept importable from here; it lives in :mod:`experiments.training` (the step, the
hooks, the loop: read :func:`~experiments.training.step.gan_step` first)."""
from .training import (Callback, StepContext, Trainer, compile_modules, ema_warmup, gan_step,  # noqa: F401
                       resolve_amp)

__all__ = ["Trainer", "Callback", "StepContext", "gan_step", "compile_modules", "resolve_amp", "ema_warmup"]
