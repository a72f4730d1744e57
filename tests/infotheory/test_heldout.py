"""The held-out NWJ bound by which ``auto`` ranks dependence models, against closed-form MI."""
import math

import numpy as np
import pytest

from infoflow.infotheory import distributions as D
from infoflow.infotheory.estimators._heldout import gaussian_pmi, heldout_nwj, product_shifts
from infoflow.infotheory.estimators.copula import copula_pmi, rank_uniform


def _split(gt, dx):
    w = np.hstack([gt.x, gt.y])
    return w[:3000], w[3000:, :dx], w[3000:, dx:]


def test_the_true_models_critic_gives_the_mi_and_a_wrong_one_less():
    gt = D.correlated_gaussian(6000, 3, 3, 1.0, seed=11)
    train, a, b = _split(gt, 3)
    shifts = product_shifts(len(a), 10, seed=0)
    terms = heldout_nwj(gaussian_pmi(train, 3), a, b, shifts)
    se = terms.std(ddof=1) / math.sqrt(len(terms))
    assert abs(terms.mean() - gt.mi) < max(0.05, 3 * se), terms.mean()
    doubled = heldout_nwj(lambda p, q: 2 * gaussian_pmi(train, 3)(p, q), a, b, shifts)
    assert doubled.mean() < terms.mean() - 0.2  # an over-confident critic is penalised by the product term
    assert np.array_equal(heldout_nwj(lambda p, q: np.zeros(len(p)), a, b, shifts), np.zeros(len(a)))  # T=0: 0


def test_copula_critic_is_the_pmi_of_the_gaussian_and_t_copulas():
    gt = D.warp(D.correlated_gaussian(6000, 2, 2, 1.0, seed=12), "exp")  # a warp leaves the copula Gaussian
    u = rank_uniform(np.hstack([gt.x, gt.y]))
    r = np.eye(4)
    r[0, 2] = r[2, 0] = r[1, 3] = r[3, 1] = D.rho_for_mi(1.0, 2)  # the generating correlation
    shifts = product_shifts(3000, 10, seed=0)
    bound = heldout_nwj(copula_pmi(r, math.inf, 2), u[3000:, :2], u[3000:, 2:], shifts).mean()
    assert abs(bound - gt.mi) < 0.07, bound
    t = D.student_t(6000, 1, 1, nu=3, rho=0.5, seed=13)  # one coordinate a side: no block copulas
    ut = rank_uniform(np.hstack([t.x, t.y]))
    rt = np.array([[1.0, 0.5], [0.5, 1.0]])
    bt = heldout_nwj(copula_pmi(rt, 3.0, 1), ut[3000:, :1], ut[3000:, 1:], shifts).mean()
    bg = heldout_nwj(copula_pmi(rt, math.inf, 1), ut[3000:, :1], ut[3000:, 1:], shifts).mean()
    assert abs(bt - t.mi) < 0.07 and bt > bg + 0.03, (bt, bg, t.mi)  # tail dependence: the t critic is better


def test_product_shifts_never_pair_a_sample_with_itself():
    s = product_shifts(50, 10, seed=3)
    assert len(set(s.tolist())) == 10 and s.min() >= 1 and s.max() <= 49
    assert len(product_shifts(4, 10, seed=0)) == 3  # capped at m - 1
    with pytest.raises(ValueError, match="at least 2 held-out"):
        product_shifts(1, 10, seed=0)
