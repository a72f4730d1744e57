"""The ``infoflow`` command line."""
from __future__ import annotations

import argparse
import json
import sys
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
        v = yaml.safe_load(val)
        out[key.strip()] = tuple(v) if isinstance(v, list) else v
    return out


def _cmd_estimate(args: argparse.Namespace) -> int:
    from infotheory import estimate_mi

    from .arrays import load_array

    x, y = load_array(args.x), load_array(args.y)
    est = estimate_mi(x, y, method=args.method, **parse_params(args.param))
    if args.json:
        print(est.to_json(indent=2))
    else:
        print(str(est))
        if est.method == "auto":
            print(f"auto chose {est.details['chosen']}: {est.details['reason']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="infoflow", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("estimate", help="estimate I(X;Y) from two arrays (.npy, .npz:key, .csv:cols)")
    e.add_argument("x", help="samples of X: a.npy | a.npz:key | a.csv:col1,col2")
    e.add_argument("y", help="samples of Y, same number of rows")
    e.add_argument("--method", default="auto", help="estimator (auto, binning, kde, ksg, gaussian, copula, "
                   "mine, nwj, infonce, smile)")
    e.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="estimator parameter")
    e.add_argument("--json", action="store_true", help="print the full result as JSON")
    e.set_defaults(func=_cmd_estimate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError, KeyError, FileNotFoundError) as exc:
        print(f"infoflow {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
