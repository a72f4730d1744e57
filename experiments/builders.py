"""What a run's config builds: the device, the generator and discriminator, their optimisers.

The :class:`~experiments.train.Trainer` uses these as defaults; pass your own modules to it instead.
"""
from __future__ import annotations

from typing import Any

import torch

from models import PatchDiscriminator, UNetGenerator

__all__ = ["resolve_device", "channels", "build_generator", "build_discriminator", "build_optimizers"]


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA GPU is available")
    return torch.device(device)


def channels(cfg: dict[str, Any]) -> int:
    """Image channels of the config's data: 1 (``grey``) or 3."""
    return 1 if cfg["data"]["mode"] == "grey" else 3


def build_generator(cfg: dict[str, Any]) -> UNetGenerator:
    """The U-Net of the ``model`` section (C -> C channels)."""
    c = channels(cfg)
    return UNetGenerator(c, c, **cfg["model"])


def build_discriminator(cfg: dict[str, Any]) -> PatchDiscriminator:
    """The conditional PatchGAN of the ``disc`` section (input 2C channels: degraded and image)."""
    c = channels(cfg)
    return PatchDiscriminator(c, c, **cfg["disc"])


def build_optimizers(G: torch.nn.Module, D: torch.nn.Module, optim: dict[str, Any],
                     device: torch.device) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and D from the ``optim`` config section. On CUDA the fused kernel (one launch per
    step instead of one per parameter group operation); on CPU the default implementation."""
    kw: dict[str, Any] = {"betas": (optim["beta1"], optim["beta2"])}
    if device.type == "cuda":
        kw["fused"] = True
    return (torch.optim.Adam(G.parameters(), lr=optim["lr_g"], **kw),
            torch.optim.Adam(D.parameters(), lr=optim["lr_d"], **kw))
