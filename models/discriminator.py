"""Conditional PatchGAN discriminator (pix2pix): scores overlapping 70×70 patches."""
from __future__ import annotations

import torch
from torch import nn

from .unet import Norm, make_norm

__all__ = ["PatchDiscriminator"]


class PatchDiscriminator(nn.Module):
    """C64-C128-C256-C512 PatchGAN; with ``n_layers=3`` each output logit sees a 70×70 input patch.

    Input: the degraded image x (B, in_ch, H, W) and a clean or restored image y (B, out_ch, H, W),
    concatenated on channels (conditional GAN). Output: logits (B, 1, H', W'), one per patch.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, ndf: int = 64, n_layers: int = 3,
                 norm: Norm | str = "batch", conditional: bool = True) -> None:
        super().__init__()
        norm = "batch" if norm == "auto" else norm  # a config resolves auto per loss (layer norm for WGAN-GP)
        self.conditional, self.n_layers = conditional, n_layers
        c = in_ch + out_ch if conditional else out_ch
        layers: list[nn.Module] = [nn.Conv2d(c, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=norm != "batch"),
                       make_norm(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """x: condition (B, in_ch, H, W); y: image to judge (B, out_ch, H, W) -> logits (B, 1, H', W')."""
        if x.shape[0] != y.shape[0] or x.shape[-2:] != y.shape[-2:]:
            raise ValueError(f"PatchDiscriminator: condition {tuple(x.shape)} and image {tuple(y.shape)} "
                             "must share batch and spatial size")
        m = self.min_size(self.n_layers)
        if min(y.shape[-2:]) < m:
            raise ValueError(f"PatchDiscriminator(n_layers={self.n_layers}) needs images of at least {m}×{m}, "
                             f"got {tuple(y.shape[-2:])}; use fewer layers or larger crops")
        return self.net(torch.cat([x, y], dim=1) if self.conditional else y)

    @staticmethod
    def min_size(n_layers: int = 3) -> int:
        """Smallest input side that leaves at least one output logit (3·2**n_layers)."""
        return 3 * 2**n_layers

    @staticmethod
    def receptive_field(n_layers: int = 3) -> int:
        """Input patch size seen by one output logit (70 for n_layers=3)."""
        rf, stride_prod = 1, 1
        strides = [2] * n_layers + [1, 1]
        for s in strides:
            stride_prod *= s
        for s in reversed(strides):
            rf = (rf - 1) * s + 4
        return rf
