"""``auto``: choose (and cross-check) an estimator from the data's type, dimension and tails."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .._validate import ArrayLike, check_pair
from ..result import MIEstimate
from .base import MIEstimator, register
from .binning import BinningEstimator
from .copula import CopulaEstimator, copula_logpdf, fit_elliptical, rank_uniform
from .flow import FlowEstimator, flow_result
from .ksg import KSGEstimator

__all__ = ["AutoEstimator"]


@register
@dataclass
class AutoEstimator(MIEstimator):
    """The rule (every step is recorded in ``details``):

    1. Both variables integer labels -> ``binning`` on the labels (exact plug-in + Miller–Madow).
    2. One variable labels -> ``ksg`` mixed discrete–continuous variant (Ross 2014).
    3. Both continuous -> marginals are rank-transformed (MI is invariant to monotone
       per-coordinate maps, so long-tailed or warped marginals cost nothing), then an elliptical
       copula (Gaussian or Student-t, chosen by likelihood: this is where heavy tails and tail
       dependence are detected) gives the closed-form MI with finite-sample bias correction.
    4. With ``flow`` on, n >= ``flow_min_samples`` and dx + dy <= ``flow_max_dim``: a joint
       normalizing flow (``flow``: invertible maps per side, correlated Gaussian base) is fitted on
       a training split, and the elliptical copula on the same split. If the flow's held-out
       log-likelihood beats the copula's by more than ``flow_margin`` nats per sample and by 3
       standard errors, the dependence is not elliptical but Gaussian after invertible per-side
       maps (shears, swirls, coupling layers): the flow's MI is returned.
    5. Otherwise, in low dimension (dx + dy <= ``low_dim``), where KSG is reliable, KSG on the
       rank-Gaussianised data cross-checks the copula model; if they disagree by more than
       ``agree_tol`` nats (or 3 standard errors) the dependence is not elliptical and the KSG
       value is returned instead.

    Parameters: ``k`` (KSG neighbours), ``low_dim``, ``agree_tol`` (nats), ``flow``,
    ``flow_min_samples``, ``flow_max_dim``, ``flow_margin`` (nats per sample), ``seed``.
    The flow step costs seconds to tens of seconds on a CPU; ``flow=False`` skips it.
    """

    k: int = 3
    low_dim: int = 6
    agree_tol: float = 0.1
    flow: bool = True
    flow_min_samples: int = 1000
    flow_max_dim: int = 16
    flow_margin: float = 0.01
    seed: int = 0

    name = "auto"
    min_samples = 20

    def estimate(self, x: ArrayLike, y: ArrayLike) -> MIEstimate:
        """x: (n,) or (n, dx); y: (n,) or (n, dy); floats or integer labels. Returns nats."""
        X, Y, xd, yd = check_pair(x, y, method=self.name, min_samples=self.min_samples)
        dx, dy = X.shape[1], Y.shape[1]
        if xd and yd:
            est = BinningEstimator().estimate(X, Y)
            return self._wrap(est, "binning", "both variables are integer labels")
        if xd or yd:
            est = KSGEstimator(k=self.k, seed=self.seed).estimate(X, Y)
            return self._wrap(est, "ksg", "one variable is integer labels: mixed KSG (Ross 2014)")
        cop = CopulaEstimator().estimate(X, Y)
        reason = (f"continuous, dx+dy={dx + dy}: elliptical copula "
                  f"({cop.details['copula']}, nu={cop.details['nu']}) on rank-transformed marginals")
        flow_note, flow_extra = "", {}
        u = rank_uniform(np.hstack([X, Y]))
        z = stats.norm.ppf(u)  # rank-Gaussianised: the flow's input and KSG's cross-check
        if self.flow and len(X) >= self.flow_min_samples and dx + dy <= self.flow_max_dim:
            flow_est = FlowEstimator(seed=self.seed)
            fit = flow_est.fit(z, dx)
            train = np.setdiff1d(np.arange(len(u)), fit.heldout)
            nu, r, _ = fit_elliptical(u[train])
            gain = fit.heldout_copula_loglik - copula_logpdf(u[fit.heldout], r, nu)
            mean, se = float(gain.mean()), float(gain.std(ddof=1) / np.sqrt(len(gain)))
            flow_extra = {"flow_heldout_gain": mean, "flow_heldout_gain_se": se}
            if mean > max(self.flow_margin, 3 * se):
                est = flow_result(fit, dx, flow_est.params)
                extra = {"candidates": {"copula": cop.value, "flow": est.value}, **flow_extra}
                return self._wrap(est, "flow", f"joint flow: its held-out log-likelihood beats the elliptical "
                                  f"copula's by {mean:.3f} ± {se:.3f} nats per sample, so the dependence is "
                                  f"Gaussian only after invertible per-side maps", extra)
            flow_note = f"; a joint flow gains {mean:.3f} ± {se:.3f} nats/sample held-out (not enough)"
        reason += flow_note
        if dx + dy > self.low_dim:
            return self._wrap(cop, "copula", reason + f"; dx+dy > low_dim={self.low_dim}, no KSG cross-check",
                              flow_extra)
        ksg = KSGEstimator(k=self.k, seed=self.seed).estimate(z[:, :dx], z[:, dx:])
        diff = abs(ksg.value - cop.value)
        tol = max(self.agree_tol, 3 * (ksg.std or 0.0))
        extra = {"candidates": {"copula": cop.value, "ksg_gaussianized": ksg.value}, **flow_extra}
        if diff <= tol:
            return self._wrap(cop, "copula", reason + f"; KSG agrees within {diff:.3f} <= {tol:.3f} nats", extra)
        return self._wrap(ksg, "ksg", f"KSG on rank-Gaussianised data: it disagrees with the copula model by "
                          f"{diff:.3f} > {tol:.3f} nats, so the dependence is not elliptical", extra)

    def _wrap(self, est: MIEstimate, chosen: str, reason: str, extra: dict | None = None) -> MIEstimate:
        return MIEstimate(
            value=est.value, method=self.name, params=self.params, n_samples=est.n_samples, std=est.std,
            lower=est.lower, upper=est.upper, saturated=est.saturated, ceiling=est.ceiling, curve=est.curve,
            details={"chosen": chosen, "reason": reason, "chosen_params": est.params,
                     "chosen_details": est.details, **(extra or {})},
        )
