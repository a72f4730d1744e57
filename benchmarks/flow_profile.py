"""Where ``auto``'s flow step spends its time, and whether a flow that lags the copula early can be
dropped early: the held-out NLL curve of every flow candidate against the copula's held-out NLL.

    python benchmarks/flow_profile.py --json flow_curves.json     # auto thorough on every case with flows
    python benchmarks/flow_profile.py --table flow_curves.json    # the gap table from a saved run

For each case of both suites (benchmarks/estimators.py) that ``auto`` sends to the flow step
(dx + dy <= 16), ``estimate_mi(..., budget="thorough")`` is called with the flow fits recorded: steps,
seconds and the held-out NLL at every evaluation. The table prints, per candidate, the copula's
held-out NLL minus the flow's best so far at steps 50, 100, 150, 200 and 300 (nats/sample, in the
rank-Gaussianised space; > 0: the flow is ahead), beside what ``auto`` chose and whether it was within
0.1 nat of the truth.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import special, stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimators import accuracy_suite, non_elliptical_suite  # noqa: E402

import infoflow.infotheory.estimators.flow as F  # noqa: E402
from infoflow.infotheory import estimate_mi  # noqa: E402
from infoflow.infotheory.estimators.copula import copula_logpdf, fit_elliptical, rank_uniform  # noqa: E402

STEPS = (50, 100, 150, 200, 300)


def record(path: Path) -> None:
    fits: list[dict] = []
    original = F.FlowEstimator.fit

    def fit(self, z, dx):
        t = time.perf_counter()
        f = original(self, z, dx)
        fits.append({"hidden": self.hidden, "steps": f.steps, "seconds": time.perf_counter() - t,
                     "history": f.details["history"]})
        return f

    F.FlowEstimator.fit = fit
    out = []
    for i, gt in enumerate(accuracy_suite() + non_elliptical_suite()):
        if gt.x.shape[1] + gt.y.shape[1] > 16:
            continue
        fits.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            r = estimate_mi(gt.x, gt.y, budget="thorough", progress=False)
            sec = time.perf_counter() - t
        u = rank_uniform(np.hstack([gt.x, gt.y]))
        z = special.ndtri(u)
        tr, te = F.heldout_split(len(u), F.FlowEstimator().holdout, 0)
        nu, R, _ = fit_elliptical(u[tr])
        cop_nll = -float((copula_logpdf(u[te], R, nu) + stats.norm.logpdf(z[te]).sum(1)).mean())
        out.append({"i": i, "name": gt.name, "truth": gt.mi, "value": r.value, "ok": abs(r.value - gt.mi) < 0.1,
                    "chosen": r.details["chosen"], "chosen_hidden": (r.details.get("chosen_params") or {}).get("hidden"),
                    "seconds": sec, "cop_nll": cop_nll, "fits": list(fits)})
        print(f"{i:2d} {gt.name:40s} {r.details['chosen']:6s} {sec:6.1f}s "
              f"{[(f['hidden'], f['steps']) for f in fits]}", flush=True)
        path.write_text(json.dumps(out))


def table(path: Path) -> None:
    for r in json.loads(path.read_text()):
        cells = []
        for f in r["fits"]:
            best, gap = float("inf"), {}
            for step, v in f["history"]:
                best = min(best, v)
                if step in STEPS:
                    gap[step] = r["cop_nll"] - best
            cells.append(f"h{f['hidden']} {f['steps']:4d} steps:" +
                         " ".join(f"{gap.get(s, float('nan')):+.3f}" for s in STEPS))
        print(f"{r['i']:2d} {r['name'][:30]:30s} {r['chosen']:6s} {str(r['chosen_hidden'] or ''):3s} "
              f"{'ok ' if r['ok'] else 'BAD'} | " + " | ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="run the cases and save the curves here")
    ap.add_argument("--table", type=Path, help="print the gap table of saved curves")
    args = ap.parse_args()
    if args.json:
        record(args.json)
    if args.table or args.json:
        table(args.table or args.json)


if __name__ == "__main__":
    main()
