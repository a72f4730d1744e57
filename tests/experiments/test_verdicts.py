"""Verdicts on hand-made result tables whose right answer is known: present, absent and inconclusive
for every problem; controls never decide; no best-of-k; unconverged runs and too few seeds are
inconclusive."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from infoflow.experiments.problems import PROBLEMS
from infoflow.experiments.problems.decision import Comparison, decide, paired_interval
from infoflow.experiments.report.verdicts import verdicts

SEEDS = (0, 1, 2)
NOISE = (-0.05, 0.0, 0.05)  # a small seed-to-seed spread shared by every configuration (paired seeds)


def _runs(task: str, psnr: dict[str, float], converged: bool | None = True, seeds=SEEDS, spread=NOISE,
          swd: dict[str, float] | None = None) -> pd.DataFrame:
    depth = {"depth2": 2, "depth3": 3, "depth4": 4, "fix-sampling": 2}
    return pd.DataFrame([{"task": task, "config": c, "seed": s, "final_psnr": v + spread[i] + 0.3 * s,
                          "final_psnr_input": 20.0, "final_swd": (swd or {}).get(c, 50.0) + i,
                          "depth": depth.get(c, 5), "params": 1e5 * depth.get(c, 5),
                          "adversarial": {"lsgan": "lsgan"}.get(c, "vanilla"), "converged": converged}
                         for c, v in psnr.items() for i, s in enumerate(seeds)])


def _one(problem, runs, met=None, ana=None):
    cfgs = sorted(set(runs.config))
    return verdicts(runs, met if met is not None else pd.DataFrame(), ana if ana is not None else pd.DataFrame(),
                    {problem: {"denoise": cfgs}})[0]


# ------------------------------------------------------------------------------ the decision rule
def test_interval_is_the_student_t_interval():
    d = np.array([0.3, 0.5, 0.1, 0.4])
    m, lo, hi = paired_interval(d)
    ref = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert m == pytest.approx(d.mean()) and (lo, hi) == pytest.approx(ref)


@pytest.mark.parametrize("a, answer", [((1.0, 1.1, 0.9), "yes"), ((-1.0, -1.1, -0.9), "no"),
                                       ((1.0, -1.0, 0.2), "inconclusive")])
def test_paired_decision(a, answer):
    c = Comparison("q", "psnr", a="fix", b="base")
    vals = {"fix": {k: 20 + v for k, v in enumerate(a)}, "base": {k: 20.0 for k in range(3)}}
    assert decide(c, vals.__getitem__).answer == answer


def test_too_few_seeds_and_unconverged_runs_are_inconclusive():
    c = Comparison("q", "psnr", a="fix", b="base")
    two = {"fix": {0: 25.0, 1: 25.1}, "base": {0: 20.0, 1: 20.0}}
    d = decide(c, two.__getitem__)
    assert d.answer == "inconclusive" and "fewer than 3" in d.reason and d.mean == pytest.approx(5.05)
    three = {"fix": {0: 25.0, 1: 25.1, 2: 25.2}, "base": {0: 20.0, 1: 20.0, 2: 20.0}}
    conv = {"fix": {0: True, 1: True, 2: None}, "base": {0: True, 1: False, 2: True}}
    d = decide(c, three.__getitem__, conv.__getitem__)
    assert d.answer == "inconclusive (unconverged)" and "fix/seed2" in d.reason and "base/seed1" in d.reason
    assert decide(c, three.__getitem__, lambda cfg: {k: True for k in range(3)}).answer == "yes"


def test_one_sample_threshold_below():
    c = Comparison("q", "log10_grad_ratio", a="base", threshold=-2.0, yes_if="less")
    assert decide(c, lambda cfg: {0: -3.0, 1: -3.1, 2: -2.9}).answer == "yes"
    assert decide(c, lambda cfg: {0: -1.0, 1: -1.1, 2: -0.9}).answer == "no"
    assert decide(c, lambda cfg: {0: -3.0, 1: -1.0, 2: -2.0}).answer == "inconclusive"


def test_seeds_are_paired_not_pooled():
    """Seed-to-seed variation far larger than the effect: pooled means could not tell, pairs can."""
    c = Comparison("q", "psnr", a="fix", b="base")
    vals = {"base": {0: 20.0, 1: 25.0, 2: 30.0}, "fix": {0: 20.2, 1: 25.25, 2: 30.15}}
    assert decide(c, vals.__getitem__).answer == "yes"


# ------------------------------------------------------------------------------ information tables
def _info(metric: str, layer: str, values: dict[str, float], spread=(0.0, 0.01, -0.01), half: float = 0.0
          ) -> pd.DataFrame:
    """Rows of the ``information`` analysis: ``metric`` per configuration and seed, with an image-bootstrap
    interval of half-width ``half`` (``metric_low`` / ``metric_high``)."""
    rows = []
    for c, v in values.items():
        for i, s in enumerate(SEEDS):
            val = v + spread[i]
            for suffix, x in (("", val), ("_low", val - half), ("_high", val + half)):
                rows.append({"task": "denoise", "config": c, "seed": s, "step": 1, "split": "information",
                             "metric": metric + suffix, "layer": layer, "value": x})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ abstraction
ABSTRACTION_PSNR = {"depth2": 24.0, "depth3": 23.0, "baseline": 23.0, "fix-sampling": 24.5}


def _abstraction_ana(share: float, info: dict[str, float], **kw) -> pd.DataFrame:
    return pd.concat([_info("deep_share", "levels>2", {"baseline": share}, **kw),
                      _info("I_y_yhat", "image", info, **kw)])


@pytest.mark.parametrize("share, fix, verdict, fixed", [
    (0.02, 1.3, "present", "reduced"),      # the deep levels add 2 % of I(Y;Yhat); the fix carries more
    (0.40, 0.7, "absent", "not reduced"),   # they add 40 %; the fix carries less
])
def test_abstraction_known_answers(share, fix, verdict, fixed):
    v = _one("abstraction", _runs("denoise", ABSTRACTION_PSNR),
             ana=_abstraction_ana(share, {"baseline": 1.0, "fix-sampling": fix}))
    assert (v["verdict"], v["fix"]) == (verdict, fixed)
    assert v["decision"]["quantity"] == "deep_info_share" and v["fix_decision"]["quantity"] == "info_yyhat"
    assert "per extra down-sampling" in v["text"]  # the depth trend is context


def test_abstraction_inconclusive_when_the_interval_straddles_the_threshold():
    ana = _abstraction_ana(0.10, {"baseline": 1.0, "fix-sampling": 1.3}, spread=(0.03, -0.03, 0.01))
    assert _one("abstraction", _runs("denoise", ABSTRACTION_PSNR), ana=ana)["verdict"] == "inconclusive"


def test_secondary_psnr_never_decides():
    """PSNR says the shallow structure restores better (secondary: yes); the information primary says
    the deep levels add 40 % — the verdict follows the primary."""
    v = _one("abstraction", _runs("denoise", ABSTRACTION_PSNR),
             ana=_abstraction_ana(0.40, {"baseline": 1.0, "fix-sampling": 1.3}))
    psnr = next(c for c in v["secondary"] if "2-down-sampling structure alone" in c["question"])
    assert psnr["answer"] == "yes" and v["verdict"] == "absent" and "Secondary (" in v["text"]


def test_image_variance_widens_the_interval():
    """The same per-seed values, decided once with narrow and once with wide image-bootstrap intervals:
    the interval grows by the images' share of the error and the verdict becomes inconclusive."""
    narrow = _one("abstraction", _runs("denoise", ABSTRACTION_PSNR),
                  ana=_abstraction_ana(0.07, {"baseline": 1.0, "fix-sampling": 1.3}, half=0.001))
    wide = _one("abstraction", _runs("denoise", ABSTRACTION_PSNR),
                ana=_abstraction_ana(0.07, {"baseline": 1.0, "fix-sampling": 1.3}, half=0.05))
    assert narrow["verdict"] == "present" and wide["verdict"] == "inconclusive"
    d = wide["decision"]
    assert d["se_images"] == pytest.approx(0.05 / 1.96, rel=0.02)
    assert d["ci_high"] - d["ci_low"] > narrow["decision"]["ci_high"] - narrow["decision"]["ci_low"] + 0.05


