"""pix2pix-style U-Net generator with the fixes as switches.

Shapes: input (B, in_ch, H, W) with H, W divisible by 2**depth; output (B, out_ch, H, W) in [-1, 1]
(or X + G(X) with ``global_residual``). Module names are stable for layer taps:
``enc1 … enc{depth}`` (enc{depth} is the bottleneck, H/2**depth), ``bottleneck_res`` (residual
blocks, fix 1; the deep path's output), ``skip1 … skip{depth-1}`` (identities on the skip paths), ``dec{depth} … dec1`` (dec1 returns to full resolution), ``out_act`` (Tanh),
``detail`` (fix 2).
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = ["UNetGenerator", "make_norm"]

Norm = Literal["batch", "instance", "layer", "none"]


def make_norm(kind: Norm, ch: int) -> nn.Module:
    """BatchNorm2d, InstanceNorm2d (affine, as in pix2pix/CycleGAN), layer norm over (C, H, W) per
    sample (GroupNorm with one group — the WGAN-GP critic's choice, Gulrajani et al. 2017) or Identity."""
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "layer":
        return nn.GroupNorm(1, ch)
    if kind == "instance":
        return nn.InstanceNorm2d(ch, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm={kind!r} is not valid; choose one of ['batch', 'instance', 'layer', 'none']")


class ResBlock(nn.Module):
    """3×3 conv – norm – ReLU – 3×3 conv – norm, plus identity (ResNet generator style)."""

    def __init__(self, ch: int, norm: Norm) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1), make_norm(norm, ch), nn.ReLU(True),
            nn.Conv2d(ch, ch, 3, padding=1), make_norm(norm, ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class DetailBranch(nn.Module):
    """Full-resolution detail extraction (fix 2): stride-1 3×3 convs, no down-sampling.

    Its features are accumulated into every decoder scale: average-pooled to that scale and added
    through a per-scale 1×1 projection (``inject[i]`` for decoder scale H/2**i).
    """

    def __init__(self, in_ch: int, ch: int, n_layers: int, scale_channels: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ch, 3, padding=1), nn.LeakyReLU(0.2, True)]
        for _ in range(n_layers - 1):
            layers += [nn.Conv2d(ch, ch, 3, padding=1), nn.LeakyReLU(0.2, True)]
        self.extract = nn.Sequential(*layers)
        self.inject = nn.ModuleList(nn.Conv2d(ch, c, 1) for c in scale_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.extract(x)

    def at_scale(self, feats: torch.Tensor, i: int) -> torch.Tensor:
        """Detail features for decoder scale H/2**i, channels of that scale."""
        f = nn.functional.avg_pool2d(feats, 2**i) if i > 0 else feats
        return self.inject[i](f)


class UNetGenerator(nn.Module):
    """pix2pix U-Net (Conv4×4/2 + LeakyReLU down, ReLU + ConvTranspose4×4/2 up, concat skips, Tanh).

    Args:
        in_ch, out_ch: image channels (1 grey, 3 RGB).
        depth: number of down-samplings (pix2pix: 8 at 256²).
        ngf: channels of the first layer; layer i has ngf·min(2**i, 8).
        norm: ``"batch"`` (pix2pix), ``"instance"`` or ``"none"``.
        skips: concatenate encoder features into the decoder (off: a plain encoder–decoder).
        dropout: dropout rate in the inner decoder blocks (pix2pix: 0.5 in the 3 innermost).
        res_blocks: fix 1 — residual blocks at the bottleneck scale (use with a small ``depth``).
        detail_branch: fix 2 — full-resolution detail extraction accumulated into every decoder scale.
        detail_ch, detail_layers: width and depth of the detail branch.
        global_residual: predict Ŷ = X + G(X) (needs in_ch == out_ch); the Tanh is then dropped.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, depth: int = 8, ngf: int = 64, norm: Norm = "batch",
                 skips: bool = True, dropout: float = 0.5, res_blocks: int = 0, detail_branch: bool = False,
                 detail_ch: int = 32, detail_layers: int = 3, global_residual: bool = False) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1 down-sampling, got {depth}")
        if global_residual and in_ch != out_ch:
            raise ValueError(f"global_residual needs in_ch == out_ch, got {in_ch} and {out_ch}")
        make_norm(norm, 1)  # validates the name
        self.depth, self.skips, self.global_residual = depth, skips, global_residual
        ch = [ngf * min(2**i, 8) for i in range(depth)]  # channels after enc{i+1}
        self.channels = ch
        for i in range(depth):
            c_in = in_ch if i == 0 else ch[i - 1]
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, True)]
            layers.append(nn.Conv2d(c_in, ch[i], 4, 2, 1, bias=(norm != "batch" or i in (0, depth - 1))))
            if 0 < i < depth - 1:
                layers.append(make_norm(norm, ch[i]))
            setattr(self, f"enc{i + 1}", nn.Sequential(*layers))
        self.bottleneck_res = nn.Sequential(*[ResBlock(ch[-1], norm) for _ in range(res_blocks)])
        for i in range(1, depth):  # identity taps on the skip paths (for hooks: taps, ablation, attribution)
            setattr(self, f"skip{i}", nn.Identity())
        n_drop = max(0, min(3, depth - 5)) if dropout > 0 else 0  # pix2pix: the 3 blocks below the innermost
        for i in reversed(range(depth)):  # dec{i+1} maps scale H/2**(i+1) -> H/2**i
            c_in = ch[i] if (i == depth - 1 or not skips) else 2 * ch[i]
            c_out = out_ch if i == 0 else ch[i - 1]
            layers = [nn.ReLU(True), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=(i == 0 or norm != "batch"))]
            if i > 0:
                layers.append(make_norm(norm, c_out))
                if 1 <= depth - 1 - i <= n_drop:
                    layers.append(nn.Dropout(dropout))
            setattr(self, f"dec{i + 1}", nn.Sequential(*layers))
        self.out_act = nn.Identity() if global_residual else nn.Tanh()
        self.detail = (DetailBranch(in_ch, detail_ch, detail_layers, [out_ch] + ch[:-1])
                       if detail_branch else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_ch, H, W), H and W divisible by 2**depth. Returns (B, out_ch, H, W)."""
        f = 2**self.depth
        if x.dim() != 4 or x.shape[-1] % f or x.shape[-2] % f:
            raise ValueError(f"UNetGenerator(depth={self.depth}) needs input (B, C, H, W) with H and W "
                             f"divisible by {f}; got shape {tuple(x.shape)}")
        feats = []
        h = x
        for i in range(self.depth):
            h = getattr(self, f"enc{i + 1}")(h)
            feats.append(h)
        h = self.bottleneck_res(h)
        detail = self.detail(x) if self.detail is not None else None
        for i in reversed(range(self.depth)):
            if i < self.depth - 1 and self.skips:
                h = torch.cat([h, getattr(self, f"skip{i + 1}")(feats[i])], dim=1)
            h = getattr(self, f"dec{i + 1}")(h)
            if detail is not None:
                h = h + self.detail.at_scale(detail, i)
        h = self.out_act(h)
        return x + h if self.global_residual else h

    def paths(self) -> dict[str, list[str]]:
        """Module names of the information paths: ``deep`` (bottleneck output), ``skips``, ``detail``."""
        deep = "bottleneck_res" if len(self.bottleneck_res) else f"enc{self.depth}"
        out = {"deep": [deep], "skips": [f"skip{i}" for i in range(1, self.depth)] if self.skips else []}
        if self.detail is not None:
            out["detail"] = ["detail"]
        return out
