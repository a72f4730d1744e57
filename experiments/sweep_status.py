"""``infoflow status RUNS``: where a sweep folder stands, run by run, without touching it.

Reads the folder's ``sweep.json`` (what the ``reproduce`` calls into it asked for), rebuilds their
grid and says for each run whether it is done, running (a live process holds its ``LOCK``: at
which step), interrupted (started, nobody holds it: the next ``reproduce`` resumes it), failed
(its ``FAILED`` error) or not started — the view of a long sweep that a progress bar in another
terminal cannot give.
"""
from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

import pandas as pd

from .reproduce import (_analyses_for, _analysis_settings, _decisive_rank, _lacking, build_grid, select_configs,
                        sweep_seeds)
from .runfolder import RunFolder

__all__ = ["sweep_status", "format_status", "remaining_runs"]

STATES = ("done", "done, analyses pending", "running", "interrupted", "failed", "not started")


def _last_step(metrics: Path) -> int | None:
    """The step of the last row of a run's metrics.csv (read from its end), None when it has none."""
    try:
        with metrics.open("rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 4096))
            lines = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return None
    for line in reversed(lines[1:] if len(lines) > 1 else lines):
        head = line.split(",", 1)[0]
        if head.isdigit():
            return int(head)
    return None


def sweep_status(out: str | Path) -> pd.DataFrame:
    """One row per run of the sweep in ``out``: task, config, seed, decides (a primary decision
    compares this configuration: the grid trains these first), state (one of :data:`STATES`),
    step (last logged), steps (the schedule's), seconds (a finished run's training time, its last
    launch's scaled to the whole schedule when that launch resumed), analysis_seconds (its post-run
    analyses', when ``analyses.json`` records them) and detail (the LOCK holder or the recorded error). Raises FileNotFoundError when ``out``
    holds no sweep.json."""
    out = Path(out)
    if not (out / "sweep.json").exists():
        raise FileNotFoundError(f"{out} holds no sweep.json: not a folder written by `infoflow reproduce`")
    sweep = json.loads((out / "sweep.json").read_text())
    grid, uses = build_grid(sweep["preset"], sweep["tasks"], sweep["problems"], sweep_seeds(sweep))
    rank = _decisive_rank(sweep["problems"], uses)
    rows = []
    for spec in select_configs(grid, sweep.get("configs")):
        path = out / spec.task / spec.config / f"seed{spec.seed}"
        run = RunFolder(path)
        row = {"task": spec.task, "config": spec.config, "seed": spec.seed,
               "decides": rank[(spec.task, spec.config)] == 0, "state": "not started",
               "step": _last_step(run.metrics_path), "steps": dict(spec.overrides).get("train.steps"),
               "seconds": None, "analysis_seconds": None, "detail": ""}
        live = run.lock_held()
        holder = run.lock_holder() if live else None
        if run.done:
            done = json.loads((path / "DONE").read_text())
            row["seconds"], row["step"] = _training_seconds(path, done), done.get("steps", row["step"])
            row["analysis_seconds"] = _analysis_seconds(path)
            pending = _lacking(path, _analyses_for(spec, uses), _analysis_settings(spec))
            row["state"] = "done, analyses pending" if pending else "done"
            row["detail"] = ", ".join(pending)
            if live:
                row["detail"] = f"being analysed by pid {holder.get('pid') if holder else '?'}"
        elif live:
            row["state"] = "running"
            row["detail"] = f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}" \
                if holder else "LOCK being written"
        elif (path / "FAILED").exists():
            row["state"] = "failed"
            row["detail"] = json.loads((path / "FAILED").read_text()).get("error", "")
        elif run.has_content:
            row["state"] = "interrupted"
            row["detail"] = "resumes from its checkpoint on the next reproduce"
        rows.append(row)
    table = pd.DataFrame(rows, columns=["task", "config", "seed", "decides", "state", "step", "steps", "seconds",
                                        "analysis_seconds", "detail"])
    return table.astype({"step": "Int64", "steps": "Int64", "seconds": "float64", "analysis_seconds": "float64"})


def _training_seconds(path: Path, done: dict) -> float | None:
    """A finished run's training time over its whole schedule: its last launch's seconds, scaled up
    by the steps that launch trained when it resumed from a checkpoint (manifest ``resumed_from_step``)
    — a launch that trained the last 1000 of 8000 steps is not what a run costs."""
    secs, steps = done.get("seconds_this_launch"), done.get("steps")
    try:
        start = int(json.loads((path / "manifest.json").read_text()).get("resumed_from_step") or 0)
    except (OSError, ValueError):
        start = 0
    if secs is None or not steps or start >= steps:
        return secs
    return float(secs) * steps / (steps - start)


