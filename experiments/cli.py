"""The ``infoflow`` command line."""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any, Sequence

import yaml

__all__ = ["main", "parse_params"]


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """``["k=5", "standardize=false"]`` -> ``{"k": 5, "standardize": False}`` (YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects key=value, got {item!r}")
        try:
            v = yaml.safe_load(val)
        except yaml.YAMLError as exc:
            from .config import yaml_problem  # here, not at the top: config imports torch, the command starts light

            raise ValueError(f"--param {item!r}: the value is not valid YAML: {yaml_problem(exc)}") from None
        out[key.strip()] = tuple(v) if isinstance(v, list) else v
    return out


def _cmd_estimate(args: argparse.Namespace) -> int:
    from infoflow.infotheory import NonEllipticalWarning, estimate_mi

    from .arrays import load_array

    x, y = load_array(args.x), load_array(args.y)
    discrete = {"auto": "auto", "both": True, "none": False, "x": (True, False), "y": (False, True)}[args.discrete]
    with warnings.catch_warnings():  # auto's warning is printed below (and kept in the JSON's details)
        warnings.simplefilter("ignore", NonEllipticalWarning)
        params = parse_params(args.param)
        if args.budget is not None:
            if args.method != "auto":
                raise ValueError(f"--budget is auto's (fast | thorough); --method {args.method} has none")
            params.setdefault("budget", args.budget)
        est = estimate_mi(x, y, method=args.method, discrete=discrete, **params)
    if args.json:
        print(est.to_json(indent=2))
    else:
        print(str(est))
        if est.method == "auto":
            print(f"auto chose {est.details['chosen']}: {est.details['reason']}")
            if "warning" in est.details:
                print(f"warning: {est.details['warning']}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config, resolve_config
    from .train import Trainer

    cfg = resolve_config(load_config(args.config), args.set)
    out = args.out or f"runs/{cfg['name']}"
    given: dict = {}
    if args.generator or args.discriminator:
        from .builders import channels, resolve_device
        from .diagnose import build_model, find_multiple

        if args.generator:  # your model in place of the config's U-Net (its size multiple found by trying)
            given["G"] = build_model(args.generator, None, "generator")
            given["multiple"] = find_multiple(given["G"], channels(cfg), resolve_device(args.device))
        if args.discriminator:
            given["D"] = build_model(args.discriminator, None, "discriminator")
    summary = Trainer(cfg, out, device=args.device, resume=args.resume, deterministic=args.deterministic,
                      progress=not args.no_progress, **given).fit()
    print(f"finished {out}: {json.dumps(summary['test'])}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_classical, evaluate_run

    if args.method:
        if args.run or not args.dataset:
            raise ValueError("--method scores a classical restorer: give --dataset (and --task), not a run folder")
        df = evaluate_classical(args.method, args.dataset, args.task, args.set, limit=args.limit, crop=args.crop,
                                out=args.out)
    elif not args.run:
        raise ValueError("give a run folder to evaluate, or --method NAME for a classical restorer")
    else:
        df = evaluate_run(args.run, args.dataset, limit=args.limit, device=args.device, crop=args.crop)
    with_cols = [c for c in ("image", "psnr_input", "psnr", "ssim_input", "ssim", "psnr_y", "ssim_y") if c in df]
    print(df[with_cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def _cmd_analyse(args: argparse.Namespace) -> int:
    import pandas as pd

    from .analysis import analyse_run
    from .probe import probe_summary

    from pathlib import Path

    from .analysis import ANALYSES

    what = [w for group in (args.what or []) for w in group] or ["information", "abstraction", "detail", "d_probe"]
    if args.run is None:  # `--what detail runs/x`: the folder was read as an analysis name
        folders = [w for w in what if w not in ANALYSES and Path(w).is_dir()]
        if len(folders) != 1:
            raise ValueError("name the run folder: infoflow analyse RUN --what A,B")
        args.run = folders[0]
        what = [w for w in what if w != args.run]
    rows = analyse_run(args.run, what, device=args.device, progress=not args.no_progress)
    df = pd.DataFrame(rows)
    for split, g in df.groupby("split", sort=False):
        if split == "d_probe":
            summ = pd.DataFrame(probe_summary(rows)).T
            print(f"[d_probe] adversarial/content gradient ratio as a fresh D wins (retained = final/peak):\n"
                  f"{summ.to_string(float_format=lambda v: f'{v:.4g}')}")
            continue
        g = g[pd.to_numeric(g["value"], errors="coerce").notna()]
        if "layer" in g:
            g = g.assign(layer=g["layer"].fillna(""))
        tab = g.pivot_table(index="layer", columns="metric", values="value", aggfunc="mean", sort=False)
        print(f"[{split}]\n{tab.to_string(float_format=lambda v: f'{v:.4g}')}")
    print(f"wrote {args.run}/analysis.csv ({len(rows)} rows)")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce import reproduce
    from .sweep_options import SweepOptions

    opts = SweepOptions(preset=args.preset, tasks=args.tasks or (), problems=args.problems or (), seeds=args.seeds,
                        device=args.device, out=args.out, shard=args.shard, report=not args.no_report,
                        progress=not args.no_progress, jobs=args.jobs, classical=not args.no_classical,
                        configs=args.configs)
    if args.submit:
        from .launch import submit_shards

        jobs = submit_shards(args.submit, opts, args.cluster, args.partition, args.gpus, args.cpus,
                             args.timeout_min, wait=args.wait)
        print(f"submitted {len(jobs)} jobs: {', '.join(str(j.job_id) for j in jobs)} (logs in {args.out}/submitit)")
        return 0
    counts = reproduce(opts)
    print(f"reproduce: {counts['trained']} trained, {counts['analysed']} finished runs given the analyses they "
          f"lacked, {counts['skipped']} already done, {counts['busy']} left to another process on the same "
          f"folder, {counts['failed']} failed "
          f"(of {counts['total']}); report: {args.out}/report/report.html")
    return 1 if counts["failed"] else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report, publish

    print(build_report(args.runs, holm_with=args.holm_with, tasks=args.tasks))
    if args.publish:
        print(f"published {len(publish(args.runs, args.publish))} files to {args.publish}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from .sweep_status import format_status, sweep_status

    table = sweep_status(args.runs)
    if args.csv:
        print(table.to_csv(index=False), end="")
    else:
        print(format_status(table))
    return 1 if (table.state == "failed").any() else 0


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from .diagnose import diagnose

    paths = {}
    for item in args.paths:
        name, sep, mods = item.partition("=")
        if not sep or not name or not mods:
            raise ValueError(f"--paths expects NAME=MODULE[,MODULE], got {item!r}")
        paths[name] = mods.split(",")
    page = diagnose(args.model, args.out, args.weights, args.disc, args.disc_weights, args.data, args.images,
                    args.degradation, args.set, args.layers, paths or None, args.value_range, limit=args.limit,
                    probe_size=args.probe_size, crop=args.crop, device=args.device, classical=not args.no_classical,
                    progress=not args.no_progress)
    print(f"diagnosis: {page} and {page.parent / 'diagnosis.csv'}")
    return 0


def _comma_list(text: str) -> list[str]:
    """``--what a,b`` (and repeated ``--what a --what b``): a list that cannot swallow a positional."""
    return [v for v in text.split(",") if v]


def _key_value(text: str) -> str:
    """A ``KEY=VALUE`` item of ``--set``: anything else (e.g. a run folder after ``--set``) is named."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (a run folder or file goes before --set)")
    return text


