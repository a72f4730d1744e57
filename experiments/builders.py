"""What a run's config builds: the device, the generator and discriminator, their optimisers.

The :class:`~experiments.train.Trainer` uses these as defaults; pass your own modules to it instead.
"""
from __future__ import annotations

from typing import Any

import torch

from infoflow.infotheory._optim import fused_adam
from infoflow.models import PatchDiscriminator, UNetGenerator

__all__ = ["resolve_device", "resolve_channels_last", "channels", "build_generator", "build_discriminator",
           "build_optimizers", "adam"]


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA GPU is available")
    return torch.device(device)


def resolve_channels_last(value: bool | str, device: torch.device, own_modules: bool = True) -> bool:
    """``train.channels_last`` -> whether G, D and their inputs are stored NHWC. ``auto``: on CPU for the
    config's own U-Net and PatchGAN, where oneDNN's NHWC convolutions make a step faster (README,
    benchmarks); off on CUDA until measured there, and off for modules a user passes in
    (``own_modules=False``), whose ops (a ``.view`` of an activation, say) may need contiguous NCHW."""
    if value == "auto":
        return device.type == "cpu" and own_modules
    if not isinstance(value, bool):
        raise ValueError(f"train.channels_last={value!r}; choose true, false or auto")
    return value


def adam(params: Any, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """``torch.optim.Adam`` with the fused kernel: one pass over all tensors instead of a Python loop
    of per-parameter operations (on CPU 3.6x faster an update for a standard-preset U-Net; values
    equal to float rounding). The default implementation where this torch has no fused kernel for
    the parameters' device."""
    return fused_adam(params, lr=lr, betas=betas)


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
    """Adam for G and D from the ``optim`` config section, fused (:func:`adam`) on any device
    (``device`` is kept for callers; the parameters' own device decides)."""
    betas = (optim["beta1"], optim["beta2"])
    return adam(G.parameters(), optim["lr_g"], betas), adam(D.parameters(), optim["lr_d"], betas)
