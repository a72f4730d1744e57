"""The fused CPU kernel of the KDE bounds equals the plain formula (full distance matrix +
logsumexp) to 1e-9, whatever the size, dimension, duplicates and grouping."""
import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from infoflow.infotheory import estimate_mi
from infoflow.infotheory.estimators import _pairwise_exp
from infoflow.infotheory.estimators.kde import _torch_mixture_term, pairwise_mixture_term

pytestmark = pytest.mark.skipif(not _pairwise_exp.available(), reason="numba not installed")


def plain(t: np.ndarray, c: float, groups: np.ndarray | None = None) -> float:
    """-mean_i log mean_{j in g(i)} exp(-||t_i - t_j||²/c), the textbook way."""
    d2 = ((t[:, None, :] - t[None, :, :]) ** 2).sum(-1)
    if groups is not None:
        d2 = np.where(groups[:, None] == groups[None, :], d2, np.inf)
        logn = np.log(np.bincount(groups)[groups])
    else:
        logn = math.log(len(t))
    return float(-(logsumexp(-d2 / c, axis=1) - logn).mean())


@pytest.mark.parametrize("n, d", [(1, 1), (2, 3), (517, 1), (333, 64), (1000, 7)])
def test_fused_kernel_equals_the_plain_formula(n, d):
    rng = np.random.default_rng(n + d)
    t = rng.standard_normal((n, d))
    if n > 10:
        t[5] = t[3]  # duplicate rows: zero distance off the diagonal
        t[7] = t[3]
    widths = (0.2, 0.8, 0.05)  # the widest divided by 4 and by 16: one exp, squared
    got = pairwise_mixture_term(torch.from_numpy(t), widths)
    for g, c in zip(got, widths):
        assert g == pytest.approx(plain(t, c), rel=1e-9, abs=1e-12)


def test_fused_kernel_with_groups_and_threads():
    rng = np.random.default_rng(1)
    t = rng.standard_normal((401, 4))
    groups = rng.integers(0, 5, size=401)
    for threads in (1, 2):
        sums = _pairwise_exp.kernel_row_sums(t, (0.5, 2.0), groups, n_threads=threads)
        for k, c in enumerate((0.5, 2.0)):
            d2 = ((t[:, None] - t[None]) ** 2).sum(-1)
            ref = np.where(groups[:, None] == groups[None], np.exp(-d2 / c), 0.0).sum(1)
            np.testing.assert_allclose(sums[k], ref, rtol=1e-12)
    got = pairwise_mixture_term(torch.from_numpy(t), (0.5, 2.0), torch.from_numpy(groups))
    assert got[0] == pytest.approx(plain(t, 0.5, groups), rel=1e-9)


def test_widths_that_are_not_powers_of_two_apart_fall_back_to_torch():
    t = np.random.default_rng(2).standard_normal((300, 3))
    assert _pairwise_exp.kernel_row_sums(t, (1.0, 0.3)) is None
    got = pairwise_mixture_term(torch.from_numpy(t), (1.0, 0.3))
    assert got == pytest.approx([plain(t, 1.0), plain(t, 0.3)], rel=1e-9)


def test_the_estimator_uses_it_and_keeps_its_values():
    rng = np.random.default_rng(3)
    y = rng.standard_normal((700, 6))
    e = estimate_mi(np.arange(700), y, method="kde", discrete=(True, False), noise_variance=0.1, dtype="float64")
    t = torch.from_numpy(y - y.mean(0))
    kl, bd = _torch_mixture_term(t, (0.2, 0.8), None, 2048)
    assert e.upper == pytest.approx(kl, rel=1e-9) and e.lower == pytest.approx(bd, rel=1e-9)
