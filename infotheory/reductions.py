"""Reductions that make conv feature maps tractable for MI: (B, C, H, W) -> (N, d) sample matrices.

Each reduction is a small object with ``__call__(t) -> (N, d)`` and ``describe() -> dict`` (recorded
next to every MI number). They run on the tensor's device, before anything is copied to the host.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["Reduction", "Flatten", "GlobalPool", "PatchSample", "RandomProjection", "Chain", "as_reduction",
           "patch_vectors"]


class Reduction:
    name = "reduction"

    def __call__(self, t: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"reduction": self.name, **(asdict(self) if hasattr(self, "__dataclass_fields__") else {})}


@dataclass
class Flatten(Reduction):
    """(B, ...) -> (B, prod(...)): one sample per example, every unit a dimension."""

    name = "flatten"

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], -1)


@dataclass
class GlobalPool(Reduction):
    """(B, C, H, W) -> (B, C): per-channel spatial mean (``mean``) or max (``max``)."""

    mode: str = "mean"
    name = "global_pool"

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        if t.dim() < 3:
            return t.reshape(t.shape[0], -1)
        flat = t.flatten(2)
        return flat.mean(-1) if self.mode == "mean" else flat.amax(-1)


@dataclass
class PatchSample(Reduction):
    """(B, C, H, W) -> (B·n, C·p²): ``n`` seeded, distinct ``p``×``p`` windows per image.

    Windows start on a grid of step ``stride``; positions are a seeded random subset of that grid
    (all of it when it has ≤ n cells). Two maps whose grids have the same size get the *same*
    cells, which aligns them exactly: a feature map of stride s sampled with (patch=1, stride=1)
    and the input image sampled with (patch=s, stride=s) give each feature vector together with
    the s×s input patch under it.
    """

    n_per_image: int = 16
    patch: int = 1
    seed: int = 0
    stride: int = 1
    name = "patch_sample"

    def positions(self, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
        gh, gw = (h - self.patch) // self.stride + 1, (w - self.patch) // self.stride + 1
        if gh < 1 or gw < 1:
            raise ValueError(f"PatchSample(patch={self.patch}) is larger than the {h}×{w} feature map")
        g = torch.Generator().manual_seed(self.seed * 7919 + gh * 131 + gw)
        idx = torch.randperm(gh * gw, generator=g)[: self.n_per_image]
        return (idx // gw) * self.stride, (idx % gw) * self.stride

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        if t.dim() != 4:
            raise ValueError(f"PatchSample needs (B, C, H, W) feature maps, got shape {tuple(t.shape)}")
        b, c, h, w = t.shape
        ys, xs = self.positions(h, w)
        win = t.unfold(2, self.patch, 1).unfold(3, self.patch, 1)  # (B, C, H', W', p, p)
        sel = win[:, :, ys.to(t.device), xs.to(t.device)]  # (B, C, n, p, p)
        return sel.permute(0, 2, 1, 3, 4).reshape(b * len(ys), c * self.patch**2)


@dataclass
class RandomProjection(Reduction):
    """(N, D) -> (N, d) with a seeded Gaussian matrix / sqrt(d) (Johnson–Lindenstrauss); d >= D is a no-op."""

    dim: int = 16
    seed: int = 0
    name = "random_projection"

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        t = t.reshape(t.shape[0], -1)
        if t.shape[1] <= self.dim:
            return t
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + t.shape[1])
        p = torch.randn(t.shape[1], self.dim, generator=g).to(t.device, t.dtype) / math.sqrt(self.dim)
        return t @ p


class Chain(Reduction):
    """Apply reductions in order, e.g. ``Chain(GlobalPool(), RandomProjection(8))``."""

    name = "chain"

    def __init__(self, *steps: Reduction) -> None:
        self.steps = steps

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        for s in self.steps:
            t = s(t)
        return t

    def describe(self) -> dict[str, Any]:
        return {"reduction": "chain", "steps": [s.describe() for s in self.steps]}


def patch_vectors(img: torch.Tensor, patch: int, n_per_image: int, seed: int, dim: int) -> np.ndarray:
    """(B, C, H, W) -> float64 numpy (B·n, ≤dim): seeded p×p patches (p clipped to the image), randomly
    projected to ``dim`` dims — the sample matrix the detail and source diagnostics estimate MI on."""
    s = PatchSample(n_per_image=n_per_image, patch=min(patch, img.shape[-1], img.shape[-2]), seed=seed)(img)
    return RandomProjection(dim, seed)(s).double().cpu().numpy()


def as_reduction(r: Reduction | str | None) -> Reduction:
    """None/'flatten', 'pool', or a Reduction instance."""
    if r is None or r == "flatten":
        return Flatten()
    if r == "pool":
        return GlobalPool()
    if isinstance(r, Reduction):
        return r
    raise ValueError(f"unknown reduction {r!r}; use 'flatten', 'pool' or a Reduction object")
