"""A verdict in words, with its numbers, for each problem on each task: was the problem's signature
present in the baseline, and did the fix reduce it — with the seed spread, not just means."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .collect import overall_rows
from .tables import fmt_pm

__all__ = ["verdicts"]


def _ms(values: pd.Series) -> tuple[float, float, int]:
    v = values.dropna().to_numpy(dtype=float)
    return (float(v.mean()) if len(v) else math.nan, float(v.std(ddof=1)) if len(v) > 1 else math.nan, len(v))


def _diff(a: tuple[float, float, int], b: tuple[float, float, int]) -> tuple[float, float]:
    """a − b with the combined seed spread (std of the difference of means)."""
    sa = (a[1] ** 2 / a[2]) if a[2] > 1 and not math.isnan(a[1]) else math.nan
    sb = (b[1] ** 2 / b[2]) if b[2] > 1 and not math.isnan(b[1]) else math.nan
    return a[0] - b[0], math.sqrt(sa + sb) if not (math.isnan(sa) or math.isnan(sb)) else math.nan


def _strength(d: float, s: float) -> str:
    if math.isnan(d):
        return "not measured"
    if math.isnan(s):
        return "single seed: no spread to judge"
    return "beyond the seed spread" if abs(d) > 2 * s else "within the seed spread (inconclusive)"


def _psnr(runs: pd.DataFrame, task: str, config: str) -> tuple[float, float, int]:
    return _ms(runs[(runs.task == task) & (runs.config == config)]["final_psnr"])


def _abstraction(runs, ana, task, cfgs) -> dict[str, Any]:
    base, fix = _psnr(runs, task, "baseline"), _psnr(runs, task, "fix-sampling")
    shallow = {c: _psnr(runs, task, c) for c in cfgs if c.startswith("depth")}
    best = max(shallow, key=lambda c: shallow[c][0]) if shallow else None
    p = runs[runs.task == task].groupby("config")["params"].first()
    d_sig, s_sig = _diff(shallow[best], base) if best else (math.nan, math.nan)
    d_fix, s_fix = _diff(fix, base)
    present = d_sig > 0
    reduced = d_fix > 0
    info = ""
    if len(ana):
        a = ana[(ana.task == task) & (ana.config == "baseline") & (ana.metric == "I(T;Y)")]
        if len(a):
            per = a.groupby("layer")["value"].mean()
            layers = sorted(per.index, key=lambda n: int(n[3:]))
            info = (f" Target information I(T;Y) along the baseline encoder (gaussian estimator on projected "
                    f"receptive-field patches): {', '.join(f'{n} {per[n]:.2f}' for n in layers)} nats.")
    text = (f"{'PRESENT' if present else 'NOT SEEN'}: the deepest U-Net ({int(runs[(runs.task == task) & (runs.config == 'baseline')].depth.iloc[0])} "
            f"down-samplings, {p.get('baseline', 0) / 1e6:.2f} M params) reaches PSNR {fmt_pm(*base[:2])} dB while "
            f"{best} ({p.get(best, 0) / 1e6:.2f} M params) reaches {fmt_pm(*shallow[best][:2]) if best else '—'} dB "
            f"(difference {d_sig:+.2f} dB, {_strength(d_sig, s_sig)})."
            f" Fix (shallow + residual blocks, {p.get('fix-sampling', 0) / 1e6:.2f} M params): {fmt_pm(*fix[:2])} dB, "
            f"{d_fix:+.2f} dB vs baseline — {'REDUCED' if reduced else 'NOT REDUCED'} ({_strength(d_fix, s_fix)})." + info)
    return {"present": present, "reduced": reduced, "text": text,
            "numbers": {"psnr_baseline": base[0], "psnr_best_shallow": shallow[best][0] if best else math.nan,
                        "psnr_fix": fix[0], "delta_fix": d_fix, "spread_fix": s_fix}}


def _band0(ana: pd.DataFrame, task: str, config: str, metric: str) -> tuple[float, float, int]:
    a = ana[(ana.task == task) & (ana.config == config) & (ana.split == "detail") & (ana.metric == metric)]
    a = a[a.layer.astype(str).str.startswith("band0")]
    return _ms(a.groupby("seed")["value"].mean()) if len(a) else (math.nan, math.nan, 0)


def _detail(runs, ana, task, cfgs) -> dict[str, Any]:
    res = {c: _band0(ana, task, c, "detail_residual") for c in cfgs}
    ret = {c: _band0(ana, task, c, "energy_retention") for c in cfgs}
    base, noskip, fix = (_psnr(runs, task, c) for c in ("baseline", "no-skip", "detail-branch"))
    d_res, s_res = _diff(res["baseline"], res["detail-branch"])
    present = res["baseline"][0] > res["detail-branch"][0] or res["no-skip"][0] > res["baseline"][0]
    reduced = d_res > 0
    d_p, s_p = _diff(fix, base)
    text = (f"{'PRESENT' if present else 'NOT SEEN'}: finest-band detail residual ||Ŷ₀−Y₀||²/||Y₀||² is "
            f"{fmt_pm(*res['baseline'][:2], 3)} for the baseline and {fmt_pm(*res['no-skip'][:2], 3)} without skips "
            f"(all detail through the bottleneck); finest-band energy retention {fmt_pm(*ret['baseline'][:2], 3)} vs "
            f"{fmt_pm(*ret['no-skip'][:2], 3)}. Fix (full-resolution detail branch): residual "
            f"{fmt_pm(*res['detail-branch'][:2], 3)} — {'REDUCED' if reduced else 'NOT REDUCED'} by {d_res:.3f} "
            f"({_strength(d_res, s_res)}); PSNR {fmt_pm(*base[:2])} → {fmt_pm(*fix[:2])} dB ({d_p:+.2f}, "
            f"{_strength(d_p, s_p)}); no-skip {fmt_pm(*noskip[:2])} dB.")
    return {"present": present, "reduced": reduced, "text": text,
            "numbers": {"residual_baseline": res["baseline"][0], "residual_fix": res["detail-branch"][0],
                        "residual_noskip": res["no-skip"][0], "psnr_baseline": base[0], "psnr_fix": fix[0]}}


def _grad_stat(met: pd.DataFrame, task: str, config: str, metric: str) -> tuple[float, float, int]:
    m = met[(met.task == task) & (met.config == config) & (met.split == "gradients") & (met.metric == metric)]
    m = overall_rows(m)
    return _ms(m.groupby("seed")["value"].median()) if len(m) else (math.nan, math.nan, 0)


def _gradients(runs, met, task, cfgs, threshold: float = 0.01) -> dict[str, Any]:
    ratio = {c: _grad_stat(met, task, c, "grad_ratio_adv_content") for c in cfgs}
    sat = {c: _grad_stat(met, task, c, "d_saturated_fraction") for c in cfgs}
    psnr = {c: _psnr(runs, task, c) for c in cfgs}
    b = ratio["baseline"]
    present = b[0] < threshold or sat["baseline"][0] > 0.5
    lines, better = [], 0
    for c in cfgs:
        if c == "baseline":
            continue
        dp, sp = _diff(psnr[c], psnr["baseline"])
        up = ratio[c][0] / b[0] if b[0] and not math.isnan(ratio[c][0]) else math.nan
        ok = (up > 1) and not (dp < 0 and not math.isnan(sp) and abs(dp) > 2 * sp)
        better += ok
        lines.append(f"{c}: gradient ratio {ratio[c][0]:.2e} ({up:.1f}× baseline), D saturated "
                     f"{sat[c][0]:.0%}, PSNR {fmt_pm(*psnr[c][:2])} dB ({dp:+.2f}, {_strength(dp, sp)})")
    reduced = better > 0
    text = (f"{'PRESENT' if present else 'NOT SEEN'}: with vanilla BCE + 100·L1 the generator's adversarial gradient "
            f"is {fmt_pm(b[0], b[1], 4)} × its content gradient (median over training; warning threshold "
            f"{threshold}), discriminator saturated on {sat['baseline'][0]:.0%} of patches, PSNR "
            f"{fmt_pm(*psnr['baseline'][:2])} dB. Fixes — " + "; ".join(lines) +
            f". {'REDUCED' if reduced else 'NOT REDUCED'} by {better} of {len(lines)} alternatives "
            "(higher adversarial share without a PSNR loss beyond the seed spread).")
    return {"present": present, "reduced": reduced, "text": text,
            "numbers": {"ratio_baseline": b[0], **{f"ratio_{c}": ratio[c][0] for c in cfgs}}}


def verdicts(runs: pd.DataFrame, metrics: pd.DataFrame, analysis: pd.DataFrame,
             uses: dict[str, dict[str, list[str]]]) -> list[dict[str, Any]]:
    """[{problem, task, present, reduced, text, numbers}] for every problem/task with finished runs."""
    out = []
    fns = {"abstraction": lambda t, c: _abstraction(runs, analysis, t, c),
           "detail": lambda t, c: _detail(runs, analysis, t, c),
           "gradients": lambda t, c: _gradients(runs, metrics, t, c)}
    for problem, by_task in uses.items():
        for task, cfgs in by_task.items():
            have = set(runs[runs.task == task].config) if len(runs) else set()
            if not set(cfgs) <= have:
                out.append({"problem": problem, "task": task, "present": None, "reduced": None, "numbers": {},
                            "text": f"incomplete: missing runs for {sorted(set(cfgs) - have)}"})
                continue
            try:
                v = fns[problem](task, cfgs)
            except Exception as exc:  # a report must still be written
                v = {"present": None, "reduced": None, "numbers": {}, "text": f"verdict failed: {exc}"}
            out.append({"problem": problem, "task": task, **v})
    return out
