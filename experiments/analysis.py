"""Post-run analyses of a finished run (final generator), written to ``analysis.csv`` (tidy rows).

``abstraction``: per-layer I(X;T), I(T;Y) and costs; ``detail``: per-band detail loss;
``sources``: path ablation + captum attribution. For the deraining task the real Rain12 pairs are
scored too when ``../shared/data`` has them. All MI numbers use the ``gaussian`` estimator on
seeded random projections of receptive-field patches (stated in every row's params).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import torch

from infotheory.bands import default_levels
from infotheory.diagnostics import abstraction_profile, detail_loss, information_sources

from .problems.base import have_shared, probe_batch
from .runfolder import RunFolder, write_rows_csv
from .evaluate import load_run_generator
from .train import build_test_pairs, evaluate_pairs

__all__ = ["analyse_run"]

ESTIMATOR = "gaussian"
PROBE_CROPS = 64  # test crops per analysis: enough samples even at a 1×1 bottleneck


def analyse_run(run_dir: str | Path, analyses: Sequence[str], device: str = "auto") -> list[dict[str, Any]]:
    """Run ``analyses`` on the run's last checkpoint; writes ``analysis.csv`` atomically, returns rows."""
    run = RunFolder(run_dir)
    cfg, G, state, dev = load_run_generator(run_dir, device)
    step = int(state["step"])
    pairs = build_test_pairs(cfg)
    x, y = probe_batch(pairs, cfg["data"]["crop"], PROBE_CROPS, cfg["seed"], dev)
    rows: list[dict[str, Any]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "abstraction" in analyses:
            rows += abstraction_profile(G, x, y, estimator=ESTIMATOR, step=step)
        if "detail" in analyses:
            with torch.no_grad():
                y_hat = G(x)
            rows += detail_loss(x, y_hat, y, levels=default_levels(x.shape[-1]), estimator=ESTIMATOR, step=step)
        if "sources" in analyses:
            rows += information_sources(G, x, y, estimator=ESTIMATOR, n_steps=8, step=step)
    if cfg["task"] == "derain" and have_shared("Rain12"):
        for r in evaluate_pairs(G, build_test_pairs(cfg, "Rain12", limit=0, crop=None), dev, 2 ** cfg["model"]["depth"]):
            for k, v in r.items():
                if k != "image":
                    rows.append({"step": step, "split": "rain12", "metric": k, "value": v, "layer": r["image"]})
    write_rows_csv(run.path / "analysis.csv", rows)
    return rows
