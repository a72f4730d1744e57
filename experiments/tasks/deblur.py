"""Deblurring: y = k ∗ x + n with a random motion or defocus kernel per image, on CBSD68.

The whole task is this module: its degradation (registered as ``blur``), its classical reference
(Richardson–Lucy deconvolution, registered as ``rl``) and the :class:`Task`. Kernels: *motion* — a
line of length 5–13 px at a uniform angle, *defocus* — a uniform disk of radius 1.5–4 px, drawn
with equal probability, 15 × 15, normalised; then white Gaussian noise σ (0–255 scale, default
2). The kernel differs per image and is not given to the restorer (blind deblurring). The
classical reference does not know it either: Richardson–Lucy with a Gaussian PSF of 1.5 px, the
kernels' average spread.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ..classical import ClassicalMethod, register_classical
from ..data.degradations import register_degradation
from .base import Task, register

__all__ = ["TASK", "blur", "motion_kernel", "defocus_kernel", "richardson_lucy_restore"]

SIZE = 15


def motion_kernel(length: float, angle: float, size: int = SIZE) -> np.ndarray:
    """(size, size) normalised line of ``length`` px at ``angle`` radians through the centre."""
    c = (size - 1) / 2
    t = np.linspace(-length / 2, length / 2, int(np.ceil(length)) * 4 + 1)
    k = np.zeros((size, size))
    for r, q in zip(c + t * np.sin(angle), c + t * np.cos(angle)):
        k[int(round(r)), int(round(q))] += 1.0
    return k / k.sum()


def defocus_kernel(radius: float, size: int = SIZE) -> np.ndarray:
    """(size, size) normalised uniform disk of ``radius`` px."""
    c = (size - 1) / 2
    yy, xx = np.mgrid[:size, :size]
    k = ((yy - c) ** 2 + (xx - c) ** 2 <= radius**2).astype(float)
    return k / k.sum()


def blur(clean: np.ndarray, rng: np.random.Generator, sigma: float = 2.0, motion_prob: float = 0.5):
    """Blur ``clean`` (H, W[, C], [0, 1]) with a random motion or defocus kernel, add N(0, (σ/255)²).
    Returns (degraded float32, params with the kernel's kind and shape parameters)."""
    if rng.random() < motion_prob:
        length, angle = float(rng.uniform(5, 13)), float(rng.uniform(0, np.pi))
        k, p = motion_kernel(length, angle), {"kernel": "motion", "length": length, "angle": angle}
    else:
        radius = float(rng.uniform(1.5, 4.0))
        k, p = defocus_kernel(radius), {"kernel": "defocus", "radius": radius}
    img = clean.astype(np.float64)
    out = (ndimage.convolve(img, k, mode="reflect") if img.ndim == 2
           else np.stack([ndimage.convolve(img[..., c], k, mode="reflect") for c in range(img.shape[2])], axis=-1))
    out = out + rng.standard_normal(out.shape) * (sigma / 255.0)
    return out.astype(np.float32), {**p, "sigma": float(sigma), "motion_prob": float(motion_prob)}


def richardson_lucy_restore(img: np.ndarray, iterations: int = 20, psf_sigma: float = 1.5, **_: Any) -> np.ndarray:
    """Richardson–Lucy (scikit-image) with a Gaussian PSF of ``psf_sigma`` px, per channel."""
    from skimage.restoration import richardson_lucy

    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    psf = np.exp(-(yy**2 + xx**2) / (2 * psf_sigma**2))
    psf /= psf.sum()
    a = np.clip(img.astype(np.float64), 0, 1)
    pad = SIZE  # reflect-padded: scikit-image convolves with zeros outside, which darkens the border
    chans = [a] if a.ndim == 2 else [a[..., c] for c in range(a.shape[2])]
    out = [richardson_lucy(np.pad(ch, pad, mode="reflect"), psf, num_iter=iterations, clip=True)[pad:-pad, pad:-pad]
           for ch in chans]
    return out[0] if a.ndim == 2 else np.stack(out, axis=-1)


register_degradation("blur", blur)
register_classical(ClassicalMethod("rl", "deblur", richardson_lucy_restore))
TASK = register(Task("deblur", "blur", {"sigma": 2.0}, mode="rgb", train="CBSD68", test="CBSD68", needs=("CBSD68",),
                     about="random motion/defocus blur + noise σ = 2 on CBSD68 (blind)"))
