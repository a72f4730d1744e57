"""Summary tables: mean ± std over seeds of every configuration's final metrics."""
from __future__ import annotations

import pandas as pd

__all__ = ["summary_table", "fmt_pm"]

FINAL = ["final_psnr", "final_ssim", "final_psnr_input", "final_psnr_y", "final_ssim_y"]


def summary_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, config): n seeds, mean and std of the final test metrics, parameters."""
    cols = [c for c in FINAL if c in runs]
    g = runs.groupby(["task", "config"])
    out = g[cols].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    out["n_seeds"] = g.size()
    out["params"] = g["params"].first()
    return out.reset_index()


def fmt_pm(mean: float, std: float, digits: int = 2) -> str:
    """'28.41 ± 0.12' (std '—' for a single seed)."""
    if pd.isna(std):
        return f"{mean:.{digits}f} ± —"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
