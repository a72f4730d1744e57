"""``infoflow report RUNS_DIR``: report.html + figures/ (PNG and PDF) + tables/ (CSV)."""
from __future__ import annotations

import base64
import html
import io
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from infoflow.infotheory.result import standard_json

from ..runfolder import atomic_write_text
from ..tasks import REGISTRY as TASKS, get_task
from .collect import collect
from .crops import sample_crops
from .primaries import primaries_figure
from .figures import FIGURES, WITH_CLASSICAL
from .tables import classical_sentences, fmt_pm, summary_table
from .verdicts import load_published, verdicts

__all__ = ["build_report", "publish", "results_markdown", "pivot_table"]

def _sections() -> list[tuple[str, str, list[str]]]:
    """(problem, heading, figure names) for each registered problem, in its section order; a figure
    a problem names that no maker draws is an error naming both."""
    from ..problems import PROBLEMS

    out = []
    for name, p in sorted(PROBLEMS.items(), key=lambda kv: (kv[1].section or 99, kv[0])):
        unknown = [f for f in p.figures if f not in FIGURES]
        if unknown:
            raise KeyError(f"problem {name!r} names figures no maker in experiments.report.figures draws: {unknown}")
        out.append((name, f"{p.section}. {p.title}" if p.section else p.title, list(p.figures)))
    return out


def build_report(root: str | Path, holm_with: Sequence[str | Path] = (), tasks: Sequence[str] | None = None) -> Path:
    """Collect every run under ``root`` and write ``root/report/``; returns the path of report.html.
    ``holm_with``: published sweeps of other tasks (folders written by :func:`publish`) whose primary
    decisions join this sweep's Holm family; their verdicts (re-adjusted) and their ``runs.csv`` /
    ``summary.csv`` rows (column ``source``) join the report's tables. ``tasks``: report only these
    of the sweep's tasks (e.g. publish a finished one while the others run)."""
    root = Path(root)
    joint = [row for p in holm_with for row in load_published(p)]
    data = collect(root, tasks)
    out = root / "report"
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(exist_ok=True)
    if data.runs.empty:
        raise FileNotFoundError(f"no finished runs under {root} (expected <task>/<config>/seed<k>/DONE)")
    # decided first: a refused joint family (a problem × task in both sweeps) writes nothing
    vs = [v.as_dict() for v in verdicts(data.runs, data.metrics, data.analysis, data.uses, joint)] + joint  # JSON rows
    summ = summary_table(data.runs)
    tables = {"runs": data.runs, "summary": summ, "metrics": data.metrics, "analysis": data.analysis,
              "failed": data.failed}
    for p in holm_with:
        for name in ("runs", "summary"):
            if (Path(p) / f"{name}.csv").is_file():
                tables[name] = pd.concat([tables[name], pd.read_csv(Path(p) / f"{name}.csv").assign(source=str(p))],
                                         ignore_index=True)
    for name, df in tables.items():
        atomic_write_text(out / "tables" / f"{name}.csv", df.to_csv(index=False))
    if len(data.classical):
        atomic_write_text(out / "tables" / "classical.csv", data.classical.to_csv(index=False))
    flat = [{k: "; ".join(v) if k == "missing_runs" else v for k, v in x.items()
             if k not in ("controls", "effects", "secondary", "decision", "fix_decision")}
            | {f"{w}_{k}": x.get(f"{w}decision", {}).get(k) for w in ("", "fix_")
               for k in ("quantity", "mean", "ci_low", "ci_high", "p_value", "p_holm")}
            for x in vs]
    atomic_write_text(out / "tables" / "verdicts.csv", pd.DataFrame(flat).to_csv(index=False))
    atomic_write_text(out / "verdicts.json", standard_json(vs, indent=2))
    imgs: dict[str, str] = {}
    makers = {name: (lambda fn=fn, name=name: fn(data.runs, data.metrics, data.analysis, data.uses,
                                                 **({"classical": data.classical} if name in WITH_CLASSICAL else {})))
              for name, fn in FIGURES.items()}
    makers["sample_crops"] = lambda: sample_crops(data.runs)
    makers["primaries"] = lambda: primaries_figure(vs)
    for name, make in makers.items():
        fig = make()
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