def test_unconverged_runs_make_every_verdict_inconclusive():
    v = _one("abstraction", _runs("denoise", ABSTRACTION_PSNR, converged=False),
             ana=_abstraction_ana(0.02, {"baseline": 1.0, "fix-sampling": 1.3}))
    assert v["verdict"] == v["fix"] == "inconclusive (unconverged)"


def test_two_seeds_are_an_illustration():
    v = _one("abstraction", _runs("denoise", ABSTRACTION_PSNR, seeds=(0, 1), spread=(0.0, 0.1)),
             ana=_abstraction_ana(0.02, {"baseline": 1.0, "fix-sampling": 1.3}).query("seed < 2"))
    assert v["verdict"] == "inconclusive" and v["illustration"] is True and "fewer than 3" in v["text"]


# ------------------------------------------------------------------------------ detail
DETAIL_PSNR = {"baseline": 23.0, "baseline+global-residual": 23.2, "no-skip": 20.0, "detail-branch": 23.5}


def _retention(values: dict[str, float], **kw) -> pd.DataFrame:
    return _info("retention", "band0 (1/1)", values, **kw)


@pytest.mark.parametrize("base, verdict", [(0.6, "present"), (1.1, "absent"), (0.9, "inconclusive")])
def test_detail_known_answers(base, verdict):
    spread = (0.05, -0.05, 0.01) if verdict == "inconclusive" else (0.0, 0.01, -0.01)
    ana = pd.concat([_retention({"baseline": base}, spread=spread),
                     _retention({"baseline+global-residual": 0.7, "detail-branch": 0.9, "no-skip": 0.2})])
    v = _one("detail", _runs("denoise", DETAIL_PSNR), ana=ana)
    assert v["verdict"] == verdict and v["fix"] == "reduced"
    (ctrl,) = v["controls"]
    assert ctrl["answer"] == "yes" and "positive control" in ctrl["question"]