def build_parser() -> argparse.ArgumentParser:
    from infoflow import __version__
    from infoflow.infotheory import available_methods

    from .analysis import ANALYSES
    from .problems import PRESET_OVERRIDES, PROBLEMS, TASKS
    from .tasks import REGISTRY

    p = argparse.ArgumentParser(prog="infoflow", description=__doc__)
    p.add_argument("--version", action="version", version=f"infoflow {__version__}")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE (dotted name or file.py) first: it registers its own tasks or problems")
    p.add_argument("--debug", action="store_true",
                   help="show the full traceback of an error (also INFOFLOW_DEBUG=1) instead of one line")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("estimate", help="estimate I(X;Y) from two arrays (.npy, .npz:key, .csv:cols)")
    e.add_argument("x", help="samples of X: a.npy | a.npz:key | a.csv:col1,col2")
    e.add_argument("y", help="samples of Y, same number of rows")
    e.add_argument("--method", default="auto", choices=available_methods(), help="estimator (default auto)")
    e.add_argument("--budget", choices=["fast", "thorough"], help="auto's budget: fast (default; no network is "
                   "trained, < 1 s a call) | thorough (adds the flow fits: tens of seconds)")
    e.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="estimator parameter")
    e.add_argument("--json", action="store_true", help="print the full result as JSON")
    e.add_argument("--discrete", default="auto", choices=["auto", "both", "none", "x", "y"],
                   help="which inputs are labels (auto: integer = labels; integers with many values must be told)")
    e.set_defaults(func=_cmd_estimate)

    t = sub.add_parser("train", help="train a restoration GAN into a run folder")
    t.add_argument("--config", help="YAML config (keys: see experiments/config.py DEFAULTS)")
    t.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE", type=_key_value,
                   help="overrides, e.g. --set train.steps=200 optim.lr_g=1e-3 (repeatable)")
    t.add_argument("--device", default="auto", help="auto | cpu | cuda")
    t.add_argument("--out", help="run folder (default runs/<name>)")
    t.add_argument("--resume", action="store_true", help="continue an unfinished run from its last checkpoint")
    t.add_argument("--deterministic", action="store_true", help="deterministic algorithms (slower)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--generator", "--model", dest="generator", metavar="FILE.py:FACTORY",
                   help="train your generator instead of the config's U-Net (a factory called with no arguments; "
                        "an nn.Module mapping (B, C, H, W) in [-1, 1] to the same shape)")
    t.add_argument("--discriminator", "--disc", dest="discriminator", metavar="FILE.py:FACTORY",
                   help="your discriminator, called as D(degraded, image) -> logits")
    t.set_defaults(func=_cmd_train)

    v = sub.add_parser("evaluate", help="PSNR/SSIM of a run on a dataset, per image and mean")
    v.add_argument("run", nargs="?", help="run folder (or use --method for a classical restorer)")
    v.add_argument("--dataset", help="embedded | Set12 | BSD68 | CBSD68 | Rain12 | folder (default: the run's)")
    v.add_argument("--limit", type=int, default=0, help="first N images (0 = all)")
    v.add_argument("--crop", type=int, default=None, help="centre crop size (default: full images)")
    v.add_argument("--device", default="auto")
    v.add_argument("--method", help="a classical restorer instead of a run: bm3d | nlm | wavelet | dcp")
    v.add_argument("--task", default="denoise", choices=TASKS, help="with --method: the degradation applied")
    v.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE", type=_key_value,
                   help="with --method: degradation overrides, e.g. data.degradation.params.sigma=50")
    v.add_argument("--out", help="with --method: CSV path (default eval_<method>_<dataset>.csv)")
    v.set_defaults(func=_cmd_evaluate)

    a = sub.add_parser("analyse", help="post-run analyses of a finished run into its analysis.csv")
    a.add_argument("run", nargs="?", help="run folder (before or after --what)")
    a.add_argument("--what", action="extend", nargs="+", type=_comma_list, default=None, metavar="A[,B]",
                   help=f"analyses, comma-separated or repeated: {', '.join(ANALYSES)} "
                        "(default: information,abstraction,detail,d_probe)")
    a.add_argument("--device", default="auto")
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    a.set_defaults(func=_cmd_analyse)

    r = sub.add_parser("reproduce", help="reproduce each problem before and after its fix, then the report")
    r.add_argument("--preset", default="quick", choices=list(PRESET_OVERRIDES), help="tiny (seconds) | quick (CPU illustration; make demo trains its compared configurations in ~10 min) | standard (3 seeds, 2000 steps, "
                   "1.3-2.5 h on 2 CPU cores with --jobs 2; unconverged runs are flagged) | long (the confirmatory "
                   "preset: 8000 steps, 5 seeds of what a primary compares; ~5 min a run on one core) | gpu (128² crops, "
                   "ngf 32: benchmarks/cuda_evidence.sh) | full (GPU)")
    r.add_argument("--tasks", nargs="+", choices=TASKS, help="default: all")
    r.add_argument("--problems", nargs="+", choices=list(PROBLEMS), help="default: all")
    r.add_argument("--configs", nargs="+", help="only these configurations of the grid (e.g. baseline l1-only; "
                   "default: all)")
    r.add_argument("--seeds", type=int, help="seeds per configuration (default: preset's)")
    r.add_argument("--device", default="auto")
    r.add_argument("--out", default="runs", help="sweep folder (default runs/)")
    r.add_argument("--shard", help="i/N: run every N-th configuration starting at i (for clusters)")
    r.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                   help="runs trained at once, as processes, the threads split between them (default: one per core, "
                        "at most 4 — what make demo uses)")
    r.add_argument("--no-classical", action="store_true", help="skip the classical references")
    r.add_argument("--no-report", action="store_true")
    r.add_argument("--submit", type=int, metavar="N", help="submit N shard jobs with submitit instead of running here")
    r.add_argument("--cluster", default="slurm", help="submitit cluster: slurm | local | auto")
    r.add_argument("--partition", help="SLURM partition")
    r.add_argument("--gpus", type=int, default=0, help="GPUs per job")
    r.add_argument("--cpus", type=int, default=4, help="CPUs per job")
    r.add_argument("--timeout-min", type=int, default=24 * 60)
    r.add_argument("--wait", action="store_true", help="wait for the jobs, then build the report")
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=_cmd_reproduce)

    dg = sub.add_parser("diagnose", help="diagnose your own restoration model: report.html + diagnosis.csv")
    dg.add_argument("--generator", "--model", dest="model", required=True,
                    help="FILE.py:FACTORY or package.module:FACTORY (called with no args)")
    dg.add_argument("--weights", help="state dict for the model (.pt, read with weights_only=True)")
    dg.add_argument("--discriminator", "--disc", dest="disc",
                    help="FILE.py:FACTORY of a discriminator D(x, image) (enables the gradient diagnostics)")
    dg.add_argument("--disc-weights", help="state dict for the discriminator")
    dg.add_argument("--data", help="folder with input/ + target/ pairs")
    dg.add_argument("--images", help="folder of clean images, degraded with --degradation and fixed seeds")
    dg.add_argument("--degradation", default="awgn", choices=sorted({t.degradation for t in REGISTRY.values()}),
                    help="the task's degradation: " + ", ".join(f"{t.degradation} ({t.name})" for t in REGISTRY.values()))
    dg.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE", type=_key_value,
                    help="degradation parameters, e.g. sigma=25")
    dg.add_argument("--layers", nargs="+", help="layer names (default: every module that changes resolution)")
    dg.add_argument("--paths", nargs="+", default=[], metavar="NAME=MOD[,MOD]",
                    help="information paths to ablate, e.g. skips=dec1.skip,dec2.skip")
    dg.add_argument("--range", default="-1,1", dest="value_range", help="the model's image range: -1,1 or 0,1")
    dg.add_argument("--limit", type=int, default=12, help="test images used (default 12)")
    dg.add_argument("--probe-size", "--probe", dest="probe_size", type=int, default=256,
                    help="crops in the probe batch every layer is measured on (>= 200 for the depth measurement)")
    dg.add_argument("--crop", type=int, default=64, help="probe crop side")
    dg.add_argument("--device", default="auto")
    dg.add_argument("--no-classical", action="store_true", help="skip the classical reference")
    dg.add_argument("--no-progress", action="store_true", help="no progress bar")
    dg.add_argument("--out", required=True, help="output folder (report.html, diagnosis.csv)")
    dg.set_defaults(func=_cmd_diagnose)

    rp = sub.add_parser("report", help="build report.html, figures and tables from a sweep folder")
    rp.add_argument("runs", help="sweep folder written by reproduce")
    rp.add_argument("--publish", metavar="DIR", help="also copy verdicts.json, summary tables and <= 12 PNG figures "
                    "to DIR (e.g. results/long)")
    rp.add_argument("--holm-with", nargs="+", default=[], metavar="PUBLISHED",
                    help="published sweeps of other tasks (folders written by --publish): their primary decisions "
                         "join this sweep's Holm family, their verdicts and run tables join the report")
    rp.add_argument("--tasks", nargs="+", metavar="TASK",
                    help="report only these of the sweep's tasks (e.g. publish a finished task while others run)")
    rp.set_defaults(func=_cmd_report)

    st = sub.add_parser("status", help="where a sweep folder stands: every run done, running (at which step), "
                        "interrupted, failed or not started")
    st.add_argument("runs", help="sweep folder written by reproduce")
    st.add_argument("--csv", action="store_true", help="the whole table as CSV (one row per run)")
    st.set_defaults(func=_cmd_status)
    return p


