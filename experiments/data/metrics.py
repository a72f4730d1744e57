"""PSNR and SSIM with the restoration literature's conventions (RGB or Y channel, border crop).

Images: float arrays in [0, 1], (H, W) or (H, W, 3). SSIM is scikit-image's implementation with
Gaussian weights (Wang et al. 2004 settings).
"""
from __future__ import annotations

import numpy as np

__all__ = ["rgb_to_y", "psnr", "ssim", "pair_metrics", "check_image"]


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma on the 8-bit scale, 16–235 (MATLAB ``rgb2ycbcr``), returned / 255."""
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb_to_y needs an (H, W, 3) image, got shape {img.shape}")
    y = 16.0 + 65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]
    return y / 255.0


def _prep(pred: np.ndarray, target: np.ndarray, y_channel: bool, crop_border: int, quantize: bool):
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape")
    p, t = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if quantize:  # evaluate as 8-bit images, as the published numbers do
        p, t = np.round(np.clip(p, 0, 1) * 255) / 255, np.round(np.clip(t, 0, 1) * 255) / 255
    if y_channel and p.ndim == 3:
        p, t = rgb_to_y(p), rgb_to_y(t)
    if crop_border:
        b = crop_border
        p, t = p[b:-b, b:-b], t[b:-b, b:-b]
    return p, t


def psnr(pred: np.ndarray, target: np.ndarray, y_channel: bool = False, crop_border: int = 0,
         quantize: bool = True) -> float:
    """PSNR in dB, data range 1."""
    p, t = _prep(pred, target, y_channel, crop_border, quantize)
    from skimage.metrics import peak_signal_noise_ratio  # the [experiments] extra

    return float(peak_signal_noise_ratio(t, p, data_range=1.0))


def ssim(pred: np.ndarray, target: np.ndarray, y_channel: bool = False, crop_border: int = 0,
         quantize: bool = True) -> float:
    """SSIM (Gaussian window σ=1.5, K1=0.01, K2=0.03), channel-averaged for RGB."""
    p, t = _prep(pred, target, y_channel, crop_border, quantize)
    from skimage.metrics import structural_similarity  # the [experiments] extra

    return float(structural_similarity(t, p, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, channel_axis=-1 if p.ndim == 3 else None))


def pair_metrics(name: str, out: np.ndarray, degraded: np.ndarray, clean: np.ndarray) -> dict:
    """One image's row: PSNR/SSIM of the restored ``out`` and of the ``degraded`` input against
    ``clean`` (Y channel too for RGB), all in [0, 1]."""
    r = {"image": name, "psnr": psnr(out, clean), "ssim": ssim(out, clean), "psnr_input": psnr(degraded, clean),
         "ssim_input": ssim(degraded, clean)}
    if clean.ndim == 3:
        r.update(psnr_y=psnr(out, clean, y_channel=True), ssim_y=ssim(out, clean, y_channel=True),
                 psnr_y_input=psnr(degraded, clean, y_channel=True))
    return r


def check_image(img: np.ndarray) -> np.ndarray:
    """An (H, W), (H, W, 1) or (H, W, 3) image as float64; other shapes and NaN/Inf are named errors."""
    a = np.asarray(img, dtype=np.float64)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3)):
        raise ValueError(f"images must be (H, W) or (H, W, 3), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("image contains NaN or Inf")
    return a
