"""Coordinates that are monotone functions of others (equal or reversed ranks): the rank-based
estimators must answer, not fail inside a matrix inverse or return NaN.

By construction: a repeat within one side leaves I(X;Y) unchanged (I(X; (Z, f(Z))) = I(X; Z) for
injective f), so the estimate must equal the one without it; a repeat across the sides is a
deterministic relation (infinite MI for continuous variables), so the estimate must be flagged
``saturated`` at the capped value, as the ``gaussian`` method does."""
import math

import numpy as np
import pytest

from infoflow.infotheory import estimate_mi
from infoflow.infotheory.estimators.copula import rank_twins, rank_uniform
from infoflow.infotheory.estimators.copula_resample import CopulaResampler

RHO = 0.8
TRUE_MI = -0.5 * math.log(1 - RHO**2)


def _pair(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n)
    return a, RHO * a + math.sqrt(1 - RHO**2) * rng.standard_normal(n), rng


def test_rank_twins_finds_equal_and_reversed_ranks_with_ties():
    a, b, rng = _pair(300)
    q = np.round(a * 2) / 2  # ties: the twins must share them
    u = rank_uniform(np.c_[q, np.exp(q), b, -(q**3), rng.standard_normal(300)])
    t = rank_twins(u, dx=2)
    assert t.within == (("x", 1, 0),)
    assert t.across == ((0, 1),)  # y[1] = -q³ reverses x[0]'s ranks
    assert t.keep.tolist() == [0, 2, 3, 4] and t.dx == 1
    t = rank_twins(rank_uniform(np.c_[a, b, a**3, -a]), dx=2)  # y's second copy of x[0] is a repeat in y
    assert t.across == ((0, 0),) and t.within == (("y", 1, 0),) and t.keep.tolist() == [0, 1, 2]
    none = rank_twins(rank_uniform(np.c_[a, b]), dx=1)
    assert none.within == () and none.across == () and none.keep.tolist() == [0, 1]


@pytest.mark.parametrize("method", ["copula", "auto"])
def test_a_repeat_within_a_side_is_dropped_and_the_value_unchanged(method):
    a, b, _ = _pair()
    alone = estimate_mi(a, b, method=method, progress=False) if method == "auto" else estimate_mi(a, b, method=method)
    kw = {"progress": False} if method == "auto" else {}
    twin = estimate_mi(np.c_[a, a**3], np.c_[b, -b], method=method, **kw)
    assert np.isfinite(twin.value) and not twin.saturated
    assert twin.value == pytest.approx(alone.value, abs=1e-9)
    assert twin.value == pytest.approx(TRUE_MI, abs=0.05)
    where = twin.details if method == "copula" else {"dropped": twin.details["reason"]}
    assert "x[1]" in str(where["dropped"]) and "y[1]" in str(where["dropped"])


@pytest.mark.parametrize("method, relation", [
    ("copula", lambda a: a**3), ("copula", lambda a: -a), ("auto", lambda a: a**3), ("auto", lambda a: -a),
    ("gaussian", lambda a: -a)], ids=["copula-monotone", "copula-reversed", "auto-monotone", "auto-reversed",
                                      "gaussian-linear"])
def test_a_deterministic_relation_across_the_sides_is_saturated(method, relation):
    a, b, _ = _pair(1000)
    kw = {"progress": False} if method == "auto" else {}
    est = estimate_mi(np.c_[a, b], relation(a), method=method, **kw)
    assert est.saturated and np.isfinite(est.value)
    assert est.value > 10.0  # the cap: a canonical correlation of 1 − 1e-12 gives 13.5 nats
    if method != "gaussian":
        text = str(est.details.get("deterministic", est.details.get("reason")))
        assert "x[0]" in text and "y[0]" in text


def test_a_many_to_one_relation_is_finite_not_saturated():
    a, b, _ = _pair(1000)  # y = round(x): a function of x, not one-to-one; I = H(y), finite
    est = estimate_mi(np.c_[a, b], np.round(a, 1), method="copula")
    assert not est.saturated and 2.0 < est.value < 10.0 and "deterministic" not in est.details


def test_the_hint_names_the_columns_as_given_after_a_dropped_repeat():
    a, b, _ = _pair(400)
    q = np.round(a * 2) / 2  # x[2] takes few values and determines y[0]; x[1] repeats x[0] and is dropped
    hint = (f"y[0] is a monotone function of x[2] (it takes {len(np.unique(q))} distinct values: if discrete, "
            "pass integer labels)")
    est = estimate_mi(np.c_[a, a**3, q, b], np.exp(q), method="copula")
    assert est.saturated and est.details["dropped"] == ["x[1] repeats x[0]"]
    assert est.details["deterministic"] == [hint]
    auto = estimate_mi(np.c_[a, a**3, q, b], np.exp(q), progress=False)
    assert auto.saturated and hint in auto.details["reason"] and "x[1] dropped" in auto.details["reason"]


def test_a_discrete_valued_relation_says_to_pass_labels():
    x = np.tile([1.0, 2.0, 3.0, 4.0], 50)
    est = estimate_mi(x, np.where(x == 4.0, 5.0, x), progress=False)
    assert est.saturated and "integer labels" in est.details["reason"]
    labels = estimate_mi(x.astype(int), np.where(x == 4.0, 5, x).astype(int))
    assert labels.value == pytest.approx(math.log(4), abs=0.02)  # what the hint leads to


def test_the_resampler_handles_twins_as_the_estimator_does():
    a, b, rng = _pair(400)
    w = np.bincount(rng.integers(400, size=400), minlength=400)
    rows = np.repeat(np.arange(400), w)
    cases = {"within": (np.c_[a, np.exp(a)], b[:, None]), "across": (np.c_[a, b], a[:, None] ** 3)}
    for name, (x, y) in cases.items():
        res = CopulaResampler(x, y)
        for weights, r in ((np.ones(400, int), slice(None)), (w, rows)):
            got = res.mi(weights)
            want = estimate_mi(x[r], y[r], method="copula", family="gaussian").value
            assert np.isfinite(got), name
            assert got == pytest.approx(want, abs=1e-8), name