def test_the_detail_fix_is_decided_against_the_same_global_residual():
    """The branch with its residual beats the plain baseline, but not the baseline with the residual
    alone: the fix is not credited to the branch."""
    ana = _retention({"baseline": 0.5, "baseline+global-residual": 0.9, "detail-branch": 0.9, "no-skip": 0.2},
                     spread=(0.02, -0.02, 0.0))
    ana.loc[(ana.config == "detail-branch") & (ana.metric == "retention"), "value"] += [0.02, -0.03, 0.01]
    v = _one("detail", _runs("denoise", DETAIL_PSNR), ana=ana)
    assert v["fix"] == "inconclusive" and v["fix_decision"]["mean"] == pytest.approx(0.0, abs=1e-9)
    alone = next(c for c in v["secondary"] if "global residual alone" in c["question"])
    assert alone["answer"] == "yes"


def test_detail_control_never_decides():
    """The no-skip model loses far more detail (control: yes) — the verdict still follows the primary."""
    v = _one("detail", _runs("denoise", DETAIL_PSNR),
             ana=_retention({"baseline": 1.1, "baseline+global-residual": 1.1, "detail-branch": 1.0, "no-skip": 0.2}))
    assert v["controls"][0]["answer"] == "yes" and v["verdict"] == "absent" and v["fix"] == "not reduced"


def test_a_missing_control_or_context_run_does_not_hold_the_verdict_back():
    """A sweep stopped part-way (the grid runs the compared configurations first): missing no-skip
    (control) or depth3 (trend) runs leave the verdict decided and say what is not run yet; a
    missing compared run makes it incomplete."""
    uses = {"detail": {"denoise": ["baseline", "baseline+global-residual", "no-skip", "detail-branch"]},
            "abstraction": {"denoise": ["depth2", "depth3", "baseline", "fix-sampling"]}}
    runs = _runs("denoise", {"baseline": 23.0, "baseline+global-residual": 23.1, "detail-branch": 23.5,
                             "depth2": 24.0, "fix-sampling": 24.5})
    ana = pd.concat([_retention({"baseline": 0.5, "baseline+global-residual": 0.6, "detail-branch": 0.8}),
                     _abstraction_ana(0.02, {"baseline": 1.0, "fix-sampling": 1.3})])
    det, ab = verdicts(runs, pd.DataFrame(), ana, uses)
    assert (det["verdict"], det["fix"]) == ("present", "reduced") and det["missing_runs"] == ["no-skip"]
    (ctrl,) = det["controls"]
    assert ctrl["answer"] == "inconclusive (not run)" and "no-skip" in ctrl["reason"]
    assert "missing runs for ['no-skip'], inconclusive (not run)" in det["text"]
    assert (ab["verdict"], ab["fix"]) == ("present", "reduced") and "Not yet run: depth3" in ab["text"]
    (det,) = verdicts(runs[runs.config != "detail-branch"], pd.DataFrame(), _retention({"baseline": 0.5}),
                      {"detail": uses["detail"]})
    assert det["verdict"] == "present" and det["fix"] == "inconclusive (not run)"
    assert det["reduced"] is None
    assert det["fix_decision"]["reason"] == "missing runs for ['detail-branch']"
    assert math.isnan(det["fix_decision"]["mean"])
    (nothing,) = verdicts(runs[runs.task == "derain"], pd.DataFrame(), pd.DataFrame(), {"detail": {"derain": ["baseline"]}})
    assert nothing["verdict"] == "inconclusive" and nothing["text"] == "incomplete: no runs yet"


