"""The bootstrap's resampled copula MI against the copula estimator on the materialised draw."""
import numpy as np
import pytest

from infoflow.infotheory import distributions as D
from infoflow.infotheory import estimate_mi
from infoflow.infotheory.estimators.copula_resample import CopulaResampler


def _draw(rng, n):
    w = np.bincount(rng.integers(n, size=n), minlength=n)
    return w, np.repeat(np.arange(n), w)


@pytest.mark.parametrize("quantise", [False, True], ids=["continuous", "ties"])
def test_a_weighted_draw_is_the_materialised_draw(quantise):
    gt = D.correlated_gaussian(600, 3, 2, 0.7, seed=1)
    x, y = gt.x, gt.y
    if quantise:  # ties within the pool as well as between repeated rows
        x, y = np.round(x * 2) / 2, np.round(y * 2) / 2
    res = CopulaResampler(x, y)
    rng = np.random.default_rng(0)
    for _ in range(5):
        w, rows = _draw(rng, len(x))
        want = estimate_mi(x[rows], y[rows], method="copula", family="gaussian").value
        assert res.mi(w) == pytest.approx(want, abs=1e-10)
    assert res.mi(np.ones(len(x), int)) == pytest.approx(
        estimate_mi(x, y, method="copula", family="gaussian").value, abs=1e-10)


def test_constant_coordinates_of_a_draw_are_dropped_and_errors_name_the_problem():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 2))
    y = np.hstack([x[:, :1] + 0.3 * rng.standard_normal((50, 1)), np.zeros((50, 1))])
    y[0, 1] = 5.0  # the second y coordinate varies only in row 0
    res = CopulaResampler(x, y)
    w = np.ones(50, int)
    w[0] = 0  # a draw without row 0: that coordinate is constant there, and dropped
    rows = np.flatnonzero(w)
    assert res.mi(w) == pytest.approx(estimate_mi(x[rows], y[rows, :1], method="copula", family="gaussian").value,
                                      abs=1e-10)
    assert CopulaResampler(x, np.zeros((50, 1))).mi(np.ones(50, int)) == 0.0
    with pytest.raises(ValueError, match="non-negative integers"):
        res.mi(np.full(50, 0.5))
    with pytest.raises(ValueError, match="non-negative integers"):
        res.mi(np.ones(49, int))
    with pytest.raises(ValueError, match="too few samples"):
        res.mi(np.r_[np.ones(3, int), np.zeros(47, int)])


def test_the_depth_bootstrap_ranks_its_draws_from_weights(monkeypatch):
    # information_along_depth's bootstrap std with the Gaussian copula: the same draws, the same std,
    # whether each draw is re-estimated or ranked from the sorted columns
    from infoflow.infotheory import depth

    gt = D.correlated_gaussian(400, 2, 2, 0.8, seed=4)
    fast = depth._bootstrap_std(gt.x, gt.y, "copula", {"family": "gaussian"}, 15, 0)
    assert CopulaResampler.serves("copula", {"family": "gaussian"}) and not CopulaResampler.serves("copula", {})
    monkeypatch.setattr(CopulaResampler, "serves", staticmethod(lambda *a: False))
    slow = depth._bootstrap_std(gt.x, gt.y, "copula", {"family": "gaussian"}, 15, 0)
    assert fast == pytest.approx(slow, rel=1e-8) and fast > 0
