"""Load a runs directory into tidy pandas tables."""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import yaml

from ..runfolder import RunFolder

__all__ = ["collect", "Runs", "overall_rows"]


def overall_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that describe the whole model (no ``layer``), e.g. the total gradient ratio."""
    return df[df.layer.isna() | (df.layer.astype(str) == "")] if "layer" in df else df


def _last(m: pd.DataFrame, split: str) -> dict:
    """{metric: value} of ``split``'s last logged step ({} when the split is absent)."""
    if not len(m) or "split" not in m:
        return {}
    rows = m[m.split == split]
    return rows[rows.step == rows.step.max()].set_index("metric")["value"].to_dict() if len(rows) else {}


def _below_peak(m: pd.DataFrame, sel: dict, cfg: dict) -> float:
    """For a selected run that did not log it: how far the fitted end of its validation curve's last
    quarter stays below the kept evaluation (dB; NaN without selection) — a description of the
    curve (experiments/convergence.py), not the run's logged convergence decision."""
    if not sel or not len(m):
        return float("nan")
    from ..convergence import plateau

    c = m[(m.split == "val") & (m.metric == "psnr")].sort_values("step")
    return plateau(c.step.to_numpy(float), c.value.to_numpy(float), total=cfg["train"]["steps"], selected=True,
                   best=float(sel["val_psnr"]))["below_peak_db"]


def _flag(v: object) -> bool | None:
    """1/0 -> True/False; NaN or missing -> None (cannot be judged)."""
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if f != f else bool(f)


class Runs:
    """All runs under a sweep folder: ``runs`` (one row per run), ``metrics`` (tidy training rows),
    ``analysis`` (tidy post-run rows), ``failed`` (run, error), ``uses`` (problem -> task -> configs),
    ``classical`` (one row per task and classical reference), ``sweep`` (sweep.json)."""

    def __init__(self, runs: pd.DataFrame, metrics: pd.DataFrame, analysis: pd.DataFrame, failed: pd.DataFrame,
                 uses: dict, classical: pd.DataFrame | None = None, sweep: dict | None = None) -> None:
        self.runs, self.metrics, self.analysis, self.failed, self.uses = runs, metrics, analysis, failed, uses
        self.classical = classical if classical is not None else pd.DataFrame()
        self.sweep = sweep or {}


def collect(root: str | Path, tasks: Sequence[str] | None = None) -> Runs:
    """Read every ``<task>/<config>/seed<k>`` run folder under ``root``; ``tasks``: only these tasks
    (their runs, references and pre-registered comparisons), e.g. to publish a finished task while
    the sweep's other tasks still run."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"runs directory not found: {root}")
    sweep = json.loads((root / "sweep.json").read_text()) if (root / "sweep.json").exists() else {}
    keep = _task_filter(root, sweep, tasks)
    runs, mets, anas, failed = [], [], [], []
    folders = (p for p in root.glob("*/*/seed*") if p.is_dir() and p.name[4:].isdigit() and keep(p.parent.parent.name))
    for d in sorted(folders):
        cfg_path = d / "config.yaml"
        task, config, seed = d.parent.parent.name, d.parent.name, int(d.name[4:])
        ident = {"task": task, "config": config, "seed": seed}
        if (d / "FAILED").exists():
            failed.append({**ident, "error": json.loads((d / "FAILED").read_text()).get("error", "")})
        if not (d / "DONE").exists() or not cfg_path.exists():
            continue
        cfg = yaml.safe_load(cfg_path.read_text())
        m = pd.read_csv(d / "metrics.csv", low_memory=False) if (d / "metrics.csv").exists() else pd.DataFrame()
        a = pd.read_csv(d / "analysis.csv", low_memory=False) if (d / "analysis.csv").exists() else pd.DataFrame()
        final = _last(m, "test_full") or _last(m, "test")  # whole test images when the run scored them
        heldout = _last(m, "val") or _last(m, "test")  # the periodic held-out curve: validation split, or test crops
        crop = _last(m, "test_crop")  # the test images at the training crop size
        conv = _last(m, "convergence")
        sel = _last(m, "selection")  # train.select: best_val — the kept model's step and validation PSNR
        if sel:
            heldout = {**heldout, "psnr": sel["val_psnr"]}
        params = RunFolder(d).manifest().get("generator_params", 0)  # counted once at training time, not rebuilt here
        runs.append({**ident, "path": str(d), "depth": cfg["model"]["depth"], "adversarial": cfg["loss"]["adversarial"],
                     "lambda_content": cfg["loss"]["lambda_content"], "skips": cfg["model"]["skips"],
                     "detail_branch": cfg["model"]["detail_branch"], "res_blocks": cfg["model"]["res_blocks"],
                     "params": params, "data_train": cfg["data"]["train"], "data_test": cfg["data"]["test"],
                     "steps": int(m.step.max()) if len(m) else 0, "scored_on": "whole images" if _last(m, "test_full")
                     else "crops", "heldout_psnr": heldout.get("psnr", float("nan")),
                     "converged": _flag(conv.get("converged")), "last_quarter_gain_db": conv.get("gain_db", float("nan")),
                     "unstable": _flag(conv.get("unstable")), "selected_step": sel.get("step", float("nan")),
                     "below_peak_db": conv["below_peak_db"] if "below_peak_db" in conv else _below_peak(m, sel, cfg),
                     "converged_on": "validation"
                     if _flag(conv.get("on_validation")) else "test crops",
                     "final_psnr_crop": crop.get("psnr", float("nan")), "final_ssim_crop": crop.get("ssim", float("nan")),
                     **{f"final_{k}": v for k, v in final.items()}})
        for df, bucket in ((m, mets), (a, anas)):
            if len(df):
                bucket.append(df.assign(**ident))
    cat = lambda xs: pd.concat(xs, ignore_index=True) if xs else pd.DataFrame()  # noqa: E731
    from ..classical_refs import read_references

    uses = {prob: {t: cfgs for t, cfgs in by.items() if keep(t)} for prob, by in sweep.get("uses", {}).items()}
    refs = read_references(root)
    if len(refs) and "task" in refs:
        refs = refs[refs.task.map(keep)].reset_index(drop=True)
    return Runs(pd.DataFrame(runs), cat(mets), cat(anas), pd.DataFrame(failed), uses, refs, sweep)


def _task_filter(root: Path, sweep: dict, tasks: Sequence[str] | None) -> Callable[[str], bool]:
    """A predicate on task names: every task when ``tasks`` is None, else those named (each must be
    one of the sweep's tasks or have a folder under ``root``)."""
    if tasks is None:
        return lambda t: True
    known = set(sweep.get("tasks") or []) | {p.name for p in root.iterdir() if p.is_dir() and p.name != "report"}
    unknown = sorted(set(tasks) - known)
    if unknown:
        raise ValueError(f"{root}: no task {unknown} in this sweep (it has {sorted(known)})")
    chosen = frozenset(tasks)
    return lambda t: t in chosen