def test_a_control_trained_on_its_own_is_reported_without_the_fix_it_is_not_compared_with():
    """``reproduce --configs baseline l1-only``: the gradients problem's L1-only control and baseline
    without LSGAN. The presence test (baseline alone) is decided, the fix is not run, and the effect of
    the adversarial term (baseline − L1-only) is measured on both axes, per seed."""
    runs, met, ana = _grad_tables({"baseline": 0.001})
    keep = runs.config.isin(["baseline", "l1-only"])
    (v,) = verdicts(runs[keep], met[met.config == "baseline"], ana, {"gradients": {"denoise": [
        "baseline", "lsgan", "hinge", "wgangp", "relativistic", "rebalanced", "l1-only"]}})
    assert v["verdict"] == "present" and v["fix"] == "inconclusive (not run)"
    assert "missing runs for ['lsgan']" in v["fix_decision"]["reason"]
    psnr, swd = v["effects"]
    assert psnr["mean"] == pytest.approx(-1.0) and psnr["n_seeds"] == 3  # baseline 23 dB, L1-only 24 dB
    assert swd["mean"] == pytest.approx(-20.0)  # SWD 40 vs 60: the GAN term is more realistic
    secondary = [c for c in v["controls"] if c["question"].startswith("secondary")]
    assert secondary and all(c["answer"] == "inconclusive (not run)" for c in secondary)


# ------------------------------------------------------------------------------ gradients
def _grad_tables(ratio: dict[str, float], minimax_retained: float = 0.001, d_won: float = 1.0,
                 jsd: dict[str, float] | None = None):
    """``jsd``: the probe D's final JSD bound (nats) per configuration (default: the baseline's D knows
    0.68 of log 2 = 0.69 nats, LSGAN's 0.3)."""
    jsd = jsd or {"baseline": 0.68, "lsgan": 0.3}
    cfgs = ["baseline", "lsgan", "hinge", "wgangp", "relativistic", "rebalanced", "l1-only"]
    runs = _runs("denoise", {c: 23.0 for c in cfgs} | {"l1-only": 24.0},
                 swd={c: 40.0 for c in cfgs} | {"l1-only": 60.0})
    met = pd.DataFrame([{"task": "denoise", "config": c, "seed": s, "step": st, "split": "gradients",
                         "metric": "grad_ratio_adv_content", "value": ratio.get(c, 0.05) * (1 + 0.05 * s),
                         "layer": float("nan")} for c in cfgs if c != "l1-only" for s in SEEDS for st in (50, 100)])
    ana = []
    for s in SEEDS:
        for k, v in zip((0, 1, 2, 4), [0.1, 0.4, 0.05, minimax_retained * 0.4]):
            ana.append({"task": "denoise", "config": "baseline", "seed": s, "step": k, "split": "d_probe",
                        "layer": "saturating", "metric": "grad_ratio_adv_content", "value": v})
            ana.append({"task": "denoise", "config": "baseline", "seed": s, "step": k, "split": "d_probe",
                        "layer": "saturating", "metric": "d_saturated_fraction", "value": d_won * k / 4})
        for c, j in jsd.items():
            loss = "lsgan" if c == "lsgan" else "vanilla"
            for k, f in ((0, 0.1), (4, 1.0)):
                ana.append({"task": "denoise", "config": c, "seed": s, "step": k, "split": "d_probe", "layer": loss,
                            "metric": "grad_ratio_adv_content", "value": 0.1})
                ana.append({"task": "denoise", "config": c, "seed": s, "step": k, "split": "d_probe", "layer": loss,
                            "metric": "jsd_lower_bound", "value": f * j + 0.002 * s})
    return runs, met, pd.DataFrame(ana)


