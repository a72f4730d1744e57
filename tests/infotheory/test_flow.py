"""The joint-flow estimator and the rule by which ``auto`` chooses it, against closed-form MI."""
import numpy as np
import pytest
import torch

from infoflow.infotheory import distributions as D
from infoflow.infotheory import estimate_mi

N = 3000


def test_flow_recovers_mi_where_the_copula_is_not_elliptical():
    gt = D.coupling_flow(D.correlated_gaussian(N, 3, 3, 1.0, seed=301))
    cop = estimate_mi(gt.x, gt.y, method="copula").value
    before, threads = torch.get_rng_state(), torch.get_num_threads()
    est = estimate_mi(gt.x, gt.y, method="flow")
    assert torch.equal(before, torch.get_rng_state())  # a training monitor's RNG is left alone
    assert torch.get_num_threads() == threads  # it trains on one thread and gives the others back
    assert abs(est.value - gt.mi) < 0.1, est.value
    assert abs(cop - gt.mi) > 0.08  # the case is one the elliptical copula gets wrong
    assert est.params["layers"] == 8 and est.details["steps"] >= 100
    assert estimate_mi(gt.x, gt.y, method="flow").value == est.value  # seeded: repeatable


def test_flow_on_a_gaussian_is_the_gaussian_answer():
    gt = D.correlated_gaussian(N, 2, 2, 0.5, seed=5)
    assert abs(estimate_mi(gt.x, gt.y, method="flow").value - gt.mi) < 0.06


@pytest.mark.parametrize("gt,chosen", [
    (D.shear(D.correlated_gaussian(N, 3, 3, 1.0, seed=300)), "flow"),
    (D.radial_rotation(D.correlated_gaussian(N, 3, 3, 1.0, seed=302)), "flow"),
    (D.student_t(N, 3, 3, nu=3, rho=0.3, seed=2), "copula"),  # tail dependence: the t copula wins held-out
    (D.warp(D.correlated_gaussian(N, 2, 2, 1.0, seed=4), "exp"), "copula"),  # warps cost the copula nothing
], ids=["shear", "swirl", "student-t", "warped-gaussian"])
def test_auto_takes_the_flow_only_where_it_wins_held_out(gt, chosen):
    est = estimate_mi(gt.x, gt.y, budget="thorough")
    assert est.details["chosen"] == chosen, est.details["reason"]
    assert abs(est.value - gt.mi) < 0.1, (est.value, gt.mi, est.details["reason"])
    _check_the_stated_rule(est)


def _check_the_stated_rule(est):
    """The flow with the best held-out NWJ bound is tested against the copula on that bound and on the
    held-out log-likelihood; it is taken iff either gain is > 0.01 nat and > 3 standard errors."""
    d = est.details
    bounds = d["heldout_nwj"]
    assert set(bounds) == {"copula", "flow-64", "flow-16"}
    best = max((k for k in bounds if k != "copula"), key=bounds.get)
    assert d["flow_nwj_gain"] == pytest.approx(bounds[best] - bounds["copula"])
    passed = [d[k] > max(0.01, 3 * d[k + "_se"]) for k in ("flow_nwj_gain", "flow_heldout_gain")]
    assert any(passed) == (d["chosen"] == "flow")
    if d["chosen"] == "flow":
        assert f"flow-{d['chosen_params']['hidden']}" == best


@pytest.mark.slow
def test_auto_takes_the_narrow_flow_on_a_swirl_the_wide_one_does_not_learn():
    # 5+5 swirl, benchmark seed 500: the 64-wide flow stays near the copula's 0.60; the 16-wide one learns it
    gt = D.radial_rotation(D.correlated_gaussian(5000, 5, 5, 1.0, seed=500))
    est = estimate_mi(gt.x, gt.y, budget="thorough")
    assert est.details["chosen_params"]["hidden"] == 16, est.details["reason"]
    assert abs(est.value - gt.mi) < 0.1, est.value
    _check_the_stated_rule(est)


@pytest.mark.slow
def test_mixing_lets_the_flow_undo_a_swirl_the_axis_tied_couplings_underestimate():
    # 5+5 swirl, benchmark seed 501: 0.866 with couplings alone (mix=False), 0.947 with a learned linear map
    # before each coupling (the default)
    gt = D.radial_rotation(D.correlated_gaussian(5000, 5, 5, 1.0, seed=501))
    est = estimate_mi(gt.x, gt.y, budget="thorough")
    assert est.details["chosen"] == "flow" and est.details["chosen_params"]["mix"] is True
    assert abs(est.value - gt.mi) < 0.1, est.value
    _check_the_stated_rule(est)


def test_auto_flow_switch_and_limits():
    gt = D.shear(D.correlated_gaussian(N, 3, 3, 1.0, seed=300))
    off = estimate_mi(gt.x, gt.y, budget="thorough", flow=False)  # an explicit switch overrides the budget
    assert off.details["chosen"] != "flow" and "flow_nwj_gain" not in off.details
    small = D.shear(D.correlated_gaussian(500, 3, 3, 1.0, seed=300))  # below flow_min_samples
    assert "flow_nwj_gain" not in estimate_mi(small.x, small.y, budget="thorough").details


