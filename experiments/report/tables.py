"""Summary tables: mean ± std over seeds of every configuration's final metrics."""
from __future__ import annotations

import pandas as pd

__all__ = ["summary_table", "fmt_pm", "classical_sentences"]

# final_* on whole test images; final_psnr_crop / final_ssim_crop at the training crop size; heldout_psnr the
# last point of the convergence curve (validation split)
FINAL = ["final_psnr", "final_ssim", "final_swd", "final_psnr_input", "final_psnr_y", "final_ssim_y", "final_psnr_crop",
         "final_ssim_crop", "heldout_psnr"]


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


def classical_sentences(runs: pd.DataFrame, classical: pd.DataFrame) -> dict[str, str]:
    """Per task, one sentence: where every configuration stands against each classical reference
    (PSNR difference on the same whole test images, mean ± sd over seeds), best configuration first."""
    out: dict[str, str] = {}
    if classical is None or classical.empty or "status" not in classical or runs.empty:
        return out
    for task, refs in classical.groupby("task"):
        r = runs[runs.task == task]
        parts = []
        for ref in refs.itertuples():
            if ref.status != "scored":
                parts.append(f"{ref.method}: {ref.status} ({getattr(ref, 'note', '')})")
                continue
            g = r.groupby("config")["final_psnr"].agg(["mean", "std"]).sort_values("mean", ascending=False)
            diffs = ", ".join(f"{c} {m - ref.final_psnr:+.2f} ± {'—' if pd.isna(s) else f'{s:.2f}'}"
                              for c, (m, s) in g.iterrows())
            above = int((g["mean"] > ref.final_psnr).sum())
            parts.append(f"against classical {ref.method} ({ref.final_psnr:.2f} dB on the same {int(ref.images)} "
                         f"whole images): {above} of {len(g)} configurations are above it; PSNR differences (dB, "
                         f"mean ± sd over seeds): {diffs}")
        if parts:
            out[task] = f"{task}: " + "; ".join(parts) + "."
    return out