@pytest.mark.parametrize("jsd, verdict, fixed", [
    ({"baseline": 0.68, "lsgan": 0.3}, "present", "reduced"),
    ({"baseline": 0.2, "lsgan": 0.4}, "absent", "not reduced"),
])
def test_gradients_known_answers(jsd, verdict, fixed):
    runs, met, ana = _grad_tables({"baseline": 0.2, "lsgan": 0.05}, jsd=jsd)
    v = _one("gradients", runs, met, ana)
    assert (v["verdict"], v["fix"]) == (verdict, fixed)
    assert v["decision"]["quantity"] == "probe_jsd" and v["decision"]["unit"] == "nats"


def test_gradients_inconclusive_near_the_threshold():
    thr = 0.9 * math.log(2)
    runs, met, ana = _grad_tables({"baseline": 0.01, "lsgan": 0.05}, jsd={"baseline": thr, "lsgan": 0.3})
    assert _one("gradients", runs, met, ana)["verdict"] == "inconclusive"


def test_minimax_vanishing_is_a_control_not_the_verdict():
    """The textbook minimax form vanishes (control: yes), a winning D knows little: absent."""
    runs, met, ana = _grad_tables({"baseline": 0.2, "lsgan": 0.3}, minimax_retained=0.001,
                                  jsd={"baseline": 0.2, "lsgan": 0.1})
    v = _one("gradients", runs, met, ana)
    minimax = next(c for c in v["controls"] if "minimax" in c["question"])
    assert minimax["answer"] == "yes" and minimax["mean"] == pytest.approx(0.001)
    assert v["verdict"] == "absent"


@pytest.mark.parametrize("d_won, answer", [(0.97, "yes"), (0.3, "no")])
def test_the_probe_reports_whether_its_discriminator_won(d_won, answer):
    """The positive control can only fire against a D that won: the instrument check says whether it
    did (final saturated fraction vs 0.9), beside the control — and neither touches the verdict."""
    runs, met, ana = _grad_tables({"baseline": 0.001, "lsgan": 0.05}, minimax_retained=0.5, d_won=d_won)
    v = _one("gradients", runs, met, ana)
    check = next(c for c in v["controls"] if "instrument check" in c["question"])
    assert check["answer"] == answer and check["mean"] == pytest.approx(d_won)
    assert next(c for c in v["controls"] if "minimax" in c["question"])["answer"] == "no"
    assert (v["verdict"], v["fix"]) == ("present", "reduced")


def test_what_the_adversarial_term_adds_is_reported():
    runs, met, ana = _grad_tables({"baseline": 0.001, "lsgan": 0.05})
    v = _one("gradients", runs, met, ana)
    psnr, swd = v["effects"]
    assert psnr["mean"] == pytest.approx(-1.0) and psnr["answer"] == "no"  # the GAN costs 1 dB ...
    assert swd["mean"] == pytest.approx(-20.0) and swd["answer"] == "yes"  # ... and buys realism


# ------------------------------------------------------------------------------ Holm
def test_holm_adjusts_a_family_and_only_removes_answers():
    from infoflow.experiments.problems.decision import holm

    c = Comparison("q", "psnr", a="fix", b="base")
    base = {k: 20.0 for k in range(3)}
    strong = decide(c, {"fix": {0: 21.0, 1: 21.1, 2: 20.9}, "base": base}.__getitem__)
    weak = decide(c, {"fix": {0: 20.5, 1: 20.3, 2: 20.7}, "base": base}.__getitem__)  # t = 4.33, p = 0.049
    null = decide(c, {"fix": {0: 20.5, 1: 19.5, 2: 20.1}, "base": base}.__getitem__)
    assert (strong.answer, weak.answer, null.answer) == ("yes", "yes", "inconclusive")
    ps = sorted([strong.p_value, weak.p_value, null.p_value])
    holm([strong, weak, null])
    # Holm's step-down: the smallest p times 3, the next times 2 (never below the one before), the last times 1
    assert strong.p_holm == pytest.approx(min(1, 3 * ps[0]))
    assert weak.p_holm == pytest.approx(max(strong.p_holm, min(1, 2 * ps[1])))
    assert null.p_holm == pytest.approx(max(weak.p_holm, ps[2]))
    assert strong.holm_answer == "yes"
    assert weak.p_holm > 0.05 and weak.holm_answer == "inconclusive (Holm)"  # survives alone, not in the family
    assert null.holm_answer == "inconclusive"


