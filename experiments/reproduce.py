"""``infoflow reproduce``: every problem, before and after its fix, on every task, over seeds.

One run folder per (task, configuration, seed) under ``OUT/<task>/<config>/seed<k>``;
configurations shared between problems (the baseline) are trained once. Finished runs (DONE and
analysed by every analysis the sweep's problems need; ``analyses.json`` records them) are skipped
or given only the analyses they lack, interrupted ones resumed, failed ones recorded in ``FAILED`` with the error
and retried next time — the sweep goes on. ``--shard i/N`` takes every N-th run of the grid;
``--configs A B`` only the runs of those configurations (a control added to a sweep later; the
report still knows the rest of the grid and says what is not run); ``--jobs N`` trains N runs at
once as processes (threads split between them). The grid runs the configurations a verdict compares first, then
those only a control or secondary comparison needs, then the context, so a sweep stopped part-way
has its verdicts. The classical references of each task are scored once and cached in
``OUT/<task>/classical/``.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from .config import resolve_config
from .problems import PRESET_OVERRIDES, PRIMARY_SEEDS, PROBLEMS, SEEDS, TASKS, RunSpec, task_overrides
from .runfolder import RunFolder, RunLockedError, atomic_write_text
from .sweep_options import SweepOptions, parse_shard

__all__ = ["merge_sweep", "build_grid", "sweep_seeds", "decisive_configs", "reproduce", "parse_shard", "run_one",
           "select_configs", "SweepOptions"]


def build_grid(preset: str, tasks: Sequence[str], problems: Sequence[str],
               seeds: int | None | Sequence[int | None] = None
               ) -> tuple[list[RunSpec], dict[str, dict[str, list[str]]]]:
    """The runs, and for each problem and task the configuration names it uses. ``seeds`` (None: the
    preset's) sets every configuration's seed count; by default a configuration a pre-registered
    primary decision compares gets :data:`PRIMARY_SEEDS` of the preset (5 for the confirmatory
    ``long`` and ``full``), the others :data:`SEEDS`. A list of such settings gives the union of
    their grids (a folder filled by several ``reproduce`` calls: :func:`sweep_seeds`)."""
    if preset not in PRESET_OVERRIDES:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESET_OVERRIDES)}")
    for t in tasks:
        if t not in TASKS:
            raise ValueError(f"unknown task {t!r}; choose from {list(TASKS)}")
    for p in problems:
        if p not in PROBLEMS:
            raise ValueError(f"unknown problem {p!r}; choose from {list(PROBLEMS)}")
    specs: dict[str, RunSpec] = {}
    uses: dict[str, dict[str, list[str]]] = {}
    merged_of: dict[tuple[str, str], dict[str, Any]] = {}
    for task in tasks:
        for pname in problems:
            cfgs = PROBLEMS[pname].configs(preset)
            uses.setdefault(pname, {})[task] = list(cfgs)
            for cname, over in cfgs.items():
                merged = {**PRESET_OVERRIDES[preset], **task_overrides(task), **over}
                old = merged_of.get((task, cname))
                if old is not None and old != merged:
                    raise RuntimeError(f"configuration {cname!r} of {task} is defined differently by two problems")
                merged_of[(task, cname)] = merged
    rank = _decisive_rank(problems, uses)
    settings = list(seeds) if isinstance(seeds, (list, tuple)) else [seeds]
    for (task, cname), merged in merged_of.items():
        default = PRIMARY_SEEDS.get(preset, SEEDS[preset]) if rank[(task, cname)] == 0 else SEEDS[preset]
        for seed in range(max(n or default for n in settings)):
            spec = RunSpec(task, cname, seed, tuple(sorted({**merged, "seed": seed, "name": cname}.items())))
            specs[spec.key] = spec
    return sorted(specs.values(), key=lambda s: (rank[(s.task, s.config)], TASKS.index(s.task), s.config,
                                                 s.seed)), uses


def select_configs(grid: list[RunSpec], configs: Sequence[str] | None) -> list[RunSpec]:
    """The runs of ``grid`` whose configuration is one of ``configs`` (all of them for None), in
    the grid's order; a name no run of the grid has is refused with the names it has."""
    if configs is None:
        return grid
    wanted, names = set(configs), sorted({s.config for s in grid})
    unknown = sorted(wanted - set(names))
    if unknown:
        raise ValueError(f"--configs: {unknown} not in this sweep's grid; its configurations are {names}")
    return [s for s in grid if s.config in wanted]


def decisive_configs(preset: str, tasks: Sequence[str], problems: Sequence[str]) -> list[str]:
    """The configurations a verdict compares (its two primary decisions) on any of ``tasks`` — what
    ``make demo`` trains; the controls, secondaries and context are the rest of the grid."""
    _, uses = build_grid(preset, tasks, problems)
    rank = _decisive_rank(problems, uses)
    return sorted({cfg for (_, cfg), r in rank.items() if r == 0})


def _decisive_rank(problems: Sequence[str], uses: dict[str, dict[str, list[str]]]) -> dict[tuple[str, str], int]:
    """(task, config) -> the lowest :meth:`Problem.run_rank` any of the sweep's problems gives it. The
    grid runs in that order, so a sweep stopped part-way (a session's time, a cluster's queue) has
    its verdicts first."""
    rank: dict[tuple[str, str], int] = {}
    for pname in problems:
        for task, cfgs in uses[pname].items():
            for cfg in cfgs:
                rank[(task, cfg)] = min(PROBLEMS[pname].run_rank(cfg), rank.get((task, cfg), 2))
    return rank


def _analyses_for(spec: RunSpec, uses: dict[str, dict[str, list[str]]]) -> list[str]:
    out: list[str] = []
    for pname, by_task in uses.items():
        if spec.config in by_task.get(spec.task, []):
            out += [a for a in PROBLEMS[pname].analysis if a not in out]
    return out


def _lacking(path: Path, analyses: list[str], wanted: dict[str, Any]) -> list[str]:
    """The analyses a run still needs: a finished run gets only those it lacks (a baseline trained for
    one problem gets the next problem's when that problem joins the sweep folder; its other rows stay
    as they are) or ran with other settings than the sweep's ``wanted`` (:data:`analysis.SETTINGS`:
    a baseline trained under an older preset is probed as long as the preset now says); an unfinished
    run needs all of them. Reads the run's record once."""
    from .analysis import SETTINGS, analysis_record

    if not ((path / "DONE").exists() and (path / "analysis.csv").exists()):
        return list(analyses)
    have, used = analysis_record(path)
    return [a for a in analyses if a not in have
            or any(k in wanted and used.get(a, {}).get(k) != wanted[k] for k in SETTINGS.get(a, ()))]


def _analysis_settings(spec: RunSpec) -> dict[str, Any]:
    """The sweep's values for the analysis settings (:data:`analysis.SETTINGS`) of this run."""
    from .analysis import SETTING_KEYS

    return {k: v for k, v in spec.overrides if k in SETTING_KEYS}


def _thread_split(jobs: int) -> int:
    """Torch threads per concurrent run: the cores shared evenly (at least 1)."""
    return max(1, (os.cpu_count() or 1) // jobs)


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker(threads: int) -> None:
    """A ``--jobs`` worker's thread pools sized to its share of the cores: torch's, and the
    BLAS/OpenMP pools numpy, scipy and scikit-learn use in the analyses — left alone, each worker's
    BLAS takes every core and N workers oversubscribe the CPU N-fold (a copula estimate at d = 100
    ran ~20× slower so). threadpoolctl limits the pools already loaded; the environment variables
    size those loaded later and the KSG neighbour queries (``workers=-1``)."""
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


def run_one(spec: RunSpec, path: Path, analyses: list[str], device: str) -> tuple[str, str, float]:
    """Train (or resume) and analyse one run; on error write ``FAILED`` (error, traceback) and go
    on. Returns (key, 'trained' | 'analysed' | 'skipped' | 'busy: ...' | 'failed: ...', seconds):
    'analysed' when the run was already finished and only got the analyses it lacked; 'busy' when
    another process holds the run's LOCK (the run is left to it); 'skipped' when another process
    finished it meanwhile. Used in-process and by ``--jobs`` workers."""
    from .analysis import analyse_run
    from .train import Trainer

    t0 = time.time()
    status = "analysed"
    resume = path.exists()
    try:
        with RunFolder(path).locked():  # another process on the same sweep folder leaves this run alone
            wanted = _analysis_settings(spec)
            analyses = _lacking(path, analyses, wanted)  # another process may have finished it meanwhile
            if (path / "DONE").exists() and not analyses:
                return spec.key, "skipped", time.time() - t0
            if not (path / "DONE").exists():
                cfg = resolve_config({}, spec.sets())
                Trainer(cfg, path, device=device, resume=resume, progress=False).fit()
                status = "trained"
            analyse_run(path, analyses, device=device, settings=wanted)
            (path / "FAILED").unlink(missing_ok=True)
        return spec.key, status, time.time() - t0
    except KeyboardInterrupt:
        raise
    except RunLockedError as exc:  # not a failure: another process is on it
        return spec.key, f"busy: {exc}", time.time() - t0
    except Exception as exc:  # record and go on: one broken configuration must not stop the sweep
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path / "FAILED", json.dumps(
            {"run": spec.key, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
             "seconds": time.time() - t0}, indent=2))
        return spec.key, f"failed: {type(exc).__name__}: {exc}", time.time() - t0


def sweep_seeds(sweep: dict[str, Any]) -> list[int | None]:
    """The seed settings of the ``reproduce`` calls a sweep.json records, for :func:`build_grid`:
    None for a call without ``--seeds`` (the preset's counts, :data:`PRIMARY_SEEDS` for what a
    primary compares), an int for ``--seeds N``. A sweep.json of earlier versions holds one int,
    and its calls without ``--seeds`` wrote the preset's :data:`SEEDS` there (3 for ``long``, whose
    primaries train 5): that int is read as the preset's counts, whose grid holds the other."""
    raw = sweep.get("seeds")
    if isinstance(raw, list):
        return [None if n is None else int(n) for n in raw] or [None]
    if raw is None or int(raw) == SEEDS.get(sweep["preset"]):
        return [None]
    return [int(raw)]


def merge_sweep(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (this call's preset, tasks, problems, seeds, uses, configs) joined with the
    sweep.json an earlier call left in the same folder, so that a folder filled by several calls
    (``--tasks dehaze`` after ``--tasks denoise derain``) is reported over all of them: tasks and
    problems are the union (first-seen order), ``uses`` is rebuilt for that union, ``seeds`` lists
    each call's setting (:func:`sweep_seeds`), ``configs`` the union of the selections (None once
    any call trained the whole grid).
    A folder holding another preset's sweep is refused: its runs would mix schedules."""
    if not path.exists():
        return record
    old = json.loads(path.read_text())
    if old.get("preset", record["preset"]) != record["preset"]:
        raise ValueError(f"{path.parent} holds a {old['preset']!r} sweep; a {record['preset']!r} sweep needs "
                         f"another --out folder")
    tasks = list(dict.fromkeys([*old.get("tasks", []), *record["tasks"]]))
    problems = list(dict.fromkeys([*old.get("problems", []), *record["problems"]]))
    seeds = list(dict.fromkeys([*sweep_seeds(old), *sweep_seeds(record)]))
    both = [old.get("configs"), record["configs"]]  # an older sweep.json without the key trained all
    configs = None if any(c is None for c in both) else sorted({*both[0], *both[1]})
    return {"preset": record["preset"], "tasks": tasks, "problems": problems, "seeds": seeds,
            "uses": build_grid(record["preset"], tasks, problems, seeds)[1], "configs": configs}


def reproduce(options: SweepOptions | str = "quick", *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run (or continue) the sweep ``options`` (a :class:`SweepOptions`, or its fields:
    ``reproduce("quick", ["denoise"], out="runs")`` is ``reproduce(SweepOptions("quick", ["denoise"],
    out="runs"))``); returns counts of runs trained, finished runs that only got the analyses they
    lacked (``analysed``), runs skipped (finished and fully analysed), ``busy`` (held by another
    process working on the same folder: each run folder is locked while a process trains or analyses
    it, so several ``reproduce`` processes can share one sweep) and failed.

    ``jobs``: runs trained at once as separate processes, the CPU threads split between them (on a
    GPU they share the device). ``configs``: only these configurations of the grid (see
    :func:`select_configs`); the report is built over the whole grid, so what is not run is named.
    ``classical``: score the task's classical references once per (method, test set, degradation)
    into ``OUT/<task>/classical/`` (kept when present)."""
    if isinstance(options, SweepOptions):
        if args or kwargs:
            raise TypeError("reproduce takes a SweepOptions or its fields, not both")
        opts = options
    else:
        opts = SweepOptions(options, *args, **kwargs)
    out, preset, tasks, problems, configs = opts.out, opts.preset, opts.tasks, opts.problems, opts.configs
    progress, device, jobs = opts.progress, opts.device, opts.jobs
    # imported now, not after hours of training: the references and the report come from the code that
    # trained (a checkout updated mid-sweep cannot break them with a mix of two versions)
    if opts.classical:
        from .classical_refs import score_references
    if opts.report:
        from .report import build_report
    grid, uses = build_grid(preset, tasks, problems, opts.seeds)
    grid = select_configs(grid, configs)
    i, n = parse_shard(opts.shard)
    mine = grid[i::n]
    out.mkdir(parents=True, exist_ok=True)
    record = {"preset": preset, "tasks": list(tasks), "problems": list(problems), "seeds": [opts.seeds],
              "uses": uses, "configs": sorted(configs) if configs is not None else None}
    atomic_write_text(out / "sweep.json", json.dumps(merge_sweep(out / "sweep.json", record), indent=2))
    counts: dict[str, Any] = {"trained": 0, "analysed": 0, "skipped": 0, "busy": 0, "failed": 0,
                              "total": len(mine)}
    todo = []
    for spec in mine:
        path = out / spec.task / spec.config / f"seed{spec.seed}"
        analyses = _lacking(path, _analyses_for(spec, uses), _analysis_settings(spec))
        if (path / "DONE").exists() and not analyses:
            counts["skipped"] += 1
            continue
        todo.append((spec, path, analyses))
    bar = tqdm(total=len(mine), initial=counts["skipped"], desc=f"reproduce {preset}", disable=not progress,
               dynamic_ncols=True)

    def done(key: str, status: str) -> None:
        bar.update(1)
        bar.set_postfix_str(key)
        if status in ("trained", "analysed", "skipped"):
            counts[status] += 1
        elif status.startswith("busy: "):
            counts["busy"] += 1
        else:
            counts["failed"] += 1
            tqdm.write(f"FAILED {key}: {status[len('failed: '):]}")

    if jobs == 1:
        for spec, path, analyses in todo:
            key, status, _ = run_one(spec, path, analyses, device)
            done(key, status)
    else:
        ctx = mp.get_context("spawn")  # fresh interpreters: no forked torch thread pools
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(_thread_split(jobs),)) as pool:
            futures = [pool.submit(run_one, spec, path, analyses, device) for spec, path, analyses in todo]
            try:
                for f in as_completed(futures):
                    key, status, _ = f.result()
                    done(key, status)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    bar.close()
    if opts.classical and n == 1:
        for task in tasks:
            score_references(task, _task_config(preset, task), out / task / "classical", progress=progress)
    if opts.report and n == 1:
        build_report(out)
    return counts


def _task_config(preset: str, task: str) -> dict[str, Any]:
    """The resolved config a task's runs share (test set, degradation, test-image limit)."""
    over = {**PRESET_OVERRIDES[preset], **task_overrides(task), "model.depth": 1}  # no model: no size multiple
    return resolve_config({}, [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in over.items()])
