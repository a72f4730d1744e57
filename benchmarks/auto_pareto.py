"""Accuracy against time per call: ``auto``'s budgets, its parts and the peers, on one Pareto table.

    python benchmarks/auto_pareto.py                        # fast budget + peers, 1 thread and all cores
    python benchmarks/auto_pareto.py --methods auto-thorough --threads 1

Both suites of benchmarks/estimators.py, 5,000 samples each: the 40 closed-form distributions
(Gaussian, sparse, Student-t, warped, sheared, uniform noise; dims 1..50) and the 27 non-elliptical
ones (shear, swirl, coupling at 3/5/25 per side, truth 1 nat). A call is "ok" within 0.1 nat of the
truth. Every method sees the same samples, one method at a time, after one untimed warm-up call;
"1 thread" limits every pool (BLAS, OpenMP, torch, KSG workers) to one, "all" leaves them at the
machine's cores. What each side computes:

- ``auto-fast`` / ``auto-thorough``: infoflow's ``estimate_mi(x, y, budget=...)``
- ``copula``, ``ksg`` (k = 3), ``gaussian``: infoflow's single estimators
- ``npeet-ksg``: NPEET's KSG (``npeet_plus.mi``, k = 3, nats), the peer (``pip install -e .[bench]``)
- ``latentmi``: latent MI (Gowri et al., NeurIPS 2024; ``latentmi.lmi.estimate`` with its defaults: a
  paired autoencoder to 8 latent dims per side, then KSG on the held-out half; its bits turned to
  nats). latentmi pins numpy < 2, so it runs in its own environment, given by ``--latentmi-python``
  (e.g. ``python -m venv lmi && lmi/bin/pip install torch==2.13.0 'numpy<2' latentmi``), as one worker
  process that receives each case's samples as a file; its seeds are fixed (numpy 0, torch 0)

Writes the per-call rows (``--csv``, a row as each call ends) and prints the table (hits per suite;
median, p90, max seconds). With ``--csv`` an existing file is resumed: the calls it holds are not
repeated, so a slow peer's row (latentmi: minutes a call) can be built over several runs.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimators import accuracy_suite, non_elliptical_suite, threads  # noqa: E402

from infoflow.infotheory import NonEllipticalWarning, estimate_mi  # noqa: E402


def _npeet(x: np.ndarray, y: np.ndarray, workers: int | None) -> float:
    import npeet_plus

    return float(npeet_plus.mi(x, y, k=3, base=math.e))


class _LatentMI:
    """latentmi in its own interpreter: one worker process, a case per request (samples by file)."""

    WORKER = (
        "import json, os, sys, numpy as np, torch\n"
        "out, sys.stdout = sys.stdout, open(os.devnull, 'w')  # latentmi prints its epochs\n"
        "from threadpoolctl import threadpool_limits\n"
        "from latentmi import lmi\n"
        "for line in sys.stdin:\n"
        "    req = json.loads(line); d = np.load(req['path'])\n"
        "    np.random.seed(0); torch.manual_seed(0); torch.set_num_threads(req['threads'])\n"
        "    with threadpool_limits(req['threads']):\n"
        "        pmi, _, _ = lmi.estimate(d['x'], d['y'], quiet=True, device='cpu')\n"
        "    print(json.dumps({'bits': float(np.nanmean(pmi))}), file=out, flush=True)\n")

    def __init__(self) -> None:
        self.python: str | None = None
        self.proc: Any = None

    def __call__(self, x: np.ndarray, y: np.ndarray, workers: int | None) -> float:
        import json
        import subprocess
        import tempfile

        if self.proc is None:
            if not self.python:
                raise RuntimeError("latentmi needs --latentmi-python (an interpreter with latentmi installed)")
            self.proc = subprocess.Popen([self.python, "-u", "-c", self.WORKER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "case.npz")
            np.savez(path, x=x, y=y)
            self.proc.stdin.write(json.dumps({"path": path, "threads": workers or os.cpu_count() or 1}) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the latentmi worker stopped (its error is above)")
        return json.loads(line)["bits"] * math.log(2)


LATENTMI = _LatentMI()

SEED = [0]  # auto's own seed (its splits and flow initialisations), --seed

METHODS: dict[str, Callable[[np.ndarray, np.ndarray, int | None], float]] = {
    "auto-fast": lambda x, y, w: estimate_mi(x, y, budget="fast", progress=False, seed=SEED[0]).value,
    "auto-thorough": lambda x, y, w: estimate_mi(x, y, budget="thorough", progress=False, seed=SEED[0]).value,
    "copula": lambda x, y, w: estimate_mi(x, y, method="copula").value,
    "gaussian": lambda x, y, w: estimate_mi(x, y, method="gaussian").value,
    "ksg": lambda x, y, w: estimate_mi(x, y, method="ksg", k=3, workers=w or -1).value,
    "npeet-ksg": _npeet,
    "latentmi": LATENTMI,
}


def _key(row: dict[str, Any] | pd.Series, i: int) -> tuple:
    """A call's identity in a CSV: method, threads, suite, case and which draw of that case (i)."""
    return (row["method"], str(row["threads"]), row["suite"], row["case"], i)


def _draws(df: pd.DataFrame, by: list[str]) -> pd.Series:
    """Each row's draw number within its ``by`` group, in the file's order (0, 1, ...)."""
    return df.groupby(by, sort=False).cumcount()


