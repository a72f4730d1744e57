"""Realism without downloaded weights: sliced Wasserstein distance between the Laplacian-pyramid
patch distributions of two image sets (Karras et al. 2018, "Progressive growing of GANs", §5).

GANs trade distortion (PSNR/SSIM) for realism, so a restorer is judged on both axes. For each
pyramid level, ``per_image`` seeded 7×7 patches are drawn from every image of both sets; each
patch descriptor is normalised per channel by the mean and std of that level's descriptors over
*both* sets together; the distance is the sliced Wasserstein-1 distance — the mean, over
``n_dirs`` random unit directions, of the W1 distance between the two 1-D projections (sorted
samples; quantiles when the sets differ in size). Lower is more realistic; identical sets give 0.
Reported ×10³ as in the paper, per level and averaged.

Images: float arrays in [0, 1], (H, W) or (H, W, 3), any size ≥ the patch at the coarsest level.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from infoflow.infotheory.bands import laplacian_bands

from .metrics import check_image

__all__ = ["sliced_wasserstein", "pyramid_patches", "swd_realism"]


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, n_dirs: int = 512, seed: int = 0) -> float:
    """Sliced W1 between samples a (n, d) and b (m, d): mean over random unit directions."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"sliced_wasserstein needs (n, d) and (m, d) samples, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise ValueError(f"sliced_wasserstein needs at least 2 samples per set, got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((a.shape[1], n_dirs))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
    if len(pa) != len(pb):  # compare quantile functions on a common grid
        q = (np.arange(max(len(pa), len(pb))) + 0.5) / max(len(pa), len(pb))
        pa = np.quantile(pa, q, axis=0)
        pb = np.quantile(pb, q, axis=0)
    return float(np.abs(pa - pb).mean())


def _to_batch(img: np.ndarray) -> torch.Tensor:
    a = check_image(img)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))[None]


def pyramid_patches(images: Sequence[np.ndarray], levels: int, patch: int = 7, per_image: int = 128,
                    seed: int = 0) -> list[np.ndarray]:
    """Per level (finest first, then coarser bands, then the low-pass): (N·per_image, C·patch²) patch
    descriptors at seeded positions (the same seed gives the same positions for same-size images)."""
    out: list[list[np.ndarray]] = [[] for _ in range(levels + 1)]
    f = 2**levels
    for i, img in enumerate(images):
        x = _to_batch(img)
        h, w = x.shape[-2] - x.shape[-2] % f, x.shape[-1] - x.shape[-1] % f
        if min(h, w) // f < max(patch, 4):
            raise ValueError(f"image {i} ({x.shape[-2]}×{x.shape[-1]}) is too small for {levels} levels of "
                             f"{patch}×{patch} patches: needs a side of at least {max(patch, 4) * f}")
        bands = laplacian_bands(x[..., :h, :w], levels)
        rng = np.random.default_rng([seed, i])
        for k, band in enumerate(bands):
            b = band[0]
            ys = rng.integers(0, b.shape[-2] - patch + 1, per_image)
            xs = rng.integers(0, b.shape[-1] - patch + 1, per_image)
            out[k].append(np.stack([b[:, y : y + patch, x : x + patch].reshape(-1).numpy() for y, x in zip(ys, xs)]))
    return [np.concatenate(p) for p in out]


def swd_realism(restored: Sequence[np.ndarray], clean: Sequence[np.ndarray], levels: int | None = None,
                patch: int = 7, per_image: int = 128, n_dirs: int = 512, seed: int = 0) -> dict[str, float]:
    """SWD ×10³ per pyramid level (``"swd_level0"`` finest …, ``"swd_lowpass"``) and their mean
    (``"swd"``) between the restored and the clean set. ``levels`` default: as many as keep the
    coarsest band ≥ 16 px (at most 3)."""
    if not restored or not clean:
        raise ValueError("swd_realism needs two non-empty image sets")
    if levels is None:
        side = min(min(np.asarray(i).shape[:2]) for i in (*restored, *clean))
        levels = int(max(1, min(3, np.floor(np.log2(side / 16)))))
    pa = pyramid_patches(restored, levels, patch, per_image, seed)
    pb = pyramid_patches(clean, levels, patch, per_image, seed)  # the same positions: paired, less noise
    out: dict[str, float] = {}
    for k, (a, b) in enumerate(zip(pa, pb)):
        both = np.concatenate([a, b])
        c = a.shape[1] // (patch * patch)
        mu = both.reshape(len(both), c, -1).mean(axis=(0, 2)).repeat(patch * patch)
        sd = both.reshape(len(both), c, -1).std(axis=(0, 2)).repeat(patch * patch) + 1e-12
        name = "swd_lowpass" if k == levels else f"swd_level{k}"
        out[name] = 1e3 * sliced_wasserstein((a - mu) / sd, (b - mu) / sd, n_dirs, seed)
    out["swd"] = float(np.mean(list(out.values())))
    return out
