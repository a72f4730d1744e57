"""Pre-registered decisions: one named comparison per question, decided over paired seeds.

Each problem module declares, before any run, a :class:`Comparison` for "is the problem present in
the baseline?" and one for "does the fix reduce it?". The comparison is paired by seed (seed k of
every configuration shares its training batches, test images and degradation draws), so the
statistic is the mean of the per-seed differences d_k = f(a, k) − f(b, k) (or f(a, k) − threshold
for a one-configuration test), with a two-sided 95 % Student-t interval over the n seeds.

The rule, three-valued:

* ``yes``  — the whole interval lies beyond the threshold on the side the comparison names;
* ``no``   — the whole interval lies on the other side;
* ``inconclusive`` — the interval contains the threshold, or fewer than :data:`MIN_SEEDS` seeds,
  or a run in the comparison did not converge by the plateau rule (``inconclusive (unconverged)``).

Controls are computed the same way and reported beside the verdict; they never decide it.

Two sources of error: seeds, and the test images. With ``image_se`` (the per-run standard error of
the quantity over test images — a bootstrap over images) the standard error of the mean difference
is se = √(s²/n + se_img²): every seed is scored on the same images, so their error does not average
out over seeds; se_img² = mean se(a)² + mean se(b)² (a and b's image errors taken as independent:
conservative, as they are positively correlated). The interval is mean ± t_ν·se and the p-value is
that of the same t statistic on the same ν — the Welch–Satterthwaite degrees of freedom
ν = (n − 1)·(se² / (s²/n))², the image error counted as known (ν = n − 1 without it) — so the
interval excludes the threshold exactly when p < 1 − :data:`LEVEL`. The p-values feed :func:`holm`,
the Holm–Bonferroni adjustment over a sweep's primary decisions; the adjusted answer is printed
beside the unadjusted one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy import stats

__all__ = ["Comparison", "Decision", "decide", "paired_interval", "combined_se", "holm", "MIN_SEEDS", "LEVEL", "ALPHA"]

MIN_SEEDS = 3
LEVEL = 0.95
ALPHA = 1 - LEVEL  # the family-wise error rate Holm's adjustment holds


@dataclass(frozen=True)
class Comparison:
    """``quantity`` of configuration ``a`` minus that of ``b`` (or minus ``threshold`` when ``b`` is
    None), per seed. ``yes_if``: 'greater' — the answer is yes when the difference is above the
    threshold; 'less' — when below. ``quantity`` names a per-run number (see
    :mod:`experiments.report.quantities`)."""

    question: str
    quantity: str
    a: str
    b: str | None = None
    threshold: float = 0.0
    yes_if: str = "greater"
    unit: str = "dB"
    scored_on: str = "whole test images"  # the images (and size) the quantity is measured on

    def __post_init__(self) -> None:
        if self.yes_if not in ("greater", "less"):
            raise ValueError(f"yes_if must be 'greater' or 'less', got {self.yes_if!r}")

    @property
    def configs(self) -> set[str]:
        """The configurations this comparison reads: ``a``, and ``b`` when it has one."""
        return {self.a} | ({self.b} if self.b else set())

    def describe(self) -> str:
        sign = ">" if self.yes_if == "greater" else "<"
        lhs = f"{self.quantity}({self.a}) − {self.quantity}({self.b})" if self.b else f"{self.quantity}({self.a})"
        how = "paired over seeds" if self.b else "over seeds"
        return (f"yes when the 95 % interval of {lhs} ({how}; measured on {self.scored_on}) lies wholly {sign} "
                f"{self.threshold:g} {self.unit}; no when it lies wholly on the other side; else inconclusive")


@dataclass
class Decision:
    """The outcome of one comparison: ``answer`` yes / no / inconclusive and its numbers."""

    comparison: Comparison
    answer: str
    reason: str
    mean: float = math.nan
    low: float = math.nan
    high: float = math.nan
    n: int = 0
    per_seed: dict[int, float] = field(default_factory=dict)
    p_value: float = math.nan  # two-sided, of the difference from the threshold
    se_images: float = math.nan  # the test images' share of the standard error (NaN: not given)
    holm_answer: str | None = None  # the answer after Holm's adjustment (None: not in a family)
    p_holm: float = math.nan

    def interval(self, digits: int = 2) -> str:
        if self.n == 0 or math.isnan(self.mean):
            return "not measured"
        ci = "—" if math.isnan(self.low) else f"[{self.low:+.{digits}f}, {self.high:+.{digits}f}]"
        unit = f" {self.comparison.unit}" if self.comparison.unit else ""
        return f"{self.mean:+.{digits}f}{unit} (95 % CI {ci}, n = {self.n})"

    def as_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {"question": c.question, "quantity": c.quantity, "unit": c.unit, "scored_on": c.scored_on,
                "rule": c.describe(),
                "answer": self.answer, "reason": self.reason,
                "mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n_seeds": self.n,
                "per_seed": {str(k): v for k, v in self.per_seed.items()}, "p_value": self.p_value,
                "se_images": self.se_images, "holm_answer": self.holm_answer, "p_holm": self.p_holm}


def paired_interval(d: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high) of the Student-t interval for the mean of ``d`` (NaN bounds for n < 2)."""
    d = np.asarray(d, dtype=float)
    if d.size == 0:
        return math.nan, math.nan, math.nan
    m = float(d.mean())
    if d.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return m, m - half, m + half