def _done(csv: Path | None) -> tuple[pd.DataFrame, set[tuple]]:
    """The rows an existing ``--csv`` holds, and their call keys."""
    if csv is None or not csv.exists():
        return pd.DataFrame(), set()
    old = pd.read_csv(csv, dtype={"threads": str})
    draws = _draws(old, ["method", "threads", "suite", "case"])
    return old, {_key(r, int(i)) for (_, r), i in zip(old.iterrows(), draws)}


def measure(methods: list[str], thread_settings: list[int | None], limit: int | None,
            match: str | None = None, csv: Path | None = None) -> pd.DataFrame:
    """Every call not already in ``csv``, each row appended to it as the call ends; returns all rows."""
    suites = {"closed-form": accuracy_suite(), "non-elliptical": non_elliptical_suite()}
    old, done = _done(csv)
    rows: list[dict[str, Any]] = []
    warm = suites["closed-form"][0]
    for n_threads in thread_settings:
        with threads(n_threads):
            label = "1" if n_threads == 1 else f"all ({os.cpu_count()})"
            for m in methods:
                fn, warmed = METHODS[m], False
                for suite, cases in suites.items():
                    seen: dict[str, int] = {}
                    for gt in [c for c in cases if match is None or match in c.name][:limit]:
                        i = seen[gt.name] = seen.get(gt.name, -1) + 1
                        if _key({"method": m, "threads": label, "suite": suite, "case": gt.name}, i) in done:
                            continue
                        if not warmed:  # warm-up: imports, first allocations, numba compilation
                            fn(warm.x, warm.y, n_threads)
                            warmed = True
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", NonEllipticalWarning)
                            t = time.perf_counter()
                            value = fn(gt.x, gt.y, n_threads)
                            sec = time.perf_counter() - t
                        rows.append({"method": m, "threads": label, "suite": suite, "case": gt.name,
                                     "dims": f"{gt.x.shape[1]}+{gt.y.shape[1]}", "truth": gt.mi, "value": value,
                                     "ok": abs(value - gt.mi) < 0.1, "seconds": sec})
                        if csv is not None:
                            pd.DataFrame(rows[-1:]).to_csv(csv, mode="a", header=not csv.exists(), index=False)
                        print(f"  {m:<14} {label:<8} {suite:<15} {gt.name:<42} truth {gt.mi:6.3f} "
                              f"value {value:7.3f} {'ok ' if rows[-1]['ok'] else 'BAD'} {sec:7.2f}s", flush=True)
    return pd.concat([old, pd.DataFrame(rows)], ignore_index=True)


PEER = "npeet-ksg"  # the ratio column's reference: the same calls, same threads, same samples


def table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, threads): hits per suite; the median / p90 / max / total seconds per
    call; ``x_peer`` = total time ÷ NPEET's total at the same thread setting over the same calls
    (NaN without NPEET's row, or when the two rows' calls differ); ``gain_all_cores`` = the method's
    one-thread total ÷ its all-cores total over the same calls (its own column: a multi-core gain is
    not a per-call speed)."""
    out = []
    for (m, th), g in df.groupby(["method", "threads"], sort=False):
        hits = {s: f"{int(h.ok.sum())}/{len(h)}" for s, h in g.groupby("suite", sort=False)}
        out.append({"method": m, "threads": th, **hits, "median_s": g.seconds.median(),
                    "p90_s": g.seconds.quantile(0.9), "max_s": g.seconds.max(), "total_s": g.seconds.sum(),
                    "x_peer": _ratio(g, df[(df.method == PEER) & (df.threads == th)]),
                    "gain_all_cores": (_ratio(df[(df.method == m) & (df.threads == "1")], g)
                                       if th != "1" else float("nan"))})
    return pd.DataFrame(out)


def _ratio(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Total seconds of ``a`` ÷ those of ``b`` over the calls both hold (suite, case, draw); NaN when
    either is empty or their calls are not the same set (a partial row is not at equal work)."""
    if a.empty or b.empty:
        return float("nan")
    key = ["suite", "case"]
    ka = a.assign(draw=_draws(a, key)).set_index([*key, "draw"]).seconds
    kb = b.assign(draw=_draws(b, key)).set_index([*key, "draw"]).seconds
    if set(ka.index) != set(kb.index):
        return float("nan")
    return float(ka.sum() / kb.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default="auto-fast,copula,gaussian,ksg,npeet-ksg",
                    help=f"comma-separated, of {', '.join(METHODS)}")
    ap.add_argument("--threads", default="1,all", help="thread settings: 1, all, or both (comma-separated)")
    ap.add_argument("--limit", type=int, default=None, help="the first N cases of each suite (a smoke run)")
    ap.add_argument("--csv", type=Path, default=None,
                    help="write the per-call rows here as they come; an existing file is resumed")
    ap.add_argument("--seed", type=int, default=0, help="auto's seed (a study of its own randomness)")
    ap.add_argument("--match", default=None, help="only the cases whose name contains this")
    ap.add_argument("--latentmi-python", default=None, help="the interpreter of latentmi's own environment")
    args = ap.parse_args()
    LATENTMI.python = args.latentmi_python
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        ap.error(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    if "npeet-ksg" in methods:
        try:
            import npeet_plus  # noqa: F401
        except ImportError:
            print("npeet-plus is not installed (pip install -e .[bench]): the npeet-ksg column is left out")
            methods.remove("npeet-ksg")
    settings = [1 if t == "1" else None for t in args.threads.split(",") if t in ("1", "all")]
    SEED[0] = args.seed
    df = measure(methods, settings, args.limit, args.match, args.csv)
    print("\n" + table(df).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