def test_verdicts_carry_the_holm_adjusted_decision():
    runs, met, ana = _grad_tables({"baseline": 0.001, "lsgan": 0.05})
    v = _one("gradients", runs, met, ana)
    assert v["verdict_holm"] == "present" and v["holm_family"] == 2
    assert v["decision"]["p_holm"] >= v["decision"]["p_value"] and "Holm–Bonferroni" in v["text"]


def test_every_problem_preregisters_its_comparisons():
    for p in PROBLEMS.values():
        assert p.present is not None and p.fix is not None
        cfgs = p.configs("standard")
        for c in (p.present, p.fix, *p.controls, *p.secondary):
            assert c.a in cfgs and (c.b is None or c.b in cfgs), (p.name, c)
        assert not math.isnan(p.present.threshold)


def test_classical_sentence_places_every_configuration():
    from infoflow.experiments.report.tables import classical_sentences

    runs = _runs("denoise", {"baseline": 25.0, "l1-only": 27.0})
    cl = pd.DataFrame([{"task": "denoise", "method": "bm3d", "status": "scored", "final_psnr": 26.0, "images": 12},
                       {"task": "denoise", "method": "nlm", "status": "not installed", "note": "x"}])
    (s,) = classical_sentences(runs, cl).values()
    assert "1 of 2 configurations are above it" in s and "l1-only +1.30 ± 0.35" in s and "baseline -0.70 ± 0.35" in s
    assert "nlm: not installed" in s


def test_a_verdict_is_a_dataclass_that_reads_like_its_json_row():
    import json

    from infoflow.experiments.report import Verdict

    runs = _runs("denoise", {"baseline": 23.0, "baseline+global-residual": 23.1, "detail-branch": 23.5})
    ana = _retention({"baseline": 0.5, "baseline+global-residual": 0.6, "detail-branch": 0.8})
    (v,) = verdicts(runs, pd.DataFrame(), ana, {"detail": {"denoise": ["baseline", "baseline+global-residual",
                                                                       "detail-branch"]}})
    assert isinstance(v, Verdict) and v.decision is not None and v.decision.comparison.quantity == v["decision"]["quantity"]
    row = v.as_dict()
    assert json.loads(json.dumps(row, default=str))["verdict"] == v.verdict == v["verdict"]
    assert v.present == row["present"] and v.illustration == (v.n_seeds < 3) and dict(v) == row
    assert v.verdict_holm is not None and v["holm_family"] >= 2


def test_the_interval_excludes_the_threshold_exactly_when_p_is_below_alpha():
    """One reference for both (Welch–Satterthwaite t): a decision's interval and the p-value Holm adjusts
    never disagree, with or without an image error; without one it is the Student-t interval."""
    from infoflow.experiments.problems.decision import combined_se

    rng = np.random.default_rng(0)
    c = Comparison("q", "x", a="fix", b="base")
    disagreements, decided = 0, 0
    for _ in range(400):
        n = int(rng.integers(3, 8))
        diff = rng.normal(rng.normal(0, 0.3), rng.uniform(0.01, 0.5), n)
        se = float(rng.choice([math.nan, rng.uniform(0.001, 0.4)]))
        vals = {"fix": dict(enumerate(diff)), "base": {k: 0.0 for k in range(n)}}
        ses = {"fix": {k: se for k in range(n)}, "base": {k: 0.0 for k in range(n)}}
        d = decide(c, vals.__getitem__, image_se=ses.__getitem__)
        excluded = d.low > 0 or d.high < 0
        decided += excluded
        disagreements += excluded != (d.p_value < 0.05)
    assert disagreements == 0 and 50 < decided < 350  # both outcomes occur
    assert combined_se(0.2, math.nan, 5) == (0.2, 4.0) and combined_se(0.2, 0.0, 5) == (0.2, 4.0)
    se, dof = combined_se(0.1, 0.1, 5)
    assert se == pytest.approx(math.sqrt(0.02)) and dof == pytest.approx(4 * 4.0)  # (se²/se_seed²)² = 4
    assert combined_se(0.0, 0.1, 5) == (0.1, math.inf)  # only the images' error: the normal interval


