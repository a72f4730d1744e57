"""Verdicts: for each problem on each task, the pre-registered comparisons of its module
(:mod:`experiments.problems`) decided over paired seeds (:mod:`experiments.problems.decision`).

``verdict``: present / absent / inconclusive (with the reason: too few seeds, unconverged runs, an
interval that contains the threshold); ``fix``: reduced / not reduced / inconclusive. Both are
decided by the problem's information quantity (its primary); the interval combines seed and
test-image variance where the quantity has one. ``verdict_holm`` / ``fix_holm``: the same after
Holm–Bonferroni over every primary decision of the sweep (the family: problems × tasks × {present,
fix}). Secondary evidence (PSNR, band residuals, gradient ratios), controls and context (the depth
trend, what the adversarial term adds over the L1-only control) are reported beside them, labelled,
and never change them.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..problems import PROBLEMS
from ..problems.decision import MIN_SEEDS, Comparison, Decision, decide, holm
from .quantities import converged_runs, per_seed, per_seed_se
from .tables import fmt_pm

__all__ = ["verdicts", "PRESENT_WORDS", "FIX_WORDS"]

PRESENT_WORDS = {"yes": "present", "no": "absent"}
FIX_WORDS = {"yes": "reduced", "no": "not reduced"}
NOT_RUN = "inconclusive (not run)"  # the answer of a comparison whose configurations are not (yet) run


def _word(answer: str, words: dict[str, str]) -> str:
    return words.get(answer, answer)


def _decide(c: Comparison, runs, met, ana, task) -> Decision:
    return decide(c, per_seed(runs, met, ana, task, c.quantity), converged_runs(runs, task),
                  image_se=per_seed_se(runs, met, ana, task, c.quantity))


def _psnr_line(runs: pd.DataFrame, task: str, configs: list[str]) -> str:
    r = runs[runs.task == task]
    parts = []
    for c in configs:
        v = r[r.config == c]["final_psnr"].dropna()
        if len(v):
            parts.append(f"{c} {fmt_pm(v.mean(), v.std(ddof=1) if len(v) > 1 else math.nan)}")
    return "; ".join(parts)


def _decide_run(c: Comparison, runs, met, ana, task, missing: set[str]) -> Decision:
    """``c`` decided, or — when a configuration it compares is not run yet — ``inconclusive (not run)``
    with the missing configurations as its reason (never decided on the runs that are there)."""
    lacking = sorted(c.configs & missing)
    if lacking:
        return Decision(c, NOT_RUN, f"missing runs for {lacking}")
    return _decide(c, runs, met, ana, task)


def _one(problem: str, task: str, cfgs: list[str], runs, met, ana, missing: set[str] = frozenset()
         ) -> dict[str, Any]:
    """``missing``: configurations of the sweep not (yet) run for this task. A decision that compares
    one is ``inconclusive (not run)``; the other decision, the controls and the effects whose runs
    are there are still reported (a sweep that trained a control later, or stopped part-way)."""
    p = PROBLEMS[problem]
    pres, fix = (_decide_run(c, runs, met, ana, task, missing) for c in (p.present, p.fix))
    wanted = [c for c in p.controls if c.configs <= set(cfgs)]
    controls = [_decide_run(c, runs, met, ana, task, missing) for c in wanted]
    secondary = [_decide_run(c, runs, met, ana, task, missing) for c in p.secondary if c.configs <= set(cfgs)]
    effects = [_decide(c, runs, met, ana, task) for c in p.effects if c.configs <= set(cfgs) - set(missing)]
    verdict, fixed = _word(pres.answer, PRESENT_WORDS), _word(fix.answer, FIX_WORDS)
    lines = [f"{verdict.upper()}: {p.present.question} {pres.interval()} — {pres.reason}.",
             f"Fix: {fixed.upper()}. {p.fix.question} {fix.interval()} — {fix.reason}."]
    context = p.context(runs, task, cfgs) if p.context is not None else ""
    if context:
        lines.append(context + (f" Not yet run: {', '.join(sorted(missing))}." if missing else ""))
    for c in controls:
        shown = c.reason if c.answer == NOT_RUN else c.interval()
        lines.append(f"Control ({c.comparison.question}): {shown}, {c.answer} — does not decide the verdict.")
    for c in secondary:
        shown = c.reason if c.answer == NOT_RUN else c.interval()
        lines.append(f"Secondary ({c.comparison.question.removeprefix('secondary: ')}): {shown}, {c.answer} — does not "
                     "decide the verdict.")
    for e in effects:
        lines.append(f"Effect ({e.comparison.question}): {e.interval()}.")
    lines.append(f"PSNR on the whole test images (dB, mean ± sd over seeds): {_psnr_line(runs, task, cfgs)}.")
    n = pres.n
    return {"problem": problem, "task": task, "verdict": verdict, "fix": fixed,
            "present_rule": p.present.describe(), "fix_rule": p.fix.describe(),
            "present": pres.answer == "yes" if "inconclusive" not in pres.answer else None,
            "reduced": fix.answer == "yes" if "inconclusive" not in fix.answer else None,
            "illustration": n < MIN_SEEDS, "n_seeds": n,
            "decision": pres.as_dict(), "fix_decision": fix.as_dict(),
            "controls": [c.as_dict() for c in controls], "secondary": [c.as_dict() for c in secondary],
            "_decisions": (pres, fix),
            "effects": [e.as_dict() for e in effects], "missing_runs": sorted(missing),
            "text": " ".join(lines)}


def verdicts(runs: pd.DataFrame, metrics: pd.DataFrame, analysis: pd.DataFrame,
             uses: dict[str, dict[str, list[str]]]) -> list[dict[str, Any]]:
    """One dict per problem and task with finished runs (see the module docstring)."""
    out = []
    for problem, by_task in uses.items():
        for task, cfgs in by_task.items():
            have = set(runs[runs.task == task].config) if len(runs) else set()
            blank = {"problem": problem, "task": task, "verdict": "inconclusive", "fix": "inconclusive",
                     "present": None, "reduced": None, "illustration": True, "n_seeds": 0, "controls": [],
                     "effects": []}
            p = PROBLEMS[problem]
            if p.present is None or p.fix is None:
                raise ValueError(f"problem {problem!r} declares no pre-registered comparison")
            if not set(cfgs) & have:
                out.append({**blank, "missing_runs": sorted(cfgs), "text": "incomplete: no runs yet"})
                continue
            try:
                out.append(_one(problem, task, cfgs, runs, metrics, analysis, set(cfgs) - have))
            except Exception as exc:  # a report must still be written
                out.append({**blank, "text": f"verdict failed: {type(exc).__name__}: {exc}"})
    _holm(out)
    return out


def _holm(out: list[dict[str, Any]]) -> None:
    """Holm–Bonferroni over every primary decision of the sweep (in place): ``verdict_holm``,
    ``fix_holm`` and the adjusted p-values in the decision dicts, a sentence added to the text."""
    pairs = [v.pop("_decisions") for v in out if "_decisions" in v]
    holm([d for pair in pairs for d in pair])
    m = sum(1 for pair in pairs for d in pair if d.p_holm == d.p_holm)
    it = iter(pairs)
    for v in out:
        if "decision" not in v:
            v.update({"verdict_holm": v["verdict"], "fix_holm": v["fix"]})
            continue
        pres, fix = next(it)
        v["decision"], v["fix_decision"] = pres.as_dict(), fix.as_dict()
        v["verdict_holm"] = _word(pres.holm_answer or pres.answer, PRESENT_WORDS)
        v["fix_holm"] = _word(fix.holm_answer or fix.answer, FIX_WORDS)
        v["holm_family"] = m
        ps = "; ".join(f"{name} p = {d.p_value:.3g}, Holm p = {d.p_holm:.3g}" for name, d in (("present", pres), ("fix", fix))
                       if d.p_holm == d.p_holm)
        v["text"] += (f" Holm–Bonferroni over the sweep's {m} primary decisions: verdict {v['verdict_holm'].upper()}, fix "
                      f"{v['fix_holm'].upper()}" + (f" ({ps})." if ps else "."))
