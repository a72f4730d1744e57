"""What a training step changes and a checkpoint restores: :class:`TrainState`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

__all__ = ["TrainState"]


@dataclass
class TrainState:
    """The models, their optimisers, the fp16 gradient scaler (or None), the EMA of G (a
    ``torch.optim.swa_utils.AveragedModel``, or None) and the last step taken.

    ``state_dict`` / ``load_state_dict`` checkpoint exactly these (keys G, D, opt_g, opt_d, step,
    and scaler and G_ema when there are those); the RNG states and the callbacks' state are the trainer's, beside them
    in the same checkpoint."""

    G: torch.nn.Module
    D: torch.nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    scaler: Any = None
    ema: Any = None
    step: int = 0

    def state_dict(self) -> dict[str, Any]:
        state = {"G": self.G.state_dict(), "D": self.D.state_dict(), "opt_g": self.opt_g.state_dict(),
                 "opt_d": self.opt_d.state_dict(), "step": self.step}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        if self.ema is not None:
            state["G_ema"] = self.ema.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any], source: str | Path = "the checkpoint") -> None:
        """Restore from ``state`` (a checkpoint read from ``source``, named in the error when the
        models do not fit it). A checkpoint without a scaler or EMA leaves those as they are."""
        missing = [k for k in ("G", "D", "opt_g", "opt_d", "step") if k not in state]
        if missing:
            raise KeyError(f"{source}: not a training checkpoint (no {', '.join(missing)})")
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
        except RuntimeError as exc:
            raise RuntimeError(f"{source}: the checkpoint does not fit the generator or discriminator of this "
                               f"run (resume with the same modules): {exc}") from None
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and "G_ema" in state:
            self.ema.load_state_dict(state["G_ema"])
        self.step = int(state["step"])
