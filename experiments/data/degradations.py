"""Physics-based degradations, seeded, with their parameters recorded.

All functions take clean images float32 in [0, 1], (H, W) or (H, W, C), and a numpy Generator,
and return ``(degraded, params)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

__all__ = ["awgn", "poisson_gaussian", "haze", "procedural_depth", "stereo_depth", "rain_streaks", "rain",
           "Degradation", "DEGRADATIONS", "register_degradation"]


def awgn(clean: np.ndarray, rng: np.random.Generator, sigma: float = 25.0, clip: bool = False):
    """Additive white Gaussian noise, σ on the 0–255 scale (DnCNN/FFDNet protocol: no clipping)."""
    noisy = clean + rng.standard_normal(clean.shape).astype(np.float32) * (sigma / 255.0)
    return (np.clip(noisy, 0, 1) if clip else noisy).astype(np.float32), {"sigma": float(sigma), "clip": clip}


def poisson_gaussian(clean: np.ndarray, rng: np.random.Generator, peak: float = 30.0, sigma: float = 5.0):
    """Shot noise Poisson(peak·x)/peak plus read noise N(0, (σ/255)²): the raw-sensor model."""
    shot = rng.poisson(np.clip(clean, 0, None) * peak).astype(np.float32) / peak
    noisy = shot + rng.standard_normal(clean.shape).astype(np.float32) * (sigma / 255.0)
    return noisy.astype(np.float32), {"peak": float(peak), "sigma": float(sigma)}


def _smooth_field(h: int, w: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal((h, w)), sigma=scale, mode="wrap")
    return (f - f.min()) / (np.ptp(f) + 1e-12)


def procedural_depth(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Depth in [0, 1] not derived from any image: a ground-plane ramp (far at the top) with a random
    tilt plus smooth random structures. (H, W) float32."""
    rows = np.linspace(1.0, 0.0, h)[:, None] * np.ones((1, w))
    cols = np.linspace(-1, 1, w)[None, :] * rng.uniform(-0.3, 0.3)
    d = 0.6 * rows + cols + 0.4 * _smooth_field(h, w, rng, max(h, w) / 8)
    return ((d - d.min()) / (np.ptp(d) + 1e-12)).astype(np.float32)


