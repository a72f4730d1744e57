"""KSG's two neighbour searches (k-d trees, the compiled all-pairs sweep) give the same value,
and the sweep's kernels count exactly what a plain numpy computation counts."""
import math

import numpy as np
import pytest

from infoflow.infotheory import estimate_mi
from infoflow.infotheory.estimators import KSGEstimator
from infoflow.infotheory.estimators import _chebyshev as cheb

pytestmark = pytest.mark.skipif(not cheb.available(), reason="numba not installed")


def numpy_reference(a, k):
    d = np.abs(a[:, None, :] - a[None, :, :]).max(axis=2)  # all pairs, max-norm
    return np.sort(d, axis=1)[:, k]


@pytest.mark.parametrize("n,d", [(300, 1), (257, 3), (400, 12)])  # 257: a partial last block of rows
def test_kernels_match_numpy(n, d):
    rng = np.random.default_rng(n + d)
    a = rng.standard_normal((n, d))
    eps = cheb.kth_distance(a, 3)
    assert np.array_equal(eps, numpy_reference(a, 3))
    full = np.abs(a[:, None, :] - a[None, :, :]).max(axis=2)
    r = eps * rng.uniform(0.5, 1.5, n)
    assert np.array_equal(cheb.count_closer(a, r), (full < r[:, None]).sum(axis=1))
    assert np.array_equal(cheb.count_closer(a, r, n_threads=2), cheb.count_closer(a, r))


@pytest.mark.parametrize("dx,dy", [(1, 1), (2, 3), (5, 5), (10, 10), (1, 12)])
def test_brute_and_tree_give_the_same_value(dx, dy):
    rng = np.random.default_rng(dx * 10 + dy)
    x = rng.standard_normal((1500, dx))
    y = 0.5 * np.tile(x, (1, math.ceil(dy / dx)))[:, :dy] + rng.standard_normal((1500, dy))
    brute = estimate_mi(x, y, "ksg", algorithm="brute")
    tree = estimate_mi(x, y, "ksg", algorithm="tree", workers=1)
    assert brute.value == tree.value and brute.details["neighbour_search"] == "brute"


def test_auto_uses_the_sweep_in_many_dimensions_and_reaches_the_truth():
    rng = np.random.default_rng(0)
    rho, d = 0.5, 4  # four independent pairs: I = -d/2 log(1 - rho^2) = 0.575 nats
    x = rng.standard_normal((4000, d))
    y = rho * x + math.sqrt(1 - rho**2) * rng.standard_normal((4000, d))
    r = estimate_mi(x, y, "ksg")
    assert r.details["neighbour_search"] == "brute" and r.params["algorithm"] == "auto"
    assert r.value == estimate_mi(x, y, "ksg", algorithm="tree").value
    assert abs(r.value - (-d / 2 * math.log(1 - rho**2))) < 0.1, r.value  # KSG's own bias is small at 8-D
    low = estimate_mi(x[:, :2], y[:, :2], "ksg")
    assert low.details["neighbour_search"] == "tree"
    assert KSGEstimator().resolve_algorithm(100_000, 20) == "tree"  # O(n²) beyond its range


def test_bad_algorithm_is_named():
    with pytest.raises(ValueError, match="algorithm='kd'"):
        KSGEstimator(algorithm="kd")