def _load_plugins(argv: Sequence[str]) -> None:
    """``--plugin M`` / ``--plugin=M`` are imported before the parser is built, so that their tasks
    and problems are among its choices."""
    from .tasks import load_plugin

    argv = list(argv)
    for i, a in enumerate(argv):
        if a == "--plugin" and i + 1 < len(argv):
            load_plugin(argv[i + 1])
        elif a.startswith("--plugin="):
            load_plugin(a.split("=", 1)[1])


# import names of the [experiments] extra (the core install estimates MI without them)
EXPERIMENTS_EXTRA = ("skimage", "matplotlib", "seaborn", "captum", "pywt")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _load_plugins(argv)
    except (ImportError, FileNotFoundError, ValueError) as exc:
        print(f"infoflow: error: --plugin: {exc}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `infoflow status runs | head`: the reader has gone; nothing to say to it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise again
        return 141  # 128 + SIGPIPE, as a shell reports a command its pipe closed
    except (ValueError, TypeError, KeyError, FileNotFoundError, RuntimeError, ImportError) as exc:
        if args.debug or os.environ.get("INFOFLOW_DEBUG", "") not in ("", "0"):
            raise
        missing = getattr(exc, "name", None) or ""
        if isinstance(exc, ImportError) and missing.split(".")[0] in EXPERIMENTS_EXTRA:
            print(f"infoflow {args.command}: error: it needs {missing.split('.')[0]}, one of the optional dependencies "
                  "of training, diagnosis and reports: pip install 'infoflow[experiments]'", file=sys.stderr)
            return 2
        print(f"infoflow {args.command}: error: {exc} (--debug or INFOFLOW_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    if __package__ != "infoflow.experiments":  # `python -m experiments.cli` from a checkout's root
        # would load every module twice (experiments.* and infoflow.experiments.*), each copy with its
        # own registries: a task's plug-in degradation registered in one is unknown to the other
        sys.exit("run `python -m infoflow.experiments.cli` (or the `infoflow` command), not "
                 f"`python -m {__package__}.cli`")
    sys.exit(main())