def stereo_depth(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Depth in [0, 1] from scikit-image's bundled stereo disparity (depth ∝ 1/disparity), random crop."""
    import skimage.data as skd
    from skimage.transform import resize

    disp = skd.stereo_motorcycle()[2].astype(np.float64)
    disp = np.where(np.isfinite(disp) & (disp > 0), disp, np.nan)
    disp = np.where(np.isnan(disp), np.nanmedian(disp), disp)
    depth = 1.0 / disp
    H, W = depth.shape
    ch, cw = min(H, max(h, H // 2)), min(W, max(w, W // 2))
    y0, x0 = rng.integers(0, H - ch + 1), rng.integers(0, W - cw + 1)
    d = resize(depth[y0 : y0 + ch, x0 : x0 + cw], (h, w), anti_aliasing=True)
    return ((d - d.min()) / (np.ptp(d) + 1e-12)).astype(np.float32)


def haze(clean: np.ndarray, rng: np.random.Generator, beta: tuple[float, float] = (0.6, 1.8),
         airlight: tuple[float, float] = (0.7, 1.0), depth: str = "procedural", depth_scale: float = 1.0):
    """Atmospheric scattering I = J·t + A(1 - t), t = exp(-β·d), d = depth_scale·depth map in [0, 1].

    β and A are drawn uniformly from the given (RESIDE-like) ranges; a float fixes them. The depth
    map comes from ``procedural_depth`` or ``stereo_depth`` — never from the clean image itself.
    """
    h, w = clean.shape[:2]
    b = float(rng.uniform(*beta)) if isinstance(beta, (tuple, list)) else float(beta)
    a = float(rng.uniform(*airlight)) if isinstance(airlight, (tuple, list)) else float(airlight)
    if depth == "procedural":
        d = procedural_depth(h, w, rng)
    elif depth == "stereo":
        d = stereo_depth(h, w, rng)
    else:
        raise ValueError(f"depth={depth!r} is not valid; choose 'procedural' or 'stereo'")
    t = np.exp(-b * depth_scale * d)
    if clean.ndim == 3:
        t = t[..., None]
    hazy = clean * t + a * (1.0 - t)
    return hazy.astype(np.float32), {"beta": b, "airlight": a, "depth": depth, "depth_scale": depth_scale,
                                     "mean_transmission": float(t.mean())}


def _line_kernel(length: int, angle_deg: float) -> np.ndarray:
    k = np.zeros((length, length), dtype=np.float64)
    c = (length - 1) / 2.0
    th = math.radians(angle_deg)
    for s in np.linspace(-c, c, 2 * length):
        y, x = int(round(c + s * math.cos(th))), int(round(c + s * math.sin(th)))
        k[y, x] = 1.0
    return k / k.sum()


def rain_streaks(h: int, w: int, rng: np.random.Generator, density: float = 0.02, length: int = 15,
                 angle: float = 0.0, threshold: float = 0.3) -> np.ndarray:
    """Streak layer in [0, 1]: sparse noise → threshold → motion blur along ``angle`` (° from vertical)."""
    seeds = (rng.random((h, w)) < density) * rng.uniform(0.5, 1.0, (h, w))
    seeds = ndimage.gaussian_filter(seeds, 0.5)
    s = ndimage.convolve(seeds, _line_kernel(length, angle), mode="reflect")
    s = np.clip((s - threshold * s.max() * 0.1) / (s.max() + 1e-12), 0, 1)
    return (s / (s.max() + 1e-12)).astype(np.float32)


def rain(clean: np.ndarray, rng: np.random.Generator, density: tuple[float, float] = (0.005, 0.03),
         length: tuple[int, int] = (10, 30), angle: tuple[float, float] = (-30.0, 30.0),
         intensity: tuple[float, float] = (0.5, 0.9), model: str = "additive",
         accumulation: tuple[float, float] = (0.6, 0.9)):
    """Synthetic rain. ``additive``: O = clip(B + α·S). ``heavy``: O = a·clip(B + α·S) + (1 - a)·A
    (rain accumulation / veiling, Yang et al. 2017) with a ∈ ``accumulation`` and A ∈ [0.7, 1]."""
    h, w = clean.shape[:2]
    den, ln = float(rng.uniform(*density)), int(rng.integers(length[0], length[1] + 1))
    ang, alpha = float(rng.uniform(*angle)), float(rng.uniform(*intensity))
    s = alpha * rain_streaks(h, w, rng, den, ln, ang)
    if clean.ndim == 3:
        s = s[..., None]
    out = np.clip(clean + s, 0, 1)
    params: dict[str, Any] = {"density": den, "length": ln, "angle": ang, "intensity": alpha, "model": model}
    if model == "heavy":
        a, A = float(rng.uniform(*accumulation)), float(rng.uniform(0.7, 1.0))
        out = a * out + (1 - a) * A
        params.update(accumulation=a, airlight=A)
    elif model != "additive":
        raise ValueError(f"rain model={model!r} is not valid; choose 'additive' or 'heavy'")
    return out.astype(np.float32), params


DEGRADATIONS = {"awgn": awgn, "poisson_gaussian": poisson_gaussian, "haze": haze, "rain": rain}


def register_degradation(name: str, fn: Any) -> Any:
    """Add a degradation ``fn(clean, rng, **params) -> (degraded, params)`` under ``name`` (a task
    module's own physics); a different function under a taken name is refused."""
    from infoflow._registry import register_unique

    return register_unique(DEGRADATIONS, name, fn, "degradation")


@dataclass
class Degradation:
    """A named degradation with fixed keyword parameters: ``Degradation("awgn", {"sigma": 25})``."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in DEGRADATIONS:
            raise ValueError(f"unknown degradation {self.kind!r}; choose one of {sorted(DEGRADATIONS)}")
        import inspect

        valid = set(inspect.signature(DEGRADATIONS[self.kind]).parameters) - {"clean", "rng"}
        bad = sorted(set(self.params) - valid)
        if bad:
            raise ValueError(f"unknown parameter(s) {bad} for degradation '{self.kind}'; valid: {sorted(valid)}")
        self.params = {k: tuple(v) if isinstance(v, list) else v for k, v in self.params.items()}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> "Degradation":
        """From a config mapping ``{"kind": ..., "params": {...}}`` (params may be absent or null)."""
        return cls(spec["kind"], spec.get("params") or {})

    def __call__(self, clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        out, p = DEGRADATIONS[self.kind](clean, rng, **self.params)
        return out, {"kind": self.kind, **p}