def _analysis_seconds(path: Path) -> float | None:
    """The seconds the run's post-run analyses took (``analyses.json``; None when it does not say)."""
    try:
        seconds = json.loads((path / "analyses.json").read_text()).get("seconds")
    except (OSError, ValueError):
        return None
    return float(sum(seconds.values())) if seconds else None


def remaining_runs(table: pd.DataFrame) -> float:
    """The training still to do, in runs: 1 per run not started, the unlogged fraction of each
    running or interrupted one (failed runs are retried only by a new ``reproduce``: not counted)."""
    part = table[table.state.isin(["running", "interrupted"])]
    frac = (1 - part.step.fillna(0).astype(float) / part.steps.astype(float)).clip(0, 1)
    return float((table.state == "not started").sum() + frac.sum())


def _time_left(part: pd.DataFrame, minutes: float | None, running: int, pace: bool = False) -> str:
    """'about N min left' for the runs of ``part`` at ``minutes`` a run, ``running`` at once ('' when
    nothing trains or nothing is left); ``pace`` adds the work left and the runs at once. Failed runs
    are retried only by a reproduce started after they failed: left out, and said so."""
    left = remaining_runs(part)
    if minutes is None or left <= 0 or not running:
        return ""
    text = f"about {left * minutes / running:.0f} min left"
    if pace:
        text += (f" at this pace ({left:.{1 if left < 10 else 0}f} run{'' if left == 1 else 's'} of work, "
                 f"{running} at once)")
    failed = int((part.state == "failed").sum())
    return text + (f", not counting {failed} failed run{'' if failed == 1 else 's'}" if failed else "")


def format_status(table: pd.DataFrame) -> str:
    """The status table as text: one line per run that is not done (the runs of a configuration
    not started yet on one line), the finished runs per task, then the counts per state, the
    median training time of the finished runs and, while runs train, the time left at that pace
    (:func:`remaining_runs` × median ÷ runs training at once)."""
    lines: list[str] = []
    rows = table.itertuples(index=False)
    for (task, config, state), group in groupby(rows, key=lambda r: (r.task, r.config, r.state)):
        runs = list(group)
        if state == "not started" and len(runs) > 1:  # a configuration's seeds are adjacent in the grid
            lines.append(f"  {task}/{config}: not started (seeds {', '.join(str(r.seed) for r in runs)})")
            continue
        for r in runs if state != "done" else ():
            at = f" at step {r.step}/{r.steps}" if r.state in ("running", "interrupted") and pd.notna(r.step) else ""
            lines.append(f"  {r.task}/{r.config}/seed{r.seed}: {r.state}{at}" + (f" ({r.detail})" if r.detail else ""))
    if table.task.nunique() > 1:
        done = table.state.eq("done").groupby(table.task, sort=False)
        lines.append("  done per task: " + ", ".join(f"{t} {int(d.sum())}/{len(d)}" for t, d in done))
    counts = table.state.value_counts()
    summary = ", ".join(f"{int(counts[s])} {s}" for s in STATES if s in counts)
    secs = table.seconds.dropna()
    analysis = table.analysis_seconds.dropna() if "analysis_seconds" in table else secs.iloc[:0]
    train_min = secs.median() / 60 if len(secs) else None
    analysis_min = analysis.median() / 60 if len(analysis) else None
    minutes = train_min + (analysis_min or 0.0) if train_min is not None else None
    running = int((table.state == "running").sum())
    decisive = table[table.decides.astype(bool)] if "decides" in table else table.iloc[:0]
    if 0 < len(decisive) < len(table):  # the grid trains them first: when the verdicts can be read
        left = _time_left(decisive, minutes, running)
        lines.append(f"  the runs a verdict compares: {int(decisive.state.eq('done').sum())}/{len(decisive)} done"
                     + (f", {left}" if left else ""))
        ready = decisive.state.eq("done").groupby(decisive.task, sort=False).all()
        if 0 < ready.sum() < len(ready):  # some tasks' verdicts can be read (and published) while others train
            names = " ".join(t for t, ok in ready.items() if ok)
            lines.append(f"  verdicts ready: {names} (infoflow report RUNS --tasks {names} --publish DIR)")
    timing = ""
    if minutes is not None:
        parts = (f": {train_min:.1f} training + {analysis_min:.1f} analyses" if analysis_min is not None
                 else " training; its analyses not timed")
        timing = f"; a finished run took {minutes:.1f} min (median{parts})"
    left = _time_left(table, minutes, running, pace=True)
    timing += f"; {left}" if left else ""
    return "\n".join(lines + [f"{len(table)} runs: {summary}{timing}"])
