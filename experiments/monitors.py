"""Training-time diagnostics: information plane, gradient balance and detail loss every N steps.

Configured by the ``diagnostics`` config section; measured on a fixed probe batch of training
patches, without side effects on training (BN statistics and RNG are restored).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from infoflow.infotheory.monitor import Monitor
from infoflow.models import UNetGenerator

if TYPE_CHECKING:  # pragma: no cover
    from .training import StepContext

__all__ = ["DiagnosticsMonitor", "auto_layers"]


def auto_layers(depth: int) -> list[str]:
    """Encoder layers enc1..enc{depth} and decoder layers dec{depth}..dec2 of a UNetGenerator."""
    return [f"enc{i}" for i in range(1, depth + 1)] + [f"dec{i}" for i in range(depth, 1, -1)]


class DiagnosticsMonitor:
    """A Trainer callback: ``monitor(ctx) -> tidy rows``, measured by an :class:`infotheory.Monitor`
    on the context's G, D and objective (built at the first call). ``diagnostics.layers: auto``
    taps the U-Net's encoder and decoder blocks, or, for a generator passed to the Trainer, the
    layers where the resolution changes (:func:`infotheory.monitor.resolution_layers`)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        d = cfg["diagnostics"]
        self.cfg, self.d = cfg, d
        self.probe: tuple[torch.Tensor, torch.Tensor] | None = None
        self._monitor: Monitor | None = None

    def layers(self, G: torch.nn.Module) -> list[str] | None:
        """The information-plane layers for G ([] when off; None: Monitor's resolution layers)."""
        if not self.d["infoplane"]:
            return []
        if self.d["layers"] != "auto":
            return list(self.d["layers"])
        return auto_layers(self.cfg["model"]["depth"]) if isinstance(G, UNetGenerator) else None

    def _probe(self, ctx: "StepContext") -> tuple[torch.Tensor, torch.Tensor]:
        if self.probe is None:
            key = [self.cfg["seed"], 2] + ([ctx.rank] if self.gathers(ctx) else [])
            rng = np.random.default_rng(key)
            n = len(ctx.train_set)
            idx = rng.choice(n, size=min(self.d["probe_size"], n), replace=False)
            xs, ys = zip(*(ctx.train_set[int(i)][:2] for i in idx))
            self.probe = (torch.stack(xs).to(ctx.device), torch.stack(ys).to(ctx.device))
        return self.probe

    def monitor(self, ctx: "StepContext") -> Monitor:
        if self._monitor is None:
            d = self.d  # no adversarial term (the L1-only control): no gradient balance to measure
            grads = d["gradients"] and ctx.objective.lambda_adv > 0
            self._monitor = Monitor(ctx.G, self._probe(ctx), D=ctx.D if grads else None,
                                    objective=ctx.objective if grads else None, every=1, layers=self.layers(ctx.G),
                                    estimator=d["estimator"], estimator_params=dict(d["estimator_params"] or {}),
                                    detail=d["detail"], n_per_image=d["n_per_image"], threshold=d["threshold"],
                                    seed=self.cfg["seed"], detail_estimator=d["detail_estimator"])
        return self._monitor

    def gathers(self, ctx: "StepContext") -> bool:
        """True when the information plane pools probe activations from every rank."""
        return bool(self.d.get("gather_ranks")) and ctx.world > 1 and self.layers(ctx.G) != []

    def collective(self, ctx: "StepContext") -> list[dict[str, Any]]:
        """Called on *every* rank at diagnostic steps when activations are gathered across ranks."""
        import torch.distributed as dist

        def gather(t: torch.Tensor) -> torch.Tensor:
            dev = ctx.device if dist.get_backend() == "nccl" else torch.device("cpu")
            t = t.to(dev).contiguous()
            parts = [torch.empty_like(t) for _ in range(ctx.world)]
            dist.all_gather(parts, t)
            return torch.cat(parts).cpu()

        x, y = self._probe(ctx)
        return self.monitor(ctx).plane.measure(ctx.G, x, y, ctx.step, gather=gather, estimate=ctx.is_main)

    def __call__(self, ctx: "StepContext") -> list[dict[str, Any]]:
        return self.monitor(ctx).measure(ctx.step, infoplane=not self.gathers(ctx))
