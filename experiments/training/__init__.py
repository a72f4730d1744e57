"""Training: the step (:mod:`.step`), the hooks around it (:mod:`.callbacks`), what it changes (:mod:`.state`), the loop (:mod:`.trainer`)."""
from .callbacks import Callback, Checkpoint, Diagnostics, Evaluate, LogTrainStats, Samples
from .context import MetricCallback, StepContext
from .state import TrainState
from .step import MAX_SKIPPED_STEPS, average_gradients, check_step, compile_modules, ema_warmup, gan_step, resolve_amp
from .trainer import EMA_BN_STEP0, Trainer, dist_env

__all__ = ["Trainer", "TrainState", "Callback", "StepContext", "MetricCallback", "gan_step", "check_step", "compile_modules",
           "resolve_amp", "ema_warmup", "average_gradients", "dist_env", "LogTrainStats", "Diagnostics", "Evaluate",
           "Samples", "Checkpoint", "MAX_SKIPPED_STEPS", "EMA_BN_STEP0"]
