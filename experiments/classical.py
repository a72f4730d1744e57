"""Deconstructive (classical) restorers: hand-built models of the imaging physics, the reference a
GAN restorer is measured against.

* denoising: BM3D (the maintained ``bm3d`` package — an optional extra, ``pip install -e
  .[classical]``, its licence is not MIT), scikit-image's non-local means and wavelet (BayesShrink)
  denoisers as cheap extra references;
* dehazing: the dark channel prior (He et al. 2009/2011) with guided-filter refinement (He et al.
  2013), on numpy/scipy;
* deraining: none — no maintained classical implementation exists (see the README).

Images: float arrays in [0, 1], (H, W) or (H, W, 3). ``sigma`` is on the 0–255 scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy import ndimage

from .data.metrics import check_image

__all__ = ["CLASSICAL", "ClassicalMethod", "register_classical", "bm3d_available", "bm3d_denoise", "nlm_denoise", "wavelet_denoise",
           "dark_channel", "guided_filter", "dark_channel_dehaze", "restore_classical"]


def _importable(package: str) -> bool:
    try:
        __import__(package)
    except ImportError:
        return False
    return True


def bm3d_available() -> bool:
    return _importable("bm3d")


def bm3d_denoise(img: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D (Dabov et al. 2007; the ``bm3d`` package, both stages) for AWGN of std ``sigma``/255."""
    try:
        import bm3d
    except ImportError:
        raise ImportError("BM3D needs the optional 'bm3d' package: pip install -e .[classical]") from None
    a = check_image(img)
    if a.ndim == 3 and a.shape[2] == 3:
        return np.asarray(bm3d.bm3d_rgb(a, sigma / 255.0), dtype=np.float64)
    return np.asarray(bm3d.bm3d(a, sigma / 255.0), dtype=np.float64).reshape(a.shape)


def nlm_denoise(img: np.ndarray, sigma: float) -> np.ndarray:
    """Non-local means (scikit-image, fast mode; h = 0.8σ, 5×5 patches, 13×13 search)."""
    from skimage.restoration import denoise_nl_means

    a = check_image(img)
    s = sigma / 255.0
    return denoise_nl_means(a, h=0.8 * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True,
                            channel_axis=-1 if a.ndim == 3 else None)


def wavelet_denoise(img: np.ndarray, sigma: float) -> np.ndarray:
    """Wavelet shrinkage (scikit-image, BayesShrink, soft thresholds, known σ)."""
    from skimage.restoration import denoise_wavelet

    a = check_image(img)
    return denoise_wavelet(a, sigma=sigma / 255.0, method="BayesShrink", mode="soft", rescale_sigma=True,
                           channel_axis=-1 if a.ndim == 3 else None)


def dark_channel(img: np.ndarray, patch: int = 15) -> np.ndarray:
    """min over channels, then over a patch×patch window: (H, W)."""
    a = check_image(img)
    m = a.min(axis=2) if a.ndim == 3 else a
    return ndimage.minimum_filter(m, size=patch, mode="nearest")


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int = 40, eps: float = 1e-3) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` (H, W) guided by a grey ``guide`` (H, W) (He et al. 2013)."""
    size = 2 * radius + 1

    def box(v: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(v, size=size, mode="reflect")

    mg, ms = box(guide), box(src)
    cov = box(guide * src) - mg * ms
    var = box(guide * guide) - mg * mg
    a = cov / (var + eps)
    b = ms - a * mg
    return box(a) * guide + box(b)


def dark_channel_dehaze(img: np.ndarray, patch: int = 15, omega: float = 0.95, t0: float = 0.1,
                        top: float = 0.001, radius: int = 40, eps: float = 1e-3
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dark channel prior dehazing of an RGB hazy image I = J·t + A·(1 − t).

    Airlight A: among the ``top`` fraction of pixels with the brightest dark channel, the input
    pixel of highest intensity. Transmission t = 1 − ω·dark(I / A), refined by the guided filter
    (grey input as guide), floored at ``t0``. Returns (J in [0, 1], refined t (H, W), A (3,))."""
    a = check_image(img)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"dark channel dehazing needs an RGB (H, W, 3) image, got shape {a.shape}")
    dark = dark_channel(a, patch)
    k = max(1, int(round(top * dark.size)))
    idx = np.argpartition(dark.ravel(), -k)[-k:]
    flat = a.reshape(-1, 3)
    A = flat[idx[np.argmax(flat[idx].sum(axis=1))]].clip(1e-3, None)
    t_raw = 1.0 - omega * dark_channel(a / A, patch)
    t = guided_filter(a.mean(axis=2), t_raw, radius, eps).clip(0.0, 1.0)
    J = (a - A) / np.maximum(t, t0)[..., None] + A
    return J.clip(0.0, 1.0), t, A


@dataclass(frozen=True)
class ClassicalMethod:
    """A classical restorer: its task, the function (image, **degradation params) -> image, and
    whether it is installed."""

    name: str
    task: str
    fn: Callable[..., np.ndarray]
    needs: str | None = None  # optional package

    @property
    def available(self) -> bool:
        return self.needs is None or _importable(self.needs)


CLASSICAL: dict[str, ClassicalMethod] = {
    "bm3d": ClassicalMethod("bm3d", "denoise", lambda img, sigma=25, **_: bm3d_denoise(img, sigma), "bm3d"),
    "nlm": ClassicalMethod("nlm", "denoise", lambda img, sigma=25, **_: nlm_denoise(img, sigma)),
    "wavelet": ClassicalMethod("wavelet", "denoise", lambda img, sigma=25, **_: wavelet_denoise(img, sigma)),
    "dcp": ClassicalMethod("dcp", "dehaze", lambda img, **_: dark_channel_dehaze(img)[0]),
}


def register_classical(method: ClassicalMethod) -> ClassicalMethod:
    """Add a classical reference (a task module's own); a different method under a taken name is refused."""
    from infoflow._registry import register_unique

    return register_unique(CLASSICAL, method.name, method, "classical method")


def restore_classical(method: str, img: np.ndarray, **params: Any) -> np.ndarray:
    """Restore one image with a named classical method (``CLASSICAL``); unknown names are listed."""
    if method not in CLASSICAL:
        raise ValueError(f"unknown classical method {method!r}; choose one of {sorted(CLASSICAL)}")
    return np.clip(CLASSICAL[method].fn(img, **params), 0.0, 1.0)
