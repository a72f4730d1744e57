"""The trainer's hooks (Lightning's ``Callback``, smaller) and the built-in ones: what happens around
each step — logging, diagnostics, evaluation and model selection, samples, checkpoints.

A :class:`Callback` is called in the order of the trainer's list: ``on_fit_start(trainer)`` once,
``on_step_end(trainer, step, stats)`` after every step on every rank (a callback that writes checks
``trainer.is_main``; a collective call must be made by every rank), ``on_fit_end(trainer, summary)``
once before the final scores. ``state_dict()`` / ``load_state_dict(state)``: what it keeps across a
resume — its keys go into the checkpoint beside the models', and the whole checkpoint comes back.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

from .context import MetricCallback

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import Trainer

__all__ = ["Callback", "LogTrainStats", "Diagnostics", "Evaluate", "Samples", "Checkpoint"]


def _every(step: int, n: int, last: int) -> bool:
    return bool(n) and step % n == 0 or step == last


class Callback:
    """No-op hooks; subclass and override the ones you need."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Once, after the set-up (models built, a resumed run's state loaded)."""

    def on_step_end(self, trainer: Trainer, step: int, stats: dict[str, float]) -> None:
        """After the update of ``step`` (1-based); ``stats``: its losses and D outputs (floats)."""

    def on_fit_end(self, trainer: Trainer, summary: dict[str, Any]) -> None:
        """Once, after the last step and before the final scores (rank 0)."""

    def state_dict(self) -> dict[str, Any]:
        """Checkpointed beside the models (keys must not clash with the trainer's own)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The whole checkpoint of a resumed run."""


class LogTrainStats(Callback):
    """Every ``train.log_every`` steps (and the last): the step's stats as split ``train``, and on the bar."""

    def __init__(self, bar: Any = None) -> None:
        self.bar = bar

    def on_step_end(self, trainer: Trainer, step: int, stats: dict[str, float]) -> None:
        if not trainer.is_main or not _every(step, trainer.cfg["train"]["log_every"], trainer.total_steps):
            return
        for k, v in stats.items():
            if math.isfinite(v):  # a step the fp16 scaler skipped logs amp_skipped=1, not NaN losses
                trainer.run.log(step, "train", k, v)
        if self.bar is not None:
            self.bar.set_postfix({k: f"{stats[k]:.3f}" for k in ("loss_d", "loss_g_adv", "loss_g_content") if k in stats})


class Diagnostics(Callback):
    """Every ``train.diagnostics_every`` steps: the built-in monitor (pooled over ranks when it
    gathers) and the metric callbacks (functions of a :class:`StepContext` returning tidy rows, rank 0)."""

    def __init__(self, monitor: Any, metric_callbacks: Sequence[MetricCallback]) -> None:
        self.monitor, self.metric_callbacks = monitor, list(metric_callbacks)

    def on_step_end(self, trainer: Trainer, step: int, stats: dict[str, float]) -> None:
        every = trainer.cfg["train"]["diagnostics_every"]
        if not every or step % every:
            return
        ctx = trainer.context(step)
        if self.monitor is not None and self.monitor.gathers(ctx):
            rows = self.monitor.collective(ctx)  # every rank joins; rank 0 gets the rows
            if trainer.is_main:
                trainer.run.log_many(rows)
        if trainer.is_main:
            for cb in self.metric_callbacks:
                trainer.run.log_many(cb(ctx))


class Evaluate(Callback):
    """Every ``train.eval_every`` steps (and the last): the held-out curve (the validation split, or
    test crops without one). With ``train.select: best_val`` it keeps the evaluated generator's
    weights at its best validation PSNR (checkpointed as ``G_best``) and, at the end, loads them
    into the evaluated generator (logged as split ``selection``: ``step``, ``val_psnr``)."""

    def __init__(self, select: bool) -> None:
        self.select, self.best = select, None

    def on_step_end(self, trainer: Trainer, step: int, stats: dict[str, float]) -> None:
        if not trainer.is_main or not _every(step, trainer.cfg["train"]["eval_every"], trainer.total_steps):
            return
        means = trainer.evaluate()
        if self.select and (self.best is None or means["psnr"] > self.best["psnr"]):
            self.best = {"step": step, "psnr": means["psnr"],
                         "weights": {k: v.detach().clone() for k, v in trainer.G_eval.state_dict().items()}}

    def on_fit_end(self, trainer: Trainer, summary: dict[str, Any]) -> None:
        summary["convergence"] = trainer.log_convergence(
            selected=self.best is not None, best=self.best["psnr"] if self.best is not None else None)
        if self.best is None:
            return
        trainer.load_evaluated(self.best["weights"])
        trainer.run.log(trainer.step, "selection", "step", self.best["step"])
        trainer.run.log(trainer.step, "selection", "val_psnr", self.best["psnr"])

    def state_dict(self) -> dict[str, Any]:
        if self.best is None:
            return {}
        return {"G_best": self.best["weights"], "best_step": self.best["step"], "best_psnr": self.best["psnr"]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.select and "G_best" in state:
            self.best = {"step": int(state["best_step"]), "psnr": float(state["best_psnr"]), "weights": state["G_best"]}


class Samples(Callback):
    """Every ``train.sample_every`` steps (and the last): input | output | target rows of the first
    test pairs, as ``samples/step_NNNNNN.png`` (and in TensorBoard with the information plane)."""

    def on_step_end(self, trainer: Trainer, step: int, stats: dict[str, float]) -> None:
        if not trainer.is_main or not _every(step, trainer.cfg["train"]["sample_every"], trainer.total_steps):
            return
        from skimage.io import imsave

        from ..evaluate import sample_grid

        grid = sample_grid(trainer.G_eval, trainer.test_pairs, trainer.device, trainer.multiple)
        imsave(trainer.run.path / "samples" / f"step_{step:06d}.png", grid, check_contrast=False)
        if trainer.tb is not None:
            trainer.tb.image("samples (degraded | restored | clean)", grid, step)
            trainer.tb.information_plane(trainer.run.rows, step)
            trainer.tb.flush()


class Checkpoint(Callback):
    """Every ``train.ckpt_every`` steps (and the last): every rank's RNG state gathered (a
    collective), then rank 0 writes metrics and the checkpoint — the models' state and every
    callback's :meth:`Callback.state_dict` — atomically. Last in the list, so it saves what the
    other callbacks did at this step."""

    def on_step_end(self, trainer: Trainer, step: int, stats: dict[str, float]) -> None:
        if _every(step, trainer.cfg["train"]["ckpt_every"], trainer.total_steps):
            trainer.checkpoint(trainer.gather_rngs())


def default_callbacks(trainer: Trainer, bar: Any, metric_callbacks: Sequence[MetricCallback],
                      user: Sequence[Callback]) -> list[Callback]:
    """The built-ins in their order, the user's hook objects before the checkpoint that saves them."""
    return [LogTrainStats(bar), Diagnostics(trainer.monitor, metric_callbacks),
            Evaluate(trainer.cfg["train"]["select"] == "best_val"), Samples(), *user, Checkpoint()]
