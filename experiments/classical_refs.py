"""The classical (deconstructive) references of a sweep: each task's classical methods scored once
on the very test pairs the GAN runs are scored on (whole images, the same fixed degradation seeds),
cached per (method, test set, degradation) in ``OUT/<task>/classical/``.

Files: ``<method>.csv`` — one row per image plus a ``mean`` row (PSNR/SSIM, input PSNR/SSIM) and
the set's realism (``swd`` ×10³, on the mean row); ``<method>.json`` — what was scored (test set,
degradation, images, seconds) or why nothing was (``"status": "not installed"``).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from .classical import CLASSICAL, restore_classical
from .runfolder import atomic_write_text

__all__ = ["score_references", "methods_for", "read_references"]


def methods_for(task: str) -> list[str]:
    """Classical methods registered for ``task`` (deraining has none: see the README)."""
    return [m for m, c in CLASSICAL.items() if c.task == task]


def _key(cfg: dict[str, Any]) -> dict[str, Any]:
    d = cfg["data"]
    return {"test": d["test"], "degradation": d["degradation"], "test_images": d["test_images"], "mode": d["mode"]}


def score_references(task: str, cfg: dict[str, Any], folder: str | Path, progress: bool = True) -> list[dict[str, Any]]:
    """Score every classical method of ``task`` on ``cfg``'s whole test images into ``folder``;
    a method already scored with the same test set and degradation is read back, not recomputed.
    Returns one summary dict per method."""
    from .evaluate import score_restorer
    from .data import build_test_pairs

    folder = Path(folder)
    out = []
    pairs = None
    for method in methods_for(task):
        meta_path, csv_path = folder / f"{method}.json", folder / f"{method}.csv"
        key = _key(cfg)
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            scored = meta.get("status") == "scored" and csv_path.exists()
            still_missing = meta.get("status") == "not installed" and not CLASSICAL[method].available
            if meta.get("key") == key and (scored or still_missing):
                out.append(meta)
                continue
        folder.mkdir(parents=True, exist_ok=True)
        if not CLASSICAL[method].available:
            meta = {"method": method, "task": task, "status": "not installed", "key": key,
                    "note": f"needs the optional package {CLASSICAL[method].needs!r}: pip install -e .[classical]"}
            atomic_write_text(meta_path, json.dumps(meta, indent=2))
            out.append(meta)
            continue
        if pairs is None:
            pairs = build_test_pairs(cfg, crop=None)
        params = cfg["data"]["degradation"]["params"]
        t0 = time.time()
        with tqdm(total=len(pairs), desc=f"{task}: {method}", disable=not progress, leave=False) as bar:
            def restore(x: Any) -> Any:
                bar.update(1)
                return restore_classical(method, x, **params)

            rows, means = score_restorer(restore, pairs)
        df = pd.DataFrame(rows)
        df = pd.concat([df, pd.DataFrame([{"image": "mean", **means}])], ignore_index=True)
        atomic_write_text(csv_path, df.to_csv(index=False))
        meta = {"method": method, "task": task, "status": "scored", "key": key, "images": len(pairs),
                "seconds": time.time() - t0, **{f"final_{k}": v for k, v in means.items()}}
        atomic_write_text(meta_path, json.dumps(meta, indent=2))
        out.append(meta)
    return out


def read_references(root: str | Path) -> pd.DataFrame:
    """One row per (task, method) from every ``<task>/classical/<method>.json`` under a sweep folder."""
    rows = [json.loads(p.read_text()) for p in sorted(Path(root).glob("*/classical/*.json"))]
    df = pd.DataFrame(rows)
    return df.drop(columns=["key"]) if "key" in df else df
