"""The same crop of one test image, side by side: degraded | every configuration | clean.

One row per task. Each configuration's first-seed run restores the task's first test image at full
size (its last checkpoint, EMA weights when it has them); the crop is the window of that image
with the most clean-image detail (largest mean gradient magnitude), enlarged with nearest
neighbours so single pixels stay visible.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy.ndimage import uniform_filter  # noqa: E402

__all__ = ["detail_window", "restored_crops", "sample_crops"]


def detail_window(clean: np.ndarray, size: int) -> tuple[int, int]:
    """(top, left) of the ``size``×``size`` window of ``clean`` (H, W[, C]) with the largest mean
    gradient magnitude; the image's own corner when it is smaller than ``size``."""
    g = clean.mean(axis=-1) if clean.ndim == 3 else clean
    h, w = g.shape
    if h <= size or w <= size:
        return 0, 0
    gy, gx = np.gradient(g.astype(np.float64))
    energy = uniform_filter(np.hypot(gx, gy), size=size, mode="constant")
    half = size // 2
    inner = energy[half : h - size + half + 1, half : w - size + half + 1]  # windows that fit inside
    top, left = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(top), int(left)


def restored_crops(runs: pd.DataFrame, task: str, configs: Sequence[str], size: int = 48,
                   device: str = "cpu") -> list[tuple[str, np.ndarray]]:
    """[(label, crop)] for ``task``: degraded, each configuration that has a checkpoint, clean.
    Empty when no run of the task has a checkpoint."""
    from ..evaluate import load_run_generator
    from ..data import build_test_pairs
    from ..evaluate import restore

    first = runs[(runs.task == task) & (runs.seed == runs[runs.task == task].seed.min())]
    paths = {c: Path(first[first.config == c].path.iloc[0]) for c in configs if (first.config == c).any()}
    paths = {c: p for c, p in paths.items() if (p / "checkpoints" / "last.pt").is_file()}
    if not paths:
        return []
    pairs = None
    out: list[tuple[str, np.ndarray]] = []
    for c, p in paths.items():
        cfg, G, _, dev = load_run_generator(p, device)
        if pairs is None:
            pairs = build_test_pairs(cfg, limit=1, crop=None)
            _, degraded, clean = pairs[0]
            top, left = detail_window(clean, size)
            cut = lambda a: a[top : top + size, left : left + size]  # noqa: E731
        with torch.no_grad():
            restored = restore(G, degraded, dev, 2 ** cfg["model"]["depth"])
        psnr = first[first.config == c].final_psnr.iloc[0] if "final_psnr" in first else float("nan")
        out.append((f"{c}\n{psnr:.2f} dB" if psnr == psnr else c, cut(restored)))
    return [("degraded", cut(degraded)), *out, ("clean", cut(clean))]


def sample_crops(runs: pd.DataFrame, configs: Sequence[str] | None = None, size: int = 48,
                 device: str = "cpu") -> plt.Figure | None:
    """One row per task of :func:`restored_crops`, each panel 1.1 inch (about 2.5× enlarged at the
    report's resolution); None when no run has a checkpoint. Captions give the configuration's
    whole-image PSNR (first seed)."""
    if runs.empty or "path" not in runs:
        return None
    configs = list(configs) if configs is not None else sorted(runs.config.unique(), key=lambda c: (c != "baseline", c))
    rows = {t: restored_crops(runs, t, configs, size, device) for t in sorted(runs.task.unique())}
    rows = {t: r for t, r in rows.items() if r}
    if not rows:
        return None
    ncol = max(len(r) for r in rows.values())
    fig, axes = plt.subplots(len(rows), ncol, figsize=(1.1 * ncol, 1.35 * len(rows)), squeeze=False,
                             layout="constrained")
    for ax_row, (task, panels) in zip(axes, rows.items()):
        for ax in ax_row:
            ax.axis("off")
        for ax, (label, crop) in zip(ax_row, panels):
            ax.imshow(np.clip(crop, 0, 1), cmap="gray" if crop.ndim == 2 else None, vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_title(label, fontsize=6)
        ax_row[0].text(-0.15, 0.5, task, transform=ax_row[0].transAxes, rotation=90, va="center", ha="right",
                       fontsize=8)
    fig.suptitle(f"The same {size}×{size} crop (most detailed window of the first test image), enlarged: "
                 "degraded | each configuration (first seed; whole-image PSNR) | clean", fontsize=7)
    return fig
