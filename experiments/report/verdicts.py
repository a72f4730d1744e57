"""Verdicts: for each problem on each task, the pre-registered comparisons of its module
(:mod:`experiments.problems`) decided over paired seeds (:mod:`experiments.problems.decision`).

``verdict``: present / absent / inconclusive (with the reason: too few seeds, unconverged runs, an
interval that contains the threshold); ``fix``: reduced / not reduced / inconclusive. Both are
decided by the problem's information quantity (its primary); the interval combines seed and
test-image variance where the quantity has one. ``verdict_holm`` / ``fix_holm``: the same after
Holm–Bonferroni over every primary decision of the sweep (the family: problems × tasks × {present,
fix}), joined where asked by the primaries of published sweeps of other tasks (``joint``: their
verdicts are re-adjusted in the same family). Secondary evidence (PSNR, band residuals, gradient
ratios), controls and context (the depth trend, what the adversarial term adds over the L1-only
control) are reported beside them, labelled, and never change them.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from ..problems import PROBLEMS
from ..problems.decision import MIN_SEEDS, Comparison, Decision, decide, holm
from .quantities import converged_runs, per_seed, per_seed_se
from .tables import fmt_pm

__all__ = ["verdicts", "Verdict", "PRESENT_WORDS", "FIX_WORDS", "load_published"]

PRESENT_WORDS = {"yes": "present", "no": "absent"}
FIX_WORDS = {"yes": "reduced", "no": "not reduced"}
NOT_RUN = "inconclusive (not run)"  # the answer of a comparison whose configurations are not (yet) run


@dataclass(eq=False)
class Verdict(Mapping):
    """One problem on one task: its two primary decisions (``decision``: is the problem present;
    ``fix_decision``: does the fix reduce it), their words (``verdict``, ``fix``; after Holm:
    ``verdict_holm``, ``fix_holm``), the controls, secondaries and effects shown beside them (never
    deciding), the configurations not yet run, and the sentence that says it all (``text``).

    Reads like its JSON row too (``v["verdict"]``, ``v.get("decision")``: a ``Mapping`` over
    :meth:`as_dict`), so code written against verdicts.json works on it unchanged."""

    problem: str
    task: str
    verdict: str = "inconclusive"
    fix: str = "inconclusive"
    decision: Decision | None = None
    fix_decision: Decision | None = None
    present_rule: str = ""
    fix_rule: str = ""
    n_seeds: int = 0
    controls: list[Decision] = field(default_factory=list)
    secondary: list[Decision] = field(default_factory=list)
    effects: list[Decision] = field(default_factory=list)
    missing_runs: list[str] = field(default_factory=list)
    text: str = ""
    verdict_holm: str | None = None
    fix_holm: str | None = None
    holm_family: int | None = None

    @property
    def present(self) -> bool | None:
        """True / False when the problem's decision is yes / no; None when inconclusive."""
        return _flag(self.decision)

    @property
    def reduced(self) -> bool | None:
        """True / False when the fix's decision is yes / no; None when inconclusive."""
        return _flag(self.fix_decision)

    @property
    def illustration(self) -> bool:
        """Fewer paired seeds than a decision needs: the row illustrates, it does not decide."""
        return self.n_seeds < MIN_SEEDS

    def as_dict(self) -> dict[str, Any]:
        """The JSON row of verdicts.json (decisions as their dicts; ``decision`` keys absent when undecided)."""
        row: dict[str, Any] = {"problem": self.problem, "task": self.task, "verdict": self.verdict, "fix": self.fix,
                               "present": self.present, "reduced": self.reduced, "illustration": self.illustration,
                               "n_seeds": self.n_seeds}
        if self.decision is not None:
            row.update({"present_rule": self.present_rule, "fix_rule": self.fix_rule,
                        "decision": self.decision.as_dict(), "fix_decision": self.fix_decision.as_dict(),
                        "secondary": [c.as_dict() for c in self.secondary]})
        row.update({"controls": [c.as_dict() for c in self.controls], "effects": [e.as_dict() for e in self.effects],
                    "missing_runs": list(self.missing_runs), "text": self.text,
                    "verdict_holm": self.verdict_holm or self.verdict, "fix_holm": self.fix_holm or self.fix})
        if self.holm_family is not None:
            row["holm_family"] = self.holm_family
        return row

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())


def _flag(d: Decision | None) -> bool | None:
    return None if d is None or "inconclusive" in d.answer else d.answer == "yes"


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


def _one(problem: str, task: str, cfgs: list[str], runs, met, ana, missing: set[str] = frozenset()) -> Verdict:
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
    return Verdict(problem, task, verdict, fixed, decision=pres, fix_decision=fix,
                   present_rule=p.present.describe(), fix_rule=p.fix.describe(), n_seeds=pres.n,
                   controls=controls, secondary=secondary, effects=effects, missing_runs=sorted(missing),
                   text=" ".join(lines))


