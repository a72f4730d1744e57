"""A verdict in words, with its numbers, for each problem on each task: was the problem's signature
present in the baseline, and did the fix reduce it — with the seed spread, not just means."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..probe import probe_summary
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
        a = ana[(ana.task == task) & (ana.config == "baseline") & (ana.metric == "I(T;Y)")
                & (ana.split == "abstraction") & ana.layer.astype(str).str.startswith("enc")]
        if len(a):
            per = a.groupby("layer")["value"].mean()
            layers = sorted(per.index, key=lambda n: int(n[3:]))
            info = (f" Target information I(T;Y) along the baseline encoder (depth measurement: the same X and Y "
                    f"at every layer, one sample per whole probe crop, gaussian estimator on projected maps): "
                    f"{', '.join(f'{n} {per[n]:.2f}' for n in layers)} nats.")
    text = (f"{'PRESENT' if present else 'NOT SEEN'}: the deepest U-Net ({int(runs[(runs.task == task) & (runs.config == 'baseline')].depth.iloc[0])} "
            f"down-samplings, {p.get('baseline', 0) / 1e6:.2f} M params) reaches PSNR {fmt_pm(*base[:2])} dB while "
            f"{best} ({p.get(best, 0) / 1e6:.2f} M params) reaches {fmt_pm(*shallow[best][:2]) if best else '—'} dB "
            f"(difference {d_sig:+.2f} dB, {_strength(d_sig, s_sig)})."
            f" Fix (shallow + residual blocks, {p.get('fix-sampling', 0) / 1e6:.2f} M params): {fmt_pm(*fix[:2])} dB, "
            f"{d_fix:+.2f} dB vs baseline — {'REDUCED' if reduced else 'NOT REDUCED'} ({_strength(d_fix, s_fix)})." + info)
    return {"present": present, "reduced": reduced, "text": text,
            "present_evidence": f"PSNR, best shallow vs deepest: {_strength(d_sig, s_sig)}",
            "reduced_evidence": f"PSNR, fix vs deepest: {_strength(d_fix, s_fix)}",
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
            "present_evidence": f"finest-band residual, baseline vs fix: {_strength(d_res, s_res)}",
            "reduced_evidence": f"finest-band residual, baseline vs fix: {_strength(d_res, s_res)}",
            "numbers": {"residual_baseline": res["baseline"][0], "residual_fix": res["detail-branch"][0],
                        "residual_noskip": res["no-skip"][0], "psnr_baseline": base[0], "psnr_fix": fix[0]}}


def _grad_stat(met: pd.DataFrame, task: str, config: str, metric: str) -> tuple[float, float, int]:
    m = met[(met.task == task) & (met.config == config) & (met.split == "gradients") & (met.metric == metric)]
    m = overall_rows(m)
    return _ms(m.groupby("seed")["value"].median()) if len(m) else (math.nan, math.nan, 0)


_NO_PROBE = (math.nan, math.nan, 0)


def _probe_stats(ana: pd.DataFrame, task: str, config: str, loss: str) -> dict[str, tuple[float, float, int]]:
    """D-optimality probe summary (``retained``, ``final``, ``saturated``, …) per seed -> mean ± sd."""
    if not len(ana) or "split" not in ana:
        return {}
    a = ana[(ana.task == task) & (ana.config == config) & (ana.split == "d_probe") & (ana.layer == loss)]
    per_seed = pd.DataFrame([probe_summary(g.to_dict("records")).get(loss, {}) for _, g in a.groupby("seed")])
    return {k: _ms(per_seed[k]) for k in per_seed.columns}


def _gradients(runs, met, ana, task, cfgs, threshold: float = 0.01, vanished: float = 0.1) -> dict[str, Any]:
    ratio = {c: _grad_stat(met, task, c, "grad_ratio_adv_content") for c in cfgs}
    sat = {c: _grad_stat(met, task, c, "d_saturated_fraction") for c in cfgs}
    psnr = {c: _psnr(runs, task, c) for c in cfgs}
    loss_of = runs[runs.task == task].groupby("config")["adversarial"].first().to_dict()
    b = ratio["baseline"]
    base_loss = loss_of.get("baseline", "vanilla")
    own_probe = {c: _probe_stats(ana, task, c, loss_of.get(c, "")) for c in cfgs}
    kept = {c: own_probe[c].get("retained", _NO_PROBE) for c in cfgs}
    final = {c: own_probe[c].get("final", _NO_PROBE) for c in cfgs}
    minimax = _probe_stats(ana, task, "baseline", "saturating").get("retained", _NO_PROBE)
    probe_sat = own_probe["baseline"].get("saturated", _NO_PROBE)
    in_training = b[0] < threshold or sat["baseline"][0] > 0.5
    probed = not math.isnan(kept["baseline"][0])
    own = in_training or (probed and kept["baseline"][0] < vanished)  # the baseline's own objective
    minimax_vanishes = probed and minimax[0] < vanished  # the textbook form of the same BCE objective
    present = own or minimax_vanishes
    lead = ("PRESENT" if own else
            f"PRESENT in the minimax form of the BCE objective, NOT in pix2pix's non-saturating form"
            if minimax_vanishes else "NOT SEEN")
    lines, better = [], 0
    for c in cfgs:
        if c == "baseline":
            continue
        dp, sp = _diff(psnr[c], psnr["baseline"])
        no_loss = not (dp < 0 and not math.isnan(sp) and abs(dp) > 2 * sp)
        if probed:  # survives a winning D, is not drowned by the content term, costs no PSNR
            survives, drowned = kept[c][0] >= 0.5, final[c][0] < threshold
            ok = survives and not drowned and no_loss
            how = (f"keeps {kept[c][0]:.0%} of its peak adversarial gradient as D wins (final ratio "
                   f"{final[c][0]:.2e}{', drowned by the content term' if drowned else ''})")
        else:
            up = ratio[c][0] / b[0] if b[0] and not math.isnan(ratio[c][0]) else math.nan
            ok, how = (up > 1) and no_loss, f"in-training ratio {ratio[c][0]:.2e} ({up:.1f}× baseline)"
        better += ok
        lines.append(f"{c}: {how}; PSNR {fmt_pm(*psnr[c][:2])} dB ({dp:+.2f}, {_strength(dp, sp)})")
    reduced = better > 0
    probe_txt = (f" D-optimality probe (a fresh discriminator trained against the frozen generator until it "
                 f"saturates on {probe_sat[0]:.0%} of patches): the minimax form log(1−D(G(x))) keeps "
                 f"{minimax[0]:.1%} of its peak adversarial gradient{' — VANISHED' if minimax[0] < vanished else ''}; "
                 f"pix2pix's non-saturating {base_loss} keeps {kept['baseline'][0]:.0%}"
                 f"{' — VANISHED' if kept['baseline'][0] < vanished else ''}." if probed else "")
    text = (f"{lead}: during training the baseline's ({base_loss} BCE + "
            f"{runs[(runs.task == task) & (runs.config == 'baseline')].lambda_content.iloc[0]:g}·L1) adversarial "
            f"gradient is {fmt_pm(b[0], b[1], 4)} × its content gradient (median; warning threshold {threshold}), "
            f"D saturated on {sat['baseline'][0]:.0%} of patches, PSNR {fmt_pm(*psnr['baseline'][:2])} dB."
            + probe_txt + " Fixes — " + "; ".join(lines) +
            f". {'REDUCED' if reduced else 'NOT REDUCED'} by {better} of {len(lines)} alternatives.")
    source = ("in training" if in_training else "D-optimality probe, baseline form" if own else
              "D-optimality probe, minimax form only" if minimax_vanishes else "in training and probe: not seen")
    return {"present": present, "reduced": reduced, "text": text,
            "present_evidence": f"{source} (mean of {max(b[2], kept['baseline'][2])} seeds)",
            "reduced_evidence": f"{better} of {len(lines)} alternatives keep an undrowned gradient without a PSNR "
                                "loss beyond the seed spread",
            "numbers": {"ratio_baseline": b[0], "probe_retained_minimax": minimax[0],
                        **{f"ratio_{c}": ratio[c][0] for c in cfgs},
                        **{f"probe_retained_{c}": kept[c][0] for c in cfgs}}}


def verdicts(runs: pd.DataFrame, metrics: pd.DataFrame, analysis: pd.DataFrame,
             uses: dict[str, dict[str, list[str]]]) -> list[dict[str, Any]]:
    """[{problem, task, present, reduced, text, numbers}] for every problem/task with finished runs."""
    out = []
    fns = {"abstraction": lambda t, c: _abstraction(runs, analysis, t, c),
           "detail": lambda t, c: _detail(runs, analysis, t, c),
           "gradients": lambda t, c: _gradients(runs, metrics, analysis, t, c)}
    for problem, by_task in uses.items():
        for task, cfgs in by_task.items():
            have = set(runs[runs.task == task].config) if len(runs) else set()
            if not set(cfgs) <= have:
                out.append({"problem": problem, "task": task, "present": None, "reduced": None, "numbers": {},
                            "present_evidence": "", "reduced_evidence": "",
                            "text": f"incomplete: missing runs for {sorted(set(cfgs) - have)}"})
                continue
            try:
                v = fns[problem](task, cfgs)
            except Exception as exc:  # a report must still be written
                v = {"present": None, "reduced": None, "numbers": {}, "present_evidence": "", "reduced_evidence": "",
                     "text": f"verdict failed: {exc}"}
            out.append({"problem": problem, "task": task, **v})
    return out