def _image_se(c: Comparison, image_se: Callable[[str], Mapping[int, float]] | None, seeds: list[int]) -> float:
    if image_se is None or not seeds:
        return math.nan
    total = 0.0
    for cfg in filter(None, (c.a, c.b)):
        se = [v for k, v in image_se(cfg).items() if k in seeds and v is not None and math.isfinite(v)]
        if not se:
            return math.nan
        total += float(np.mean(np.square(se)))
    return math.sqrt(total)


def combined_se(se_seed: float, se_img: float, n: int) -> tuple[float, float]:
    """(standard error, degrees of freedom) of a mean over ``n`` paired seeds whose seed-to-seed
    standard error is ``se_seed`` plus a test-image error ``se_img`` (NaN: none): √(se_seed² +
    se_img²) on the Welch–Satterthwaite ν = (n − 1)·(se² / se_seed²)², the image error counted as
    known (infinite degrees of freedom); ν = n − 1 without an image error."""
    if not math.isfinite(se_img) or se_img == 0:
        return se_seed, float(n - 1)
    se = math.hypot(se_seed, se_img)
    if se_seed == 0:
        return se, math.inf
    return se, (n - 1) * (se / se_seed) ** 4


def decide(comparison: Comparison, value: Callable[[str], Mapping[int, float]],
           converged: Callable[[str], Mapping[int, bool | None]] | None = None,
           min_seeds: int = MIN_SEEDS, image_se: Callable[[str], Mapping[int, float]] | None = None) -> Decision:
    """Decide ``comparison``. ``value(config) -> {seed: number}`` gives the per-run quantity;
    ``converged(config) -> {seed: bool | None}`` the plateau rule's outcome per run (None: cannot be
    judged, treated as unconverged); ``image_se(config) -> {seed: s.e.}`` the per-run error over
    test images, widening the interval (module docstring)."""
    c = comparison
    va = {k: v for k, v in value(c.a).items() if v is not None and math.isfinite(v)}
    vb = {k: v for k, v in value(c.b).items() if v is not None and math.isfinite(v)} if c.b else None
    seeds = sorted(set(va) & set(vb)) if vb is not None else sorted(va)
    # paired: the per-seed differences; one configuration: the quantity itself (against the threshold)
    per = {k: va[k] - vb[k] if vb is not None else va[k] for k in seeds}
    d = np.array(list(per.values()))
    m, lo, hi = paired_interval(d)
    se_img = _image_se(c, image_se, seeds)
    p = math.nan
    if d.size >= 2:
        se_seed = float(d.std(ddof=1) / math.sqrt(d.size))
        se_tot, dof = combined_se(se_seed, se_img, d.size)
        half = float(stats.t.ppf(0.5 + LEVEL / 2, dof)) * se_tot
        lo, hi = m - half, m + half
        if se_tot > 0:
            p = float(2 * stats.t.sf(abs(m - c.threshold) / se_tot, dof))
        else:
            p = 0.0 if m != c.threshold else 1.0
    dec = Decision(c, "inconclusive", "", m, lo, hi, len(per), per, p_value=p, se_images=se_img)
    if len(per) < min_seeds:
        dec.reason = f"fewer than {min_seeds} paired seeds ({len(per)})"
        return dec
    if converged is not None:
        bad = [f"{cfg}/seed{k}" for cfg in filter(None, (c.a, c.b)) for k, ok in converged(cfg).items()
               if k in per and ok is not True]
        if bad:
            dec.answer, dec.reason = "inconclusive (unconverged)", f"not converged: {', '.join(bad)}"
            return dec
    above, below = lo > c.threshold, hi < c.threshold
    if (above and c.yes_if == "greater") or (below and c.yes_if == "less"):
        dec.answer, dec.reason = "yes", "the whole interval is beyond the threshold"
    elif above or below:
        dec.answer, dec.reason = "no", "the whole interval is on the other side of the threshold"
    else:
        dec.reason = "the interval contains the threshold"
    return dec


def holm(decisions: Sequence[Decision], alpha: float = ALPHA) -> None:
    """Holm–Bonferroni over a family of decisions, in place: each decision with a p-value gets
    ``p_holm`` (Holm's step-down adjusted p) and ``holm_answer`` — its own answer when ``p_holm`` <
    ``alpha``, else ``inconclusive (Holm)``. A decision already inconclusive (unconverged, not run, too
    few seeds, interval across the threshold) stays as it is; the family is every decision with a
    p-value, so m counts them all. (The yes/no answer needs its interval beyond the threshold; Holm
    only ever removes answers, never adds one.)"""
    fam = [d for d in decisions if math.isfinite(d.p_value)]
    m = len(fam)
    running = 0.0
    for i, d in enumerate(sorted(fam, key=lambda d: d.p_value)):
        running = max(running, min(1.0, (m - i) * d.p_value))
        d.p_holm = running
        d.holm_answer = d.answer if (d.answer in ("yes", "no") and running < alpha) else \
            (d.answer if "inconclusive" in d.answer else "inconclusive (Holm)")
