"""The Pareto benchmark's summary: ratios against the peer only at equal work (the same calls)."""
import importlib.util
import math
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _auto_pareto():
    spec = importlib.util.spec_from_file_location("auto_pareto", ROOT / "benchmarks" / "auto_pareto.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["auto_pareto"] = module
    spec.loader.exec_module(module)
    return module


def _rows(method, threads, seconds, cases=("a", "b")):
    return [{"method": method, "threads": threads, "suite": "closed-form", "case": c, "ok": True, "seconds": s}
            for c, s in zip(cases, seconds)]


def test_ratios_are_taken_over_the_same_calls_only():
    table = _auto_pareto().table
    df = pd.DataFrame(_rows("npeet-ksg", "1", [2.0, 2.0]) + _rows("ksg", "1", [1.0, 0.0])
                      + _rows("ksg", "all (2)", [0.25, 0.25]) + _rows("npeet-ksg", "all (2)", [1.0, 1.0])
                      + _rows("latentmi", "1", [40.0], cases=("a",)))
    t = table(df).set_index(["method", "threads"])
    assert t.loc[("ksg", "1"), "x_peer"] == 0.25  # 1 s against NPEET's 4 s, one thread each
    assert t.loc[("ksg", "all (2)"), "x_peer"] == 0.25  # against NPEET on all cores, not on one
    assert t.loc[("ksg", "all (2)"), "gain_all_cores"] == 2.0  # its own column
    assert math.isnan(t.loc[("ksg", "1"), "gain_all_cores"])
    assert math.isnan(t.loc[("latentmi", "1"), "x_peer"])  # one call of NPEET's two: not equal work
