"""``auto``'s pairwise check of the elliptical copula in many dimensions: it warns where a pair's
dependence contradicts the model, by construction, and stays silent on elliptical truths."""
import warnings

import numpy as np
import pytest

from infoflow.infotheory import distributions as D
from infoflow.infotheory import NonEllipticalWarning, estimate_mi
from infoflow.infotheory.estimators._pair_check import pair_check
from infoflow.infotheory.estimators.copula import rank_uniform

N = 3000


def _auto_quietly(gt, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = estimate_mi(gt.x, gt.y, **kw)
    return est, [w for w in caught if issubclass(w.category, NonEllipticalWarning) or "contradicted" in str(w.message)]


@pytest.mark.parametrize("gt", [
    D.correlated_gaussian(N, 10, 10, 1.0, seed=1),
    D.student_t(N, 10, 10, nu=4, rho=0.3, seed=2),  # tail dependence: the t term of the pair model matters
    D.warp(D.sparse_gaussian(N, 15, 15, 1.0, pairs=2, seed=3), "sigmoid"),
    D.correlated_gaussian(1000, 12, 12, 0.0, seed=4),  # independent, fewer samples: wider KSG errors
], ids=["gaussian", "student-t", "warped-sparse", "independent-n1000"])
def test_no_warning_where_the_truth_is_elliptical(gt):
    est, caught = _auto_quietly(gt)
    check = est.details["pair_check"]
    d = gt.x.shape[1] + gt.y.shape[1]
    assert check["of"] == d * (d - 1) // 2 and check["pairs"] == min(100, check["of"])  # the fast budget's
    assert check["contradicting"] == 0, check["worst"]
    assert not caught and "warning" not in est.details
    assert abs(est.value - gt.mi) < 0.1  # and the value it vouches for is right


def test_warns_on_a_shear_and_names_the_pair_it_bends():
    # x'_1 = x_1 + sin(2 x'_0): a non-monotone link inside each side that no correlation captures
    gt = D.shear(D.correlated_gaussian(N, 10, 10, 1.0, seed=36))
    with pytest.warns(NonEllipticalWarning, match=r"contradicted by \d+ of the 190 coordinate pairs"):
        est = estimate_mi(gt.x, gt.y, budget="thorough", flow=False)
    check = est.details["pair_check"]
    assert check["pairs"] == 190 and check["contradicting"] >= 1
    assert check["worst"][0]["pair"] in ([0, 1], [10, 11])  # the first link of x's chain or of y's
    assert check["worst"][0]["ksg"] > check["worst"][0]["model"] + 0.1
    assert "x[0]-x[1]" in est.details["warning"] or "y[0]-y[1]" in est.details["warning"]
    assert est.details["chosen"] == "copula" and est.value < gt.mi - 0.3  # the value it cannot vouch for


def test_pair_check_switch_limits_and_errors():
    gt = D.shear(D.correlated_gaussian(N, 10, 10, 1.0, seed=36))
    est, caught = _auto_quietly(gt, pair_checks=0)
    assert "pair_check" not in est.details and not caught
    low = D.shear(D.correlated_gaussian(N, 2, 2, 1.0, seed=36))  # low dimension: KSG checks the whole joint
    assert "pair_check" not in _auto_quietly(low, flow=False)[0].details
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="pair_checks"):
            estimate_mi(gt.x, gt.y, pair_checks=bad)
    with pytest.raises(ValueError, match="pair_tol"):
        estimate_mi(gt.x, gt.y, pair_tol=-0.1)
    u = rank_uniform(np.hstack([gt.x, gt.y]))
    few = pair_check(u, np.inf, max_pairs=20, max_samples=1000, seed=1)
    assert few["pairs"] == 20 and few["of"] == 190
    assert pair_check(u, np.inf, max_pairs=20, max_samples=1000, seed=1) == few  # seeded
    with pytest.raises(ValueError, match="at least 2 columns"):
        pair_check(u[:, :1], np.inf)
