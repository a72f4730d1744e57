"""``infoflow report RUNS_DIR``: report.html + figures/ (PNG and PDF) + tables/ (CSV)."""
from __future__ import annotations

import base64
import html
import io
import json
import shutil
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from ..runfolder import atomic_write_text
from .collect import collect
from .figures import FIGURES
from .tables import fmt_pm, summary_table
from .verdicts import verdicts

__all__ = ["build_report"]

SECTIONS = {
    "abstraction": ["abstraction_psnr_vs_depth", "abstraction_info_per_layer", "abstraction_cost_vs_quality",
                    "abstraction_information_plane"],
    "detail": ["detail_bands", "detail_band_mi"],
    "gradients": ["gradients_ratio_and_saturation", "gradients_d_probe"],
}
TITLES = {"abstraction": "1. Over-invested abstraction", "detail": "2. Inherent detail loss",
          "gradients": "3. Vanishing gradients / imbalanced optimisation"}


def build_report(root: str | Path) -> Path:
    """Collect every run under ``root`` and write ``root/report/``; returns the path of report.html."""
    root = Path(root)
    data = collect(root)
    out = root / "report"
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(exist_ok=True)
    if data.runs.empty:
        raise FileNotFoundError(f"no finished runs under {root} (expected <task>/<config>/seed<k>/DONE)")
    summ = summary_table(data.runs)
    tables = {"runs": data.runs, "summary": summ, "metrics": data.metrics, "analysis": data.analysis,
              "failed": data.failed}
    for name, df in tables.items():
        atomic_write_text(out / "tables" / f"{name}.csv", df.to_csv(index=False))
    vs = verdicts(data.runs, data.metrics, data.analysis, data.uses)
    atomic_write_text(out / "tables" / "verdicts.csv", pd.DataFrame(vs).drop(columns="numbers").to_csv(index=False))
    atomic_write_text(out / "verdicts.json", json.dumps(vs, indent=2, default=float))
    imgs: dict[str, str] = {}
    for name, fn in FIGURES.items():
        fig = fn(data.runs, data.metrics, data.analysis, data.uses)
        if fig is None:
            continue
        fig.savefig(out / "figures" / f"{name}.pdf", bbox_inches="tight")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        (out / "figures" / f"{name}.png").write_bytes(buf.getvalue())
        imgs[name] = base64.b64encode(buf.getvalue()).decode()
    samples = _copy_samples(data.runs, out)
    page = _html(root, data, summ, vs, imgs, samples)
    atomic_write_text(out / "report.html", page)
    return out / "report.html"


def _copy_samples(runs: pd.DataFrame, out: Path) -> dict[str, str]:
    res = {}
    for _, r in runs[runs.seed == runs.seed.min()].iterrows():
        pngs = sorted(Path(r.path, "samples").glob("step_*.png"))
        if pngs:
            dst = out / "figures" / f"samples_{r.task}_{r.config}.png"
            shutil.copyfile(pngs[-1], dst)
            res[f"{r.task} / {r.config}"] = base64.b64encode(dst.read_bytes()).decode()
    return res


def _table_html(summ: pd.DataFrame) -> str:
    rows = []
    for _, r in summ.iterrows():
        cells = [r.task, r.config, str(int(r.n_seeds)), f"{r.params / 1e6:.2f} M",
                 fmt_pm(r.get("final_psnr_mean"), r.get("final_psnr_std")),
                 fmt_pm(r.get("final_ssim_mean"), r.get("final_ssim_std"), 3),
                 fmt_pm(r.get("final_psnr_input_mean"), r.get("final_psnr_input_std"))]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ["task", "configuration", "seeds", "params", "PSNR (dB)", "SSIM",
                                             "input PSNR (dB)"])
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _html(root: Path, data: Any, summ: pd.DataFrame, vs: list[dict], imgs: dict[str, str],
          samples: dict[str, str]) -> str:
    css = ("body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}"
           "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px}"
           "img{max-width:100%}.v{background:#f5f7fb;border-left:4px solid #4a6fa5;padding:.5em 1em;margin:.5em 0}"
           "code{background:#eee;padding:0 3px}")
    parts = [f"<html><head><meta charset='utf-8'><title>infoflow report</title><style>{css}</style></head><body>",
             f"<h1>infoflow — why restoration GANs work or fail</h1><p>Runs: <code>{html.escape(str(root))}</code>, "
             f"{len(data.runs)} finished, {len(data.failed)} failed.</p>",
             "<h2>Headline table</h2>", _table_html(summ)]
    for problem, names in SECTIONS.items():
        pv = [v for v in vs if v["problem"] == problem]
        if not pv:
            continue
        parts.append(f"<h2>{TITLES[problem]}</h2>")
        for v in pv:
            ev = f" <i>(evidence: {html.escape(v['present_evidence'])})</i>" if v.get("present_evidence") else ""
            parts.append(f"<div class='v'><b>{html.escape(v['task'])}</b>: {html.escape(v['text'])}{ev}</div>")
        for n in names:
            if n in imgs:
                parts.append(f"<figure><img src='data:image/png;base64,{imgs[n]}'><figcaption>{n} "
                             f"(figures/{n}.png, .pdf)</figcaption></figure>")
    if "psnr_all_configs" in imgs:
        parts.append(f"<h2>All configurations</h2><img src='data:image/png;base64,{imgs['psnr_all_configs']}'>")
    if samples:
        parts.append("<h2>Samples (input | output | target)</h2>")
        for k, b in samples.items():
            parts.append(f"<figure><img src='data:image/png;base64,{b}' style='max-width:360px'>"
                         f"<figcaption>{html.escape(k)}</figcaption></figure>")
    if len(data.failed):
        parts.append("<h2>Failed runs</h2><ul>" + "".join(
            f"<li>{html.escape(f'{r.task}/{r.config}/seed{r.seed}')}: {html.escape(str(r.error))}</li>"
            for r in data.failed.itertuples()) + "</ul>")
    parts.append("<h2>Conventions</h2><p>Every MI number states its estimator and parameters in the tidy tables "
                 "(<code>tables/metrics.csv</code>, <code>tables/analysis.csv</code>: columns estimator, params, "
                 "saturated, ceiling). Information-plane values use the KDE convention of Saxe et al. (T + "
                 "N(0, σ²I), X = identity of each probe sample, ceiling log N); per-layer and per-band values "
                 "use the linear-Gaussian estimator on seeded 8-dim random projections of receptive-field "
                 "patches (a lower-bound-style proxy, comparable across configurations). Values in nats.</p>"
                 "<p>Discriminators: pix2pix's PatchGAN with BatchNorm for every loss except WGAN-GP, whose critic "
                 "uses layer normalisation (no batch coupling: the gradient penalty is per sample, as in "
                 "Gulrajani et al. 2017). The saturated fraction of D's outputs is defined per loss family where "
                 "its loss is flat (|logit| &gt; 4 for BCE, |relative logit| &gt; 4 for relativistic, beyond the "
                 "±1 margin for hinge) and is not reported for LSGAN and WGAN-GP, which have no flat region.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