def pivot_table(runs: pd.DataFrame, classical: pd.DataFrame) -> pd.DataFrame:
    """Configurations (then classical references) as rows, tasks as columns: 'PSNR ± sd · SWD (k/n
    converged)' per cell, '' where a configuration was not run on a task."""
    cells: dict[str, dict[str, str]] = {}
    for (task, config), g in runs.groupby(["task", "config"]):
        p = g.final_psnr.dropna()
        txt = fmt_pm(p.mean(), p.std(ddof=1) if len(p) > 1 else float("nan")) + " dB"
        if "final_swd" in g and g.final_swd.notna().any():
            txt += f" · SWD {g.final_swd.mean():.0f}"
        if "converged" in g:
            txt += f" ({int((g.converged == True).sum())}/{len(g)} conv.)"  # noqa: E712
        cells.setdefault(config, {})[task] = txt
    if len(classical) and "status" in classical:
        for c in classical.itertuples():
            txt = (f"{c.final_psnr:.2f} dB" + (f" · SWD {c.final_swd:.0f}" if getattr(c, "final_swd", None) == getattr(c, "final_swd", 0) else "")
                   if c.status == "scored" else str(c.status))
            cells.setdefault(f"classical: {c.method}", {})[c.task] = txt
    inputs = runs.groupby("task")["final_psnr_input"].mean()
    cells["degraded input"] = {t: f"{v:.2f} dB" for t, v in inputs.items()}
    tasks = sorted(runs.task.unique())
    return pd.DataFrame([{"configuration": k, **{t: v.get(t, "") for t in tasks}} for k, v in cells.items()])


_COLOURS = {"present": "#f4cccc", "absent": "#d9ead3", "reduced": "#d9ead3", "not reduced": "#f4cccc"}


def _verdict_grid(vs: list[dict]) -> str:
    tasks = sorted({v["task"] for v in vs})
    headings = {name: heading for name, heading, _ in _sections()}
    rows = []
    for problem in dict.fromkeys(v["problem"] for v in vs):
        cells = [f"<th>{html.escape(headings.get(problem, problem))}</th>"]
        for t in tasks:
            v = next((x for x in vs if x["problem"] == problem and x["task"] == t), None)
            if v is None:
                cells.append("<td>—</td>")
                continue
            col = _COLOURS.get(v["verdict"], "#fff2cc")
            cells.append(f"<td style='background:{col}'><a href='#{problem}-{t}'>{html.escape(v['verdict'])}</a>"
                         f"<br><small>fix: {html.escape(v['fix'])}</small></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(t)}</th>" for t in tasks) + "</tr>"
    return f"<table class='grid'>{head}{''.join(rows)}</table>"


def _df_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in df.itertuples(index=False))
    return f"<table><tr>{head}</tr>{body}</table>"


def _fig(imgs: dict[str, str], n: str) -> str:
    return (f"<figure><img src='data:image/png;base64,{imgs[n]}'><figcaption>{n} (figures/{n}.png, .pdf)"
            f"</figcaption></figure>") if n in imgs else ""