def test_the_fast_budget_trains_no_network_and_is_the_default(monkeypatch):
    from infoflow.infotheory.estimators.flow import FlowEstimator

    def no_training(*a, **k):
        raise AssertionError("the fast budget fitted a flow")

    monkeypatch.setattr(FlowEstimator, "fit", no_training)
    gt = D.shear(D.correlated_gaussian(N, 3, 3, 1.0, seed=300))
    est = estimate_mi(gt.x, gt.y)
    assert est.params["budget"] == "fast" and est.params["flow"] is False and "flow_nwj_gain" not in est.details
    assert est.params["pair_checks"] == 100 and "budget fast" in est.details["reason"]
    with pytest.raises(AssertionError, match="fitted a flow"):
        estimate_mi(gt.x, gt.y, budget="thorough")
    assert estimate_mi(gt.x, gt.y, budget="fast", pair_checks=7).params["pair_checks"] == 7
    with pytest.raises(ValueError, match="budget must be one of"):
        estimate_mi(gt.x, gt.y, budget="quick")


def test_flow_errors_name_the_problem():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="too few samples|at least"):
        estimate_mi(rng.standard_normal((100, 2)), rng.standard_normal((100, 2)), method="flow")  # < 200
    with pytest.raises(ValueError, match="holdout"):
        estimate_mi(rng.standard_normal((600, 2)), rng.standard_normal((600, 2)), method="flow", holdout=0.9)
    with pytest.raises(TypeError, match="layers"):
        estimate_mi(rng.standard_normal((600, 2)), rng.standard_normal((600, 2)), method="flow", layers=2.5)
    with pytest.raises(ValueError, match="flow_candidates"):
        estimate_mi(rng.standard_normal((600, 2)), rng.standard_normal((600, 2)), flow_candidates=[(64,)])
    with pytest.raises(TypeError, match="flow_candidates hidden"):
        estimate_mi(rng.standard_normal((600, 2)), rng.standard_normal((600, 2)), flow_candidates=[(6.5, 3)])


@pytest.mark.parametrize("mix", [False, True], ids=["couplings", "couplings+mixing"])
def test_the_batched_side_flows_are_invertible_maps_with_their_log_determinant(mix):
    # x and y of different widths share one bmm per layer (zero-padded); each side must stay a map of
    # its own coordinates only, with log|det J| the exact Jacobian's, and the padding left untouched;
    # with mixing, each side's learned linear map too (its padding block is never mixed in)
    from infoflow.infotheory.estimators.flow import _JointModel

    torch.manual_seed(0)
    dx, dy = 2, 3
    model = _JointModel(dx, dy, layers=4, hidden=8, cov=np.eye(dx + dy), mix=mix).double()
    with torch.no_grad():
        for w in (model.flows.w3, model.flows.b3) + ((model.flows.w0,) if mix else ()):  # off the identity start
            w.add_(torch.randn_like(w) * 0.3)
    z = torch.randn(4, dx + dy, dtype=torch.float64)
    w, logdet = model.latents(z)
    for i in range(len(z)):
        jac = torch.autograd.functional.jacobian(lambda v: model.latents(v[None])[0][0], z[i])
        # x's latents ignore y, and y's ignore x
        assert torch.allclose(jac[:dx, dx:], torch.zeros(dx, dy, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(jac[dx:, :dx], torch.zeros(dy, dx, dtype=torch.float64), atol=1e-12)
        assert float(logdet[i].detach()) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), abs=1e-9)
    pad = torch.zeros(2, len(z), 3, dtype=torch.float64)
    pad[0, :, :dx], pad[1] = z[:, :dx], z[:, dx:]
    out, _ = model.flows(pad)
    assert torch.equal(out[0, :, dx:], torch.zeros(len(z), 1, dtype=torch.float64))  # x's padding stays 0
    assert not torch.allclose(w, z)  # and the map is not the identity


def test_a_flow_far_behind_its_rival_gives_up_at_the_stated_step():
    from infoflow.infotheory.estimators.flow import FlowEstimator

    gt = D.correlated_gaussian(2000, 2, 2, 0.5, seed=7)
    from scipy import special
    from infoflow.infotheory.estimators.copula import rank_uniform

    z = special.ndtri(rank_uniform(np.hstack([gt.x, gt.y])))
    flow = FlowEstimator(hidden=8, patience=50, max_steps=400, seed=0)
    hopeless = flow.fit(z, 2, give_up=(100, -1e9))  # no flow gets below -1e9 nats: it stops at step 100
    assert hopeless.details["gave_up"] and hopeless.steps == 100
    free = flow.fit(z, 2, give_up=(100, 1e9))  # always within reach: runs to its own stopping rule
    assert not free.details["gave_up"] and free.steps == 400


def test_auto_skips_the_flow_step_with_one_coordinate_a_side_and_checks_give_up(monkeypatch):
    from infoflow.infotheory.estimators.flow import FlowEstimator

    def no_training(*a, **k):
        raise AssertionError("a flow was fitted on 1+1 data")

    monkeypatch.setattr(FlowEstimator, "fit", no_training)
    gt = D.warp(D.correlated_gaussian(N, 1, 1, 1.0, seed=3), "cube")
    est = estimate_mi(gt.x, gt.y, budget="thorough")
    assert "affine map" in est.details["reason"] and abs(est.value - gt.mi) < 0.1
    rng = np.random.default_rng(0)
    for bad in ((0, 0.03), (200, -0.1), (200,), (2.5, 0.1)):
        with pytest.raises(ValueError, match="flow_give_up"):
            estimate_mi(rng.standard_normal((600, 2)), rng.standard_normal((600, 2)), flow_give_up=bad)
