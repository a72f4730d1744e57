"""The bootstrap over images with its columns sorted once, against re-estimating every draw.

    python benchmarks/bootstrap_reuse.py [--images 12] [--size 256] [--n-boot 200] [--threads 1]

What both sides compute, on the same images, draws and estimator (the Gaussian copula, bias-corrected,
float64): ``band_information`` (Y, Ŷ, X; per Laplacian band I(Y;Ŷ), I(Y;X) and their bootstrap
intervals over images) and ``image_information``. "re-estimate" materialises each draw and calls
``estimate_mi(method="copula", family="gaussian")`` on it (what the analyses did before); "sorted
once" is :class:`infoflow.infotheory.estimators.copula_resample.CopulaResampler` through
``resampled_stats``. Prints seconds and the ratio re-estimate / sorted-once, and the largest
difference between the two sides' values and bounds (nats; they agree to rounding).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimators import threads  # noqa: E402

import infoflow.infotheory.image_information as _pkg  # noqa: E402,F401  (loads the module)
from infoflow.infotheory import LinearGaussianImages, band_information, image_information  # noqa: E402

MODULE = sys.modules["infoflow.infotheory.image_information"]


def run(images: int, size: int, n_boot: int, reuse: bool) -> tuple[float, np.ndarray]:
    original = MODULE.resampled_stats
    if not reuse:
        MODULE.resampled_stats = lambda *a, **k: None
    try:
        y, x, y_hat = LinearGaussianImages(size=size, noise=0.7).sample(images, seed=0)
        t = time.perf_counter()
        bands = band_information(y, y_hat, x, levels=3, n_boot=n_boot)
        whole = image_information(y, y_hat, n_boot=n_boot)
        sec = time.perf_counter() - t
    finally:
        MODULE.resampled_stats = original
    cols = [c for c in bands.columns if c.startswith("I_")]
    return sec, np.r_[bands[cols].to_numpy().ravel(), [whole["value"], whole["low"], whole["high"]]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--threads", default="1", help="1 or all")
    a = ap.parse_args()
    with threads(1 if a.threads == "1" else None):
        run(2, 128, 5, True)  # warm-up
        slow, v_slow = run(a.images, a.size, a.n_boot, reuse=False)
        fast, v_fast = run(a.images, a.size, a.n_boot, reuse=True)
    print(f"{a.images} images {a.size}², {a.n_boot} draws, threads {a.threads}: band + image information")
    print(f"  re-estimate every draw {slow:7.2f} s")
    print(f"  columns sorted once    {fast:7.2f} s   ratio {slow / fast:5.1f}x")
    print(f"  largest difference in values and bounds: {np.nanmax(np.abs(v_slow - v_fast)):.2e} nats")


if __name__ == "__main__":
    main()
