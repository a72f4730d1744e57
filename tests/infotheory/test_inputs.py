"""numpy/torch agreement and clear errors on bad input."""
import numpy as np
import pytest
import torch

from infoflow.infotheory import available_methods, estimate_mi, get_estimator
from infoflow.infotheory import distributions as D

FAST = {"mine": dict(max_steps=200, min_steps=100, eval_every=50),
        "nwj": dict(max_steps=200, min_steps=100, eval_every=50),
        "infonce": dict(max_steps=200, min_steps=100, eval_every=50),
        "smile": dict(max_steps=200, min_steps=100, eval_every=50),
        "flow": dict(max_steps=200)}


def test_registry_lists_all_methods():
    assert set(available_methods()) == {"auto", "binning", "copula", "flow", "gaussian", "infonce", "kde", "ksg",
                                        "mine", "nwj", "smile"}


@pytest.mark.parametrize("method", sorted(set(available_methods())))
def test_numpy_and_torch_inputs_agree(method):
    gt = D.correlated_gaussian(800, 2, 2, 1.0, seed=3)
    xn, yn = gt.x.astype(np.float32), gt.y.astype(np.float32)
    a = estimate_mi(xn, yn, method=method, **FAST.get(method, {}))
    b = estimate_mi(torch.from_numpy(xn), torch.from_numpy(yn), method=method, **FAST.get(method, {}))
    assert np.isfinite(a.value)
    assert a.value == pytest.approx(b.value, rel=1e-4, abs=1e-4)
    assert a.params == b.params and a.n_samples == b.n_samples == 800


def test_result_records_params_bits_and_json():
    gt = D.correlated_gaussian(500, 1, 1, 1.0)
    est = estimate_mi(gt.x, gt.y, method="ksg", k=4, seed=1)
    assert est.params["k"] == 4 and est.params["seed"] == 1 and est.method == "ksg"
    assert est.bits == pytest.approx(est.value / np.log(2))
    import json
    d = json.loads(est.to_json())
    assert d["value"] == pytest.approx(est.value) and d["params"]["k"] == 4
    assert get_estimator("binning", n_bins=7).params["n_bins"] == 7


def test_json_is_standard_a_missing_number_is_null():
    import json

    from infoflow.infotheory import MIEstimate, standard_json

    def refuse(token):  # NaN / Infinity: tokens a browser's JSON.parse refuses
        raise AssertionError(f"non-standard JSON token {token}")

    text = standard_json({"mean": np.float64("nan"), "per_seed": {0: np.float32(0.5)}, "ci": (float("-inf"), np.int64(2))})
    assert json.loads(text, parse_constant=refuse) == {"mean": None, "per_seed": {"0": 0.5}, "ci": [None, 2]}
    est = MIEstimate(value=0.5, method="ksg", params={"k": 3}, n_samples=10, std=float("nan"), details={"gain": np.float64("inf")})
    d = json.loads(est.to_json(), parse_constant=refuse)
    assert d["std"] is None and d["details"]["gain"] is None and d["value"] == 0.5


GOOD = np.random.default_rng(0).standard_normal((100, 2))


@pytest.mark.parametrize(
    "x,y,kw,exc,msg",
    [
        (np.where(np.eye(100, 2) > 0, np.nan, GOOD), GOOD, {}, ValueError, "NaN"),
        (GOOD, np.where(np.eye(100, 2) > 0, np.inf, GOOD), {}, ValueError, "Inf"),
        (torch.full((100, 2), float("nan")), GOOD, {}, ValueError, "NaN"),
        (GOOD, GOOD[:90], {}, ValueError, "mismatched sample counts: 100 vs 90"),
        (GOOD[:5], GOOD[:5], {}, ValueError, "too few samples"),
        (np.c_[GOOD, np.ones(100)], GOOD, {}, ValueError, r"constant column\(s\) \[2\]"),
        (GOOD.reshape(100, 2, 1), GOOD, {}, ValueError, "3-D array"),
        (np.array(["a"] * 100), GOOD, {}, TypeError, "wrong dtype"),
        (GOOD.astype(complex), GOOD, {}, TypeError, "wrong dtype"),
        ("not an array", GOOD, {}, TypeError, "wrong dtype"),
        ({"x": 1}, GOOD, {}, TypeError, "expected a numpy array"),
        (GOOD, GOOD, {"method": "magic"}, ValueError, "unknown method 'magic'"),
        (GOOD, GOOD, {"method": "ksg", "bins": 3}, TypeError, r"unknown parameter\(s\) \['bins'\]"),
        (GOOD, GOOD, {"method": "binning", "n_bins": 0}, ValueError, "n_bins must be > 0"),
        (GOOD, GOOD, {"method": "kde", "noise_variance": -1.0}, ValueError, "noise_variance must be > 0"),
        (GOOD, GOOD, {"method": "mine"}, ValueError, "too few samples for method 'mine'"),
        (GOOD, GOOD, {"method": "gaussian"}, None, None),
        (GOOD[:4], GOOD[:4], {"method": "gaussian"}, ValueError, "too few samples"),
        (np.arange(100) % 5, np.arange(100) % 3, {"method": "copula"}, TypeError, "integer labels"),
        (GOOD, GOOD, {"method": "ksg", "k": 2.5}, TypeError, "k must be an int"),
    ],
)
def test_bad_input_is_named(x, y, kw, exc, msg):
    if exc is None:
        assert np.isfinite(estimate_mi(x, y, **kw).value)
        return
    with pytest.raises(exc, match=msg):
        estimate_mi(x, y, **kw)


def test_never_a_silent_nan():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 3))
    for m in available_methods():
        kw = FAST.get(m, {})
        v = estimate_mi(x, x + 0.1 * rng.standard_normal((300, 3)), method=m, **kw).value
        assert np.isfinite(v), m


def test_a_saturated_estimate_without_a_ceiling_prints():
    import numpy as np

    from infoflow.infotheory import estimate_mi

    x = np.random.default_rng(0).standard_normal((500, 2))
    est = estimate_mi(x, x, method="gaussian")  # X = Y: saturated, and the Gaussian estimator has no ceiling
    assert est.saturated and est.ceiling is None and "SATURATED (n=500)" in str(est)


def test_auto_names_too_few_samples_for_its_copula():
    import numpy as np

    from infoflow.infotheory import estimate_mi

    x = np.random.default_rng(0).standard_normal((30, 20))
    with pytest.raises(ValueError, match="too few samples for method 'copula': 30 samples for 20\\+15"):
        estimate_mi(x, x[:, :15] + 0.1, method="auto")  # n <= dx + dy + 1: no correlation matrix to fit
