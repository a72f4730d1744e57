"""A linear-Gaussian image model whose band-patch MI has a closed form — the known answer that the
per-problem information quantities are tested against.

Y is a stationary Gaussian random field with a power-law spectrum (|k|^−α, natural images have
α ≈ 2), periodic, unit pixel variance; the degraded input is X = Y + σ·N (white noise); the
"restored" output is Ŷ = h ∗ X + τ·M, a known linear filter (transfer function ``H(k)``) plus
independent white noise. Every step — the field, the noise, the filter, the Laplacian pyramid,
the patch and its random projection — is linear in the white-noise inputs w, so each band-patch
feature vector is f = J·w and (f_Y, f_Ŷ) is jointly Gaussian with covariance J·Jᵀ. Away from the
pyramid's border padding the fields are stationary (band k on its own grid), so one interior
position gives the covariance of every patch the estimator pools: I = ½ (log|Σ_Y| + log|Σ_Ŷ| −
log|Σ|) in nats, exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .bands import BAND_NAMES, laplacian_bands
from .reductions import RandomProjection

__all__ = ["LinearGaussianImages", "gaussian_blur_transfer", "power_law_amplitude"]

Transfer = Callable[[torch.Tensor], torch.Tensor]  # |frequency| in cycles/pixel (H, W) -> gain (H, W)


def power_law_amplitude(size: int, alpha: float) -> torch.Tensor:
    """(size, size) FFT amplitude |k|^(−α/2) (0 at DC), scaled so that the field has unit pixel variance."""
    f = torch.fft.fftfreq(size, dtype=torch.float64)
    k = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    amp = torch.where(k > 0, k.clamp_min(1e-12) ** (-alpha / 2), torch.zeros_like(k))
    return amp / torch.sqrt((amp**2).mean())


def gaussian_blur_transfer(sigma_px: float) -> Transfer:
    """The transfer function of a Gaussian blur of ``sigma_px`` pixels: exp(−2π²σ²f²)."""
    return lambda f: torch.exp(-2 * math.pi**2 * sigma_px**2 * f**2)


def _identity(f: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(f)


@dataclass(frozen=True)
class LinearGaussianImages:
    """Y ~ power-law Gaussian field; X = Y + ``noise``·N; Ŷ = h ∗ X + ``out_noise``·M (grey, size²)."""

    size: int = 128
    alpha: float = 2.0
    noise: float = 0.5
    transfer: Transfer = _identity
    out_noise: float = 0.0

    def _freq(self) -> torch.Tensor:
        f = torch.fft.fftfreq(self.size, dtype=torch.float64)
        return torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)

    def _fields(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """w: (B, 3, size, size) white noise -> (y, x, ŷ), each (B, 1, size, size)."""
        amp = power_law_amplitude(self.size, self.alpha).to(w)
        y = torch.fft.ifft2(torch.fft.fft2(w[:, :1]) * amp).real
        x = y + self.noise * w[:, 1:2]
        gain = self.transfer(self._freq()).to(w)
        y_hat = torch.fft.ifft2(torch.fft.fft2(x) * gain).real + self.out_noise * w[:, 2:3]
        return y, x, y_hat

    def sample(self, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(y, x, ŷ): ``n`` independent images each, (n, 1, size, size) float64."""
        g = torch.Generator().manual_seed(seed)
        return self._fields(torch.randn(n, 3, self.size, self.size, generator=g, dtype=torch.float64))

    def band_truth(self, levels: int = 3, patch: int = 3, dim: int = 8, margin: int = 4, seed: int = 0,
                   at: str = "centre") -> list[dict[str, float]]:
        """Per band the exact I(Y_b;Ŷ_b), I(Y_b;X_b) and retention (nats) of the patch features that
        :func:`infotheory.band_information` estimates with the same ``levels``, ``patch``, ``dim``,
        ``margin`` and ``seed``. ``at``: the interior position the covariance is read at
        (``centre`` or ``corner``, the first interior patch: equal values show stationarity)."""
        out = []
        for b, name in enumerate(BAND_NAMES(levels)):
            proj = RandomProjection(dim, seed + b)

            def features(w: torch.Tensor, b: int = b, proj: RandomProjection = proj) -> torch.Tensor:
                fy, fx, fo = [], [], []
                for img, acc in zip(self._fields(w[None]), (fy, fx, fo)):
                    band = laplacian_bands(img, levels)[b]
                    h = band.shape[-1]
                    if h - 2 * margin < patch:
                        raise ValueError(f"band {name} is {h} px: too small for {patch}-px patches {margin} px inside")
                    r = margin if at == "corner" else (h - patch) // 2
                    acc.append(proj(band[:, :, r:r + patch, r:r + patch].reshape(1, -1))[0])
                return torch.cat([fy[0], fx[0], fo[0]])

            w0 = torch.zeros(3, self.size, self.size, dtype=torch.float64)
            J = torch.autograd.functional.jacobian(features, w0).reshape(-1, w0.numel())
            cov = (J @ J.T).numpy()
            d = cov.shape[0] // 3
            iy, ix, io = slice(0, d), slice(d, 2 * d), slice(2 * d, 3 * d)
            out.append({"band": name, "level": b, "I_y_yhat": _gauss_mi(cov, iy, io), "I_y_x": _gauss_mi(cov, iy, ix)})
            out[-1]["retention"] = out[-1]["I_y_yhat"] / out[-1]["I_y_x"]
        return out


def _gauss_mi(cov: np.ndarray, a: slice, b: slice) -> float:
    idx = np.r_[np.arange(cov.shape[0])[a], np.arange(cov.shape[0])[b]]
    ld = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    return float(0.5 * (ld(cov[a, a]) + ld(cov[b, b]) - ld(cov[np.ix_(idx, idx)])))
