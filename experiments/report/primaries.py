"""The sweep's primary decisions on one figure: per problem, the quantity that decides "present?"
and the difference that decides "does the fix reduce it?", each task's mean with its 95 % interval
(seeds and test images), the pre-registered threshold, and the Holm-adjusted answer."""
from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..problems import PROBLEMS  # noqa: E402

__all__ = ["primaries_figure", "ANSWER_STYLE"]

# answer (Holm-adjusted) -> (colour, marker, filled); an undecided comparison is grey and hollow
ANSWER_STYLE: dict[str, tuple[str, str, bool]] = {
    "yes": ("#c0392b", "o", True),
    "no": ("#2471a3", "s", True),
    "inconclusive": ("#7f8c8d", "o", False),
}


def _style(answer: str) -> tuple[str, str, bool]:
    return ANSWER_STYLE.get(answer, ANSWER_STYLE["inconclusive"])  # "inconclusive (…)" too


def primaries_figure(verdicts: list[dict[str, Any]]) -> plt.Figure | None:
    """A row per problem, two panels (present? | fix reduces it?): x = task, y = the primary's mean
    with its 95 % interval; dotted: the threshold it is decided against; red = yes, blue = no, grey
    hollow = inconclusive (Holm-adjusted; a comparison of unconverged runs is inconclusive and
    labelled so; one not run is labelled "not run").
    ``verdicts``: the rows of ``verdicts.json``. None when no primary was computed."""
    rows = [p for p in dict.fromkeys(v["problem"] for v in verdicts)
            if any((v.get(k) or {}).get("mean") is not None for v in verdicts if v["problem"] == p
                   for k in ("decision", "fix_decision"))]
    if not rows:
        return None
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 2.6 * len(rows)), squeeze=False, layout="constrained")
    for axrow, problem in zip(axes, rows):
        vs = [v for v in verdicts if v["problem"] == problem]
        spec = PROBLEMS.get(problem)
        for ax, key, which in ((axrow[0], "decision", "present"), (axrow[1], "fix_decision", "fix")):
            comp = getattr(spec, which, None) if spec else None
            threshold = comp.threshold if comp is not None else 0.0
            for i, v in enumerate(vs):
                d = v.get(key) or {}
                if d.get("mean") is None:
                    ax.annotate("not run", (i, threshold), ha="center", va="bottom", fontsize=6, color="grey")
                    continue
                answer = d.get("holm_answer") or d.get("answer", "inconclusive")
                colour, marker, filled = _style(answer)
                if "unconverged" in f"{answer} {d.get('answer', '')}":
                    ax.annotate("unconverged", (i, d["mean"]), xytext=(5, 0), textcoords="offset points",
                                fontsize=5, color="grey", va="center")
                lo, hi = d.get("ci_low"), d.get("ci_high")
                if lo is not None and hi is not None:
                    ax.plot([i, i], [lo, hi], color=colour, lw=1.6)
                ax.plot([i], [d["mean"]], marker=marker, color=colour, ms=6,
                        mfc=colour if filled else "white", mec=colour, ls="none")
            ax.axhline(threshold, ls=":", color="black", lw=1)
            ax.set_xticks(range(len(vs)), [v["task"] for v in vs], fontsize=7)
            ax.set_xlim(-0.6, len(vs) - 0.4)
            quantity = next(((v.get(key) or {}).get("quantity") for v in vs if (v.get(key) or {}).get("quantity")),
                            comp.quantity if comp is not None else "")
            title = f"{problem}: present?" if which == "present" else f"{problem}: fix reduces it?"
            ax.set_title(title, fontsize=8)
            ax.set_ylabel(quantity + (" (difference)" if which == "fix" else ""), fontsize=7)
            ax.tick_params(axis="y", labelsize=6)
    handles = [plt.Line2D([], [], marker=m, color=c, mfc=c if f else "white", ls="none", label=a)
               for a, (c, m, f) in ANSWER_STYLE.items()]
    fig.legend(handles=handles, loc="outside right upper", fontsize=7, title="Holm-adjusted", title_fontsize=7)
    fig.suptitle("The pre-registered primaries: mean and 95 % interval (seeds and test images); dotted: the "
                 "threshold", fontsize=8)
    return fig