def _published(task: str, p_present: float, p_fix: float, answers=("yes", "inconclusive")) -> dict:
    """A verdict row as a published sweep's verdicts.json holds it (its own Holm sentence at the end)."""
    return {"problem": "detail", "task": task, "verdict": "present", "fix": "inconclusive", "source": "pub",
            "decision": {"answer": answers[0], "p_value": p_present, "p_holm": p_present},
            "fix_decision": {"answer": answers[1], "p_value": p_fix, "p_holm": None},
            "verdict_holm": "present", "fix_holm": "inconclusive", "holm_family": 2,
            "text": "Detail loss is present. Holm–Bonferroni over the sweep's 2 primary decisions: verdict PRESENT."}


def test_a_published_sweep_joins_the_holm_family_and_is_readjusted_with_it():
    """Holm over this sweep's two primaries and a published sweep's two: the step-down over all four
    p-values, by construction; the published rows carry the new adjustment, not their old one."""
    runs, met, ana = _grad_tables({"baseline": 0.001, "lsgan": 0.05})
    alone = verdicts(runs, met, ana, {"gradients": {"denoise": sorted(set(runs.config))}})[0]
    joint = [_published("derain", 0.001, None),  # a null p (standard JSON's NaN): not in the family
             _published("dehaze", 0.2, 0.3, answers=("inconclusive", "inconclusive"))]
    v = verdicts(runs, met, ana, {"gradients": {"denoise": sorted(set(runs.config))}}, joint)[0]
    own = [alone.decision.p_value, alone.fix_decision.p_value]
    ps = sorted([*own, 0.001, 0.2, 0.3])
    expect, running = {}, 0.0
    for i, p in enumerate(ps):  # Holm's step-down by hand
        running = max(running, min(1.0, (len(ps) - i) * p))
        expect.setdefault(p, running)
    assert v["holm_family"] == 5 and alone["holm_family"] == 2
    assert v["decision"]["p_holm"] == pytest.approx(expect[alone.decision.p_value])
    assert v["decision"]["p_holm"] >= alone["decision"]["p_holm"]  # a bigger family only removes answers
    derain, dehaze = joint
    assert derain["decision"]["p_holm"] == pytest.approx(expect[0.001]) and derain["holm_family"] == 5
    assert derain["verdict_holm"] == ("present" if expect[0.001] < 0.05 else "inconclusive (Holm)")
    assert derain["fix_decision"]["p_holm"] != derain["fix_decision"]["p_holm"]  # NaN: no p, no adjustment
    assert dehaze["decision"]["p_holm"] == pytest.approx(expect[0.2]) and dehaze["verdict_holm"] == "inconclusive"
    assert derain["text"].count("Holm–Bonferroni") == 1 and "over the 5 primary decisions" in derain["text"]
    assert "of this sweep (2) and of pub (3)" in v["text"]


def test_a_problem_and_task_decided_twice_is_refused():
    runs, met, ana = _grad_tables({"baseline": 0.001, "lsgan": 0.05})
    clash = _published("denoise", 0.01, 0.5)
    clash["problem"] = "gradients"
    with pytest.raises(ValueError, match="decided once"):
        verdicts(runs, met, ana, {"gradients": {"denoise": sorted(set(runs.config))}}, [clash])


def test_load_published_names_what_is_wrong(tmp_path):
    from infoflow.experiments.report.verdicts import load_published

    with pytest.raises(FileNotFoundError, match="no verdicts.json"):
        load_published(tmp_path)
    (tmp_path / "verdicts.json").write_text('{"problem": "detail"}')
    with pytest.raises(ValueError, match="not a list of verdicts"):
        load_published(tmp_path)
    (tmp_path / "verdicts.json").write_text('[{"problem": "detail", "task": "derain"}]')
    assert load_published(tmp_path) == [{"problem": "detail", "task": "derain", "source": str(tmp_path)}]