def _html(root: Path, data: Any, summ: pd.DataFrame, vs: list[dict], imgs: dict[str, str],
          samples: dict[str, str]) -> str:
    css = ("body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222}"
           "table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px}"
           "img{max-width:100%}.v{background:#f5f7fb;border-left:4px solid #4a6fa5;padding:.3em 1em;margin:.5em 0}"
           ".warn{background:#fff2cc;border-left:4px solid #e69138;padding:.5em 1em}"
           "code{background:#eee;padding:0 3px}.grid td{text-align:center;min-width:9em}")
    preset = data.sweep.get("preset", "?")
    parts = [f"<html><head><meta charset='utf-8'><title>infoflow report</title><style>{css}</style></head><body>",
             f"<h1>infoflow — why restoration GANs work or fail</h1><p>Runs: <code>{html.escape(str(root))}</code> "
             f"(preset <code>{html.escape(str(preset))}</code>), {len(data.runs)} finished, {len(data.failed)} failed.</p>"]
    if any(v.get("illustration") for v in vs) or preset in ("tiny", "quick"):
        parts.append("<p class='warn' id='illustration'><b>These verdicts are illustrations, not evidence.</b> "
                     f"The <code>{html.escape(str(preset))}</code> preset trains few seeds for few steps, far from "
                     "convergence; a verdict needs at least 3 paired seeds of runs that reached their plateau "
                     "(<code>infoflow reproduce --preset standard</code>), and says <i>inconclusive</i> otherwise.</p>")
    parts += ["<h2>Verdicts</h2><p>Each cell: is the problem present in the baseline, and does the pre-registered fix "
              "reduce it — decided by one comparison named in the problem's module before any run, over paired seeds "
              "with a 95 % t-interval (click for the evidence). Controls are shown in each section and never decide.</p>",
              _verdict_grid(vs), _fig(imgs, "primaries"),
              "<h2>Headline table</h2><p>PSNR on the whole test images (mean ± sd over seeds), SWD ×10³ realism "
              "(lower = more realistic) and how many runs converged by the plateau rule (&lt; 0.05 dB fitted gain over "
              "the last quarter of training); classical references scored on the same images and degradations.</p>",
              _df_html(pivot_table(data.runs, data.classical)),
              "".join(f"<p>{html.escape(t)}</p>" for t in classical_sentences(data.runs, data.classical).values()),
              "".join(f"<p>{html.escape(get_task(t).no_classical)}</p>" for t in sorted(set(data.runs.task))
                      if t in TASKS and get_task(t).no_classical),
              _fig(imgs, "psnr_all_configs"), _fig(imgs, "perception_distortion"), _fig(imgs, "sample_crops")]
    for problem, heading, names in _sections():
        pv = [v for v in vs if v["problem"] == problem]
        if not pv:
            continue
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for v in pv:
            rules = (f"<br><small>Problem rule: {html.escape(v.get('present_rule', ''))}<br>Fix rule: "
                     f"{html.escape(v.get('fix_rule', ''))}</small>") if v.get("present_rule") else ""
            parts.append(f"<details class='v' id='{problem}-{html.escape(v['task'])}'><summary><b>"
                         f"{html.escape(v['task'])}</b>: {html.escape(v['verdict'])} · fix {html.escape(v['fix'])}"
                         f"</summary><p>{html.escape(v['text'])}{rules}</p></details>")
        parts += [_fig(imgs, n) for n in names]
    if samples:
        parts.append("<details id='samples'><summary><b>Training samples (input | output | target), last step, "
                     "first seed</b></summary>")
        for k, b in samples.items():
            parts.append(f"<figure><img src='data:image/png;base64,{b}' style='max-width:360px'>"
                         f"<figcaption>{html.escape(k)}</figcaption></figure>")
        parts.append("</details>")
    if len(data.failed):
        parts.append("<h2>Failed runs</h2><ul>" + "".join(
            f"<li>{html.escape(f'{r.task}/{r.config}/seed{r.seed}')}: {html.escape(str(r.error))}</li>"
            for r in data.failed.itertuples()) + "</ul>")
    parts.append("<details><summary><b>Conventions</b></summary><p>Every MI number states its estimator and "
                 "parameters in the tidy tables (<code>tables/metrics.csv</code>, <code>tables/analysis.csv</code>: "
                 "columns estimator, params, saturated, ceiling). Information-plane values use the KDE convention of "
                 "Saxe et al. (T + N(0, σ²I), X = identity of each probe sample, ceiling log N); per-layer values along "
                 "depth use the linear-Gaussian estimator on seeded projections of whole probe crops and maps, per-band "
                 "values on receptive-field patches (comparable across configurations). Values in nats.</p>"
                 "<p>Scores: PSNR/SSIM on the whole test images (the literature's fixed per-image degradation seeds); "
                 "held-out crops only drive the convergence curve. Realism: sliced Wasserstein distance between "
                 "Laplacian-pyramid 7×7 patch distributions of the restored and clean sets (Karras et al. 2018), ×10³."
                 "</p><p>Discriminators: pix2pix's PatchGAN with BatchNorm for every loss except WGAN-GP, whose critic "
                 "uses layer normalisation (the gradient penalty is per sample, Gulrajani et al. 2017). The saturated "
                 "fraction of D's outputs is defined per loss family where its loss is flat (|logit| &gt; 4 for BCE, "
                 "|relative logit| &gt; 4 for relativistic, beyond the ±1 margin for hinge) and is not reported for "
                 "LSGAN and WGAN-GP, which have no flat region. The L1-only control trains G on the content term "
                 "alone.</p></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


PUBLISHED_TABLES = ("verdicts.csv", "summary.csv", "runs.csv", "classical.csv")
PUBLISHED_FIGURES = ("primaries", "abstraction_information_vs_cost", "detail_retention_bands", "gradients_jsd_vs_gradient",
                     "psnr_all_configs", "perception_distortion", "sample_crops", "abstraction_info_per_layer",
                     "detail_bands", "gradients_d_probe")


def publish(root: str | Path, dest: str | Path) -> list[Path]:
    """Copy a built report's small outcome into ``dest`` (e.g. ``results/long``): verdicts.json,
    the tidy summary tables (CSV) and at most 12 PNG figures — never run folders or the large
    per-step tables. Returns the written paths."""
    src, dest = Path(root) / "report", Path(dest)
    if not (src / "verdicts.json").exists():
        raise FileNotFoundError(f"{src} holds no built report (run `infoflow report {root}` first)")
    (dest / "figures").mkdir(parents=True, exist_ok=True)
    written = [dest / "verdicts.json"]  # re-written as standard JSON (a report built before may hold NaN)
    atomic_write_text(written[0], standard_json(json.loads((src / "verdicts.json").read_text()), indent=2))
    runs = pd.read_csv(src / "tables" / "runs.csv").drop(columns=["path"], errors="ignore")  # no local paths
    for name in PUBLISHED_TABLES:
        if (src / "tables" / name).exists():
            df = runs if name == "runs.csv" else pd.read_csv(src / "tables" / name)
            atomic_write_text(dest / name, df.to_csv(index=False))
            written.append(dest / name)
    atomic_write_text(dest / "tables.md", results_markdown(root))
    written.append(dest / "tables.md")
    for name in PUBLISHED_FIGURES[:12]:
        if (src / "figures" / f"{name}.png").exists():
            written.append(dest / "figures" / f"{name}.png")
            shutil.copyfile(src / "figures" / f"{name}.png", written[-1])
    return written


def results_markdown(root: str | Path) -> str:
    """The verdict table, the controls and effects reported beside the verdicts (their answers, which
    decide nothing) and the pivoted headline table of a built report, as Markdown."""
    src = Path(root) / "report"
    vs = json.loads((src / "verdicts.json").read_text())
    lines = ["| problem | task | verdict | Holm | primary: problem comparison (95 % CI, n) | fix | Holm | "
             "primary: fix comparison (95 % CI, n) |", "|---|---|---|---|---|---|---|---|"]

    def ci(d: dict) -> str:
        if not d or d.get("n_seeds", 0) == 0:
            return "—"
        lo, hi = d.get("ci_low"), d.get("ci_high")
        rng = f"[{lo:+.3g}, {hi:+.3g}]" if lo is not None and lo == lo else "[—]"
        q = f"{d['quantity']}: " if d.get("quantity") else ""
        return f"{q}{d['mean']:+.3g} {rng}, n = {d['n_seeds']}"

    for v in vs:
        lines.append(f"| {v['problem']} | {v['task']} | **{v['verdict']}** | {v.get('verdict_holm', '—')} | "
                     f"{ci(v.get('decision', {}))} | {v['fix']} | {v.get('fix_holm', '—')} | "
                     f"{ci(v.get('fix_decision', {}))} |")
    beside = ["| problem | task | beside the verdict (never decides it) | value (95 % CI, n) | answer |",
              "|---|---|---|---|---|"]
    for v in vs:
        for kind, items in (("secondary", v.get("secondary", [])), ("control", v.get("controls", [])),
                            ("effect", v.get("effects", []))):
            for c in items:
                answer = c.get("answer", "")
                if kind == "effect":  # a reading, not a question: only whether its runs converged
                    answer = "unconverged runs" if "unconverged" in answer else "—"
                value = ci(c) if c.get("n_seeds") else c.get("reason", "—")  # not run: which runs are missing
                question = c["question"].removeprefix("secondary: ")
                beside.append(f"| {v['problem']} | {v['task']} | {kind}: {question} | {value} | {answer} |")
    classical = src / "tables" / "classical.csv"  # the report's tables: its runs and any joined sweep's
    piv = pivot_table(pd.read_csv(src / "tables" / "runs.csv"),
                      pd.read_csv(classical) if classical.is_file() else pd.DataFrame())
    head = "| " + " | ".join(piv.columns) + " |"
    rows = ["| " + " | ".join(str(x) for x in r) + " |" for r in piv.itertuples(index=False)]
    return ("\n".join(lines) + "\n\n" + ("\n".join(beside) + "\n\n" if len(beside) > 2 else "")
            + "\n".join([head, "|" + "---|" * len(piv.columns), *rows]) + "\n")
