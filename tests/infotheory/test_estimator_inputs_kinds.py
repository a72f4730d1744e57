"""Estimators right on every kind of input: mixed KSG at any dimension, binning under its ceiling,
KDE on offset data, neural bounds that leave the global RNG alone, the explicit discrete rule, and
layer taps whose gradient hooks go away and line up with the activations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from infoflow.infotheory import LayerTap, estimate_mi
from infoflow.infotheory import distributions as D


@pytest.mark.parametrize("dx", [1, 2, 5, 20])
def test_mixed_ksg_known_answers(dx):
    """Ross (2014) with labels: independence -> 0, well-separated classes -> H(label) = log 2, and a
    partly overlapping mixture whose MI is computed by numerical integration."""
    for seed in range(2):
        indep = D.labelled_gaussians(3000, dx, 0.0, seed=seed)
        assert indep.mi == pytest.approx(0.0, abs=1e-9)
        assert abs(estimate_mi(indep.x, indep.y, method="ksg", k=3).value) < 0.05
        sep = D.labelled_gaussians(3000, dx, 40.0, seed=seed)
        assert sep.mi == pytest.approx(math.log(2), abs=1e-6)
        assert abs(estimate_mi(sep.x, sep.y, method="ksg", k=3).value - math.log(2)) < 0.05
        mid = D.labelled_gaussians(3000, dx, 2.0, seed=seed)
        v = estimate_mi(mid.x, mid.y, method="ksg", k=3).value
        if dx <= 5:
            assert abs(v - mid.mi) < 0.05, (v, mid.mi)
        else:  # 19 independent noise coordinates: k-NN under-counts the class signal (documented bias)
            assert 0.1 < v < mid.mi, (v, mid.mi)
    # the auto rule routes one label variable to the same estimator
    assert estimate_mi(mid.y, mid.x).details["chosen"] == "ksg"


def test_labelled_gaussians_truth_by_integration_is_right():
    """Cross-check the numerical-integration truth with a plug-in Monte Carlo of the posterior."""
    from scipy import stats

    gt = D.labelled_gaussians(200000, 1, 1.0, n_classes=3, seed=0)
    lik = stats.norm.pdf(gt.x[:, :1], np.arange(3)[None, :])  # (n, 3)
    post = lik / lik.sum(1, keepdims=True)
    mc = math.log(3) + np.mean(np.log(post[np.arange(len(gt.y)), gt.y]))  # H(C) − H(C|X)
    assert gt.mi == pytest.approx(mc, abs=0.01)


def test_binning_never_exceeds_its_ceiling():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 8))
    est = estimate_mi(x, x, method="binning", n_bins=30)  # Miller–Madow on saturated data
    assert est.value <= est.ceiling == pytest.approx(math.log(2000))
    assert est.details["clipped_at_ceiling"] and est.saturated
    assert est.details["plugin"] + 0.1 > est.value  # it was the correction that overshot
    ok = estimate_mi(rng.integers(0, 4, 2000), rng.integers(0, 4, 2000), method="binning")
    assert not ok.details["clipped_at_ceiling"]


def test_kde_is_shift_invariant_in_float32():
    rng = np.random.default_rng(0)
    t = rng.standard_normal((800, 64))
    lab = rng.integers(0, 4, 800)
    t[:, 0] += 1.5 * lab
    ref = estimate_mi(lab, t, method="kde", noise_variance=0.5, dtype="float64")
    for dtype in ("float32", "float64"):
        off = estimate_mi(lab, t + 300.0, method="kde", noise_variance=0.5, dtype=dtype)
        assert off.upper == pytest.approx(ref.upper, abs=1e-3)
        assert off.lower == pytest.approx(ref.lower, abs=1e-3)


@pytest.mark.parametrize("method", ["mine", "infonce"])
def test_neural_estimators_leave_the_global_rng_alone(method):
    gt = D.correlated_gaussian(600, 2, 2, 0.5, seed=0)
    torch.manual_seed(123)
    before = torch.get_rng_state().clone()
    a = estimate_mi(gt.x, gt.y, method=method, max_steps=60, min_steps=20, eval_every=20, seed=4)
    assert torch.equal(before, torch.get_rng_state())
    torch.manual_seed(999)  # another global state: the same estimate (seeded by `seed` alone)
    b = estimate_mi(gt.x, gt.y, method=method, max_steps=60, min_steps=20, eval_every=20, seed=4)
    assert a.value == b.value


def test_integer_inputs_need_an_explicit_rule():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2000, 4)).astype(np.uint8)  # a uint8 pixel batch
    noisy = img.astype(float) + rng.normal(0, 20, img.shape)
    with pytest.raises(ValueError, match=r"distinct values.*discrete=False.*discrete=True"):
        estimate_mi(img, noisy)
    cont = estimate_mi(img, noisy, discrete=(False, False), method="gaussian")
    ref = estimate_mi(img.astype(float), noisy, method="gaussian")
    assert cont.value == pytest.approx(ref.value)
    labels = rng.integers(0, 5, 2000)  # few values: labels under auto, as before
    assert estimate_mi(labels, noisy[:, 0] + labels).details["chosen"] == "ksg"
    many = rng.integers(0, 200, 2000)
    as_labels = estimate_mi(many, many, discrete=True, method="binning")
    assert as_labels.value == pytest.approx(estimate_mi(many.astype(float), many.astype(float), method="binning",
                                                        n_bins=200).value, abs=0.2)
    t = torch.from_numpy(img)
    with pytest.raises(ValueError, match="discrete"):
        estimate_mi(t, torch.from_numpy(noisy))
    with pytest.raises(ValueError, match="discrete='maybe'"):
        estimate_mi(labels, noisy, discrete="maybe")


class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.w * x


def test_layer_tap_gradients_align_and_hooks_go_away():
    model = nn.Sequential(Scale())
    xs = [torch.full((2, 3), float(i + 1)) for i in range(3)]
    with LayerTap(model, "0", grads=True) as tap:
        outs = [model(x) for x in xs]
        # d(loss)/d(out_i) = c_i: call i's gradient is the constant c_i
        sum((10.0 ** i) * o.sum() for i, o in enumerate(outs)).backward()
    acts, grads = tap.activations["0"], tap.gradients["0"]
    assert acts.shape == grads.shape == (6, 3)
    for i in range(3):
        assert torch.all(acts[2 * i : 2 * i + 2] == i + 1)  # activations in call order
        assert torch.all(grads[2 * i : 2 * i + 2] == 10.0 ** i)  # gradients aligned with them
    # a backward pass after the block records nothing: the tensor hooks were removed
    out = model(xs[0])
    with LayerTap(model, "0", grads=True) as tap2:
        late = model(xs[0])
    (late.sum() + out.sum()).backward()
    assert tap2.gradients == {} and len(tap2.activations["0"]) == 2