def load_published(path: str | Path) -> list[dict[str, Any]]:
    """The verdict rows of a published sweep (a folder holding ``verdicts.json``, or the file), each
    tagged with ``source`` (the path as given) — for :func:`verdicts`' ``joint`` family."""
    p = Path(path)
    f = p / "verdicts.json" if p.is_dir() else p
    if not f.is_file():
        raise FileNotFoundError(f"{path}: no verdicts.json (a folder written by `infoflow report --publish`)")
    rows = json.loads(f.read_text())
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"problem", "task"} <= r.keys() for r in rows):
        raise ValueError(f"{f}: not a list of verdicts (each with 'problem' and 'task')")
    return [{**r, "source": str(path)} for r in rows]


def verdicts(runs: pd.DataFrame, metrics: pd.DataFrame, analysis: pd.DataFrame,
             uses: dict[str, dict[str, list[str]]], joint: Sequence[dict[str, Any]] = ()) -> list[Verdict]:
    """One :class:`Verdict` per problem and task of ``uses`` (see the module docstring). ``joint``:
    verdict rows of published sweeps (:func:`load_published`) whose primary decisions join this
    sweep's Holm family; they are updated in place (``p_holm``, ``verdict_holm``, ``fix_holm``,
    ``holm_family``, the Holm sentence of ``text``). A problem × task in both is refused."""
    both = {(r["problem"], r["task"]) for r in joint} & {(p, t) for p, by in uses.items() for t in by}
    if both:
        raise ValueError(f"{sorted(both)} are in this sweep and in a published one joined to its Holm family; "
                         "a problem × task is decided once")
    out = []
    for problem, by_task in uses.items():
        for task, cfgs in by_task.items():
            have = set(runs[runs.task == task].config) if len(runs) else set()
            p = PROBLEMS[problem]
            if p.present is None or p.fix is None:
                raise ValueError(f"problem {problem!r} declares no pre-registered comparison")
            if not set(cfgs) & have:
                out.append(Verdict(problem, task, missing_runs=sorted(cfgs), text="incomplete: no runs yet"))
                continue
            try:
                out.append(_one(problem, task, cfgs, runs, metrics, analysis, set(cfgs) - have))
            except Exception as exc:  # a report must still be written
                out.append(Verdict(problem, task, text=f"verdict failed: {type(exc).__name__}: {exc}"))
    _holm(out, joint)
    return out


_HOLM_SENTENCE = re.compile(r" Holm–Bonferroni over the (sweep's )?\d+ primary decisions.*$", re.S)


def _holm(out: list[Verdict], joint: Sequence[dict[str, Any]] = ()) -> None:
    """Holm–Bonferroni over every primary decision of the sweep and of ``joint`` (in place):
    ``verdict_holm``, ``fix_holm``, the adjusted p-values in the decisions, a sentence in the text."""
    decided = [v for v in out if v.decision is not None]
    own = [d for v in decided for d in (v.decision, v.fix_decision)]

    def stand_in(d: dict[str, Any]) -> SimpleNamespace:  # what holm() reads and writes of a Decision
        return SimpleNamespace(p_value=_finite(d.get("p_value")), answer=d.get("answer", "inconclusive"),
                               p_holm=math.nan, holm_answer=None)

    ext = [(row, stand_in(row["decision"]), stand_in(row["fix_decision"])) for row in joint
           if row.get("decision") and row.get("fix_decision")]  # decided rows, as for this sweep's
    theirs = [d for _, pres, fix in ext for d in (pres, fix)]
    holm([*own, *theirs])
    k = sum(1 for d in own if d.p_holm == d.p_holm)
    m = k + sum(1 for d in theirs if d.p_holm == d.p_holm)
    sources = sorted({row["source"] for row in joint})
    family = (f"the {m} primary decisions of this sweep ({k}) and of {', '.join(sources)} ({m - k})" if joint
              else f"the sweep's {m} primary decisions")

    def adjusted(pres: Any, fix: Any) -> tuple[str, str, str]:
        """(verdict_holm, fix_holm, the sentence for the text) of one problem × task."""
        verdict = _word(pres.holm_answer or pres.answer, PRESENT_WORDS)
        fixed = _word(fix.holm_answer or fix.answer, FIX_WORDS)
        ps = "; ".join(f"{name} p = {d.p_value:.3g}, Holm p = {d.p_holm:.3g}"
                       for name, d in (("present", pres), ("fix", fix)) if d.p_holm == d.p_holm)
        return verdict, fixed, (f" Holm–Bonferroni over {family}: verdict {verdict.upper()}, fix {fixed.upper()}"
                                + (f" ({ps})." if ps else "."))

    for v in decided:
        v.verdict_holm, v.fix_holm, said = adjusted(v.decision, v.fix_decision)
        v.holm_family = m
        v.text += said
    for row, pres, fix in ext:
        for key, d in (("decision", pres), ("fix_decision", fix)):
            row[key] = {**row[key], "p_holm": d.p_holm, "holm_answer": d.holm_answer}
        row["verdict_holm"], row["fix_holm"], said = adjusted(pres, fix)
        row["holm_family"] = m
        row["text"] = _HOLM_SENTENCE.sub("", row.get("text", "")) + said


def _finite(x: Any) -> float:
    """A JSON number, or NaN for null (standard JSON writes NaN as null)."""
    return float(x) if isinstance(x, (int, float)) else math.nan
