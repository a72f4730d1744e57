"""``infoflow reproduce``: every problem, before and after its fix, on every task, over seeds.

One run folder per (task, configuration, seed) under ``OUT/<task>/<config>/seed<k>``;
configurations shared between problems (the baseline) are trained once. Finished runs (DONE and
analysed) are skipped, interrupted ones resumed, failed ones recorded in ``FAILED`` with the error
and retried next time — the sweep goes on. ``--shard i/N`` takes every N-th run of the grid.
"""
from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from .config import resolve_config
from .problems import PRESET_OVERRIDES, PROBLEMS, SEEDS, TASKS, RunSpec, task_overrides
from .runfolder import atomic_write_text

__all__ = ["build_grid", "reproduce", "parse_shard"]


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/N"`` -> (i, N) with 0 <= i < N."""
    if not text:
        return 0, 1
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard expects i/N (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"--shard {text}: need 0 <= i < N")
    return i, n


def build_grid(preset: str, tasks: Sequence[str], problems: Sequence[str], seeds: int | None = None
               ) -> tuple[list[RunSpec], dict[str, dict[str, list[str]]]]:
    """The runs, and for each problem and task the configuration names it uses."""
    if preset not in PRESET_OVERRIDES:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESET_OVERRIDES)}")
    for t in tasks:
        if t not in TASKS:
            raise ValueError(f"unknown task {t!r}; choose from {list(TASKS)}")
    for p in problems:
        if p not in PROBLEMS:
            raise ValueError(f"unknown problem {p!r}; choose from {list(PROBLEMS)}")
    n_seeds = seeds or SEEDS[preset]
    specs: dict[str, RunSpec] = {}
    uses: dict[str, dict[str, list[str]]] = {}
    for task in tasks:
        for pname in problems:
            cfgs = PROBLEMS[pname].configs(preset)
            uses.setdefault(pname, {})[task] = list(cfgs)
            for cname, over in cfgs.items():
                merged = {**PRESET_OVERRIDES[preset], **task_overrides(task), **over}
                for seed in range(n_seeds):
                    spec = RunSpec(task, cname, seed, tuple(sorted({**merged, "seed": seed, "name": cname}.items())))
                    old = specs.get(spec.key)
                    if old is not None and old.overrides != spec.overrides:
                        raise RuntimeError(f"configuration {cname!r} of {task} is defined differently by two problems")
                    specs[spec.key] = spec
    return sorted(specs.values(), key=lambda s: (TASKS.index(s.task), s.config, s.seed)), uses


def _analyses_for(spec: RunSpec, uses: dict[str, dict[str, list[str]]]) -> list[str]:
    out: list[str] = []
    for pname, by_task in uses.items():
        if spec.config in by_task.get(spec.task, []):
            out += [a for a in PROBLEMS[pname].analysis if a not in out]
    return out


def reproduce(preset: str = "quick", tasks: Sequence[str] = TASKS, problems: Sequence[str] = tuple(PROBLEMS),
              seeds: int | None = None, device: str = "auto", out: str | Path = "runs", shard: str | None = None,
              report: bool = True, progress: bool = True) -> dict[str, Any]:
    """Run (or continue) the sweep; returns counts of done/skipped/failed runs."""
    from .analysis import analyse_run
    from .train import Trainer

    out = Path(out)
    grid, uses = build_grid(preset, tasks, problems, seeds)
    i, n = parse_shard(shard)
    mine = grid[i::n]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "sweep.json", json.dumps({"preset": preset, "tasks": list(tasks), "problems": list(problems),
                                                      "seeds": seeds or SEEDS[preset], "uses": uses}, indent=2))
    counts = {"trained": 0, "skipped": 0, "failed": 0, "total": len(mine)}
    bar = tqdm(mine, desc=f"reproduce {preset}", disable=not progress, dynamic_ncols=True)
    for spec in bar:
        path = out / spec.task / spec.config / f"seed{spec.seed}"
        bar.set_postfix_str(spec.key)
        analysed = (path / "analysis.csv").exists()
        if (path / "DONE").exists() and analysed:
            counts["skipped"] += 1
            continue
        t0 = time.time()
        try:
            if not (path / "DONE").exists():
                cfg = resolve_config({}, spec.sets())
                Trainer(cfg, path, device=device, resume=path.exists(), progress=False).fit()
            analyse_run(path, _analyses_for(spec, uses), device=device)
            (path / "FAILED").unlink(missing_ok=True)
            counts["trained"] += 1
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # record and go on: one broken configuration must not stop the sweep
            counts["failed"] += 1
            path.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path / "FAILED", json.dumps(
                {"run": spec.key, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
                 "seconds": time.time() - t0}, indent=2))
            tqdm.write(f"FAILED {spec.key}: {type(exc).__name__}: {exc}")
    if report and n == 1:
        from .report import build_report

        build_report(out)
    return counts
