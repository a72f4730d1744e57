"""Laplacian-pyramid frequency bands of image batches (torch, any device)."""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

__all__ = ["laplacian_bands", "default_levels", "BAND_NAMES"]

_K = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0  # binomial 5-tap (Burt & Adelson)


def _blur(x: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    k = (_K[:, None] * _K[None, :]).to(x.device, x.dtype).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k, groups=c)


def laplacian_bands(x: torch.Tensor, levels: int = 3) -> list[torch.Tensor]:
    """(B, C, H, W) -> [band_0 (finest, H×W), band_1 (H/2), ..., band_{levels-1}, lowpass].

    band_k = G_k − upsample(G_{k+1}); summing the upsampled bands reconstructs x exactly.
    H and W must be divisible by 2**levels.
    """
    if x.dim() != 4:
        raise ValueError(f"laplacian_bands needs (B, C, H, W) images, got shape {tuple(x.shape)}")
    f = 2**levels
    if x.shape[-1] % f or x.shape[-2] % f:
        raise ValueError(f"image size {tuple(x.shape[-2:])} must be divisible by 2**levels = {f}")
    if min(x.shape[-2:]) // 2 ** (levels - 1) < 3:  # the 5×5 blur reflects 2 pixels: a level needs 3
        most = math.floor(math.log2(min(x.shape[-2:]) / 3)) + 1
        fix = f"use levels={most} or fewer" if most >= 1 else "the image is too small for any band"
        raise ValueError(f"image size {tuple(x.shape[-2:])} is too small for {levels} pyramid levels: the "
                         f"5×5 blur needs levels of at least 3×3 pixels — {fix}")
    bands, g = [], x
    for _ in range(levels):
        low = _blur(g)[..., ::2, ::2]
        up = F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False)
        bands.append(g - up)
        g = low
    bands.append(g)
    return bands


def default_levels(size: int, most: int = 3) -> int:
    """Pyramid levels for images of side ``size``: up to ``most``, keeping the coarsest band ≥ 4 px."""
    return max(1, min(most, int(math.log2(size)) - 2))


def BAND_NAMES(levels: int) -> list[str]:  # noqa: N802 - reads like a constant table
    """['band0 (1/1)', 'band1 (1/2)', ..., 'lowpass'] labels for ``laplacian_bands``."""
    return [f"band{k} (1/{2**k})" for k in range(levels)] + ["lowpass"]
