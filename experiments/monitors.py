"""Training-time diagnostics: information plane, gradient balance and detail loss every N steps.

Configured by the ``diagnostics`` config section; measured on a fixed probe batch of training
patches, without side effects on training (BN statistics and RNG are restored).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from infotheory.diagnostics import detail_loss, eval_mode, gradient_balance, no_side_effects
from infotheory.bands import default_levels
from infotheory.infoplane import InformationPlane

if TYPE_CHECKING:  # pragma: no cover
    from .train import Trainer

__all__ = ["DiagnosticsMonitor", "auto_layers"]


def auto_layers(depth: int) -> list[str]:
    """Encoder layers enc1..enc{depth} and decoder layers dec{depth}..dec2 of a UNetGenerator."""
    return [f"enc{i}" for i in range(1, depth + 1)] + [f"dec{i}" for i in range(depth, 1, -1)]


class DiagnosticsMonitor:
    """A Trainer callback: ``monitor(trainer, step) -> tidy rows``."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        d = cfg["diagnostics"]
        self.cfg, self.d = cfg, d
        layers = auto_layers(cfg["model"]["depth"]) if d["layers"] == "auto" else list(d["layers"])
        self.plane = InformationPlane(layers, d["estimator"], dict(d["estimator_params"] or {}),
                                      n_per_image=d["n_per_image"], seed=cfg["seed"]) if d["infoplane"] else None
        self.probe: tuple[torch.Tensor, torch.Tensor] | None = None
        self._warned = False

    def _probe(self, trainer: "Trainer") -> tuple[torch.Tensor, torch.Tensor]:
        if self.probe is None:
            key = [self.cfg["seed"], 2] + ([trainer.rank] if self.gathers(trainer) else [])
            rng = np.random.default_rng(key)
            idx = rng.choice(len(trainer.train_set), size=min(self.d["probe_size"], len(trainer.train_set)),
                             replace=False)
            xs, ys = zip(*(trainer.train_set[int(i)] for i in idx))
            self.probe = (torch.stack(xs).to(trainer.device), torch.stack(ys).to(trainer.device))
        return self.probe

    def gathers(self, trainer: "Trainer") -> bool:
        """True when the information plane pools probe activations from every rank."""
        return bool(self.d.get("gather_ranks")) and trainer.world > 1 and self.plane is not None

    def collective(self, trainer: "Trainer", step: int) -> list[dict[str, Any]]:
        """Called on *every* rank at diagnostic steps when activations are gathered across ranks."""
        import torch.distributed as dist

        def gather(t: torch.Tensor) -> torch.Tensor:
            dev = trainer.device if dist.get_backend() == "nccl" else torch.device("cpu")
            t = t.to(dev).contiguous()
            parts = [torch.empty_like(t) for _ in range(trainer.world)]
            dist.all_gather(parts, t)
            return torch.cat(parts).cpu()

        x, y = self._probe(trainer)
        return self.plane.measure(trainer.G, x, y, step, gather=gather, estimate=trainer.is_main)

    def __call__(self, trainer: "Trainer", step: int) -> list[dict[str, Any]]:
        x, y = self._probe(trainer)
        rows: list[dict[str, Any]] = []
        if self.plane is not None and not self.gathers(trainer):
            rows += self.plane.measure(trainer.G, x, y, step)
        if self.d["gradients"]:
            rows += gradient_balance(trainer.G, trainer.D, trainer.objective, x, y, threshold=self.d["threshold"],
                                     step=step, warn=not self._warned)
            self._warned = self._warned or any(r["metric"] == "vanishing_adv_gradient" and r["value"] == 1.0
                                               for r in rows)  # warn once per run; every step is in the table
        if self.d["detail"]:
            with no_side_effects(trainer.G), eval_mode(trainer.G), torch.no_grad():
                y_hat = trainer.G(x)
            rows += detail_loss(x, y_hat, y, levels=default_levels(x.shape[-1]), estimator=self.d["detail_estimator"], step=step)
        return rows
