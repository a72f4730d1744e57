"""Training-time diagnostics: information plane, gradient balance and detail loss every N steps.

Configured by the ``diagnostics`` config section; measured on a fixed probe batch of training
patches, without side effects on training (BN statistics and RNG are restored).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from infotheory.monitor import Monitor

if TYPE_CHECKING:  # pragma: no cover
    from .train import Trainer

__all__ = ["DiagnosticsMonitor", "auto_layers"]


def auto_layers(depth: int) -> list[str]:
    """Encoder layers enc1..enc{depth} and decoder layers dec{depth}..dec2 of a UNetGenerator."""
    return [f"enc{i}" for i in range(1, depth + 1)] + [f"dec{i}" for i in range(depth, 1, -1)]


class DiagnosticsMonitor:
    """A Trainer callback: ``monitor(trainer, step) -> tidy rows``, measured by an
    :class:`infotheory.Monitor` on the trainer's G, D and objective (built at the first call)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        d = cfg["diagnostics"]
        self.cfg, self.d = cfg, d
        self.layers = (auto_layers(cfg["model"]["depth"]) if d["layers"] == "auto" else list(d["layers"])) \
            if d["infoplane"] else []
        self.probe: tuple[torch.Tensor, torch.Tensor] | None = None
        self._monitor: Monitor | None = None

    def _probe(self, trainer: "Trainer") -> tuple[torch.Tensor, torch.Tensor]:
        if self.probe is None:
            key = [self.cfg["seed"], 2] + ([trainer.rank] if self.gathers(trainer) else [])
            rng = np.random.default_rng(key)
            idx = rng.choice(len(trainer.train_set), size=min(self.d["probe_size"], len(trainer.train_set)),
                             replace=False)
            xs, ys = zip(*(trainer.train_set[int(i)] for i in idx))
            self.probe = (torch.stack(xs).to(trainer.device), torch.stack(ys).to(trainer.device))
        return self.probe

    def monitor(self, trainer: "Trainer") -> Monitor:
        if self._monitor is None:
            d = self.d  # no adversarial term (the L1-only control): no gradient balance to measure
            grads = d["gradients"] and trainer.objective.lambda_adv > 0
            self._monitor = Monitor(trainer.G, self._probe(trainer), D=trainer.D if grads else None,
                                    objective=trainer.objective if grads else None, every=1, layers=self.layers,
                                    estimator=d["estimator"], estimator_params=dict(d["estimator_params"] or {}),
                                    detail=d["detail"], n_per_image=d["n_per_image"], threshold=d["threshold"],
                                    seed=self.cfg["seed"], detail_estimator=d["detail_estimator"])
        return self._monitor

    def gathers(self, trainer: "Trainer") -> bool:
        """True when the information plane pools probe activations from every rank."""
        return bool(self.d.get("gather_ranks")) and trainer.world > 1 and bool(self.layers)

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
        return self.monitor(trainer).plane.measure(trainer.G, x, y, step, gather=gather, estimate=trainer.is_main)

    def __call__(self, trainer: "Trainer", step: int) -> list[dict[str, Any]]:
        return self.monitor(trainer).measure(step, infoplane=not self.gathers(trainer))
