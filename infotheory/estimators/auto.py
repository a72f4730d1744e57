"""``auto``: choose (and cross-check) an estimator from the data's type, dimension and tails."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from .._validate import ArrayLike, check_pair
from ..result import MIEstimate
from .base import MIEstimator, check_positive, register
from .binning import BinningEstimator
from ._heldout import gaussian_pmi, heldout_nwj, product_shifts
from ._pair_check import NonEllipticalWarning, pair_check
from .copula import CopulaEstimator, copula_logpdf, copula_pmi, fit_elliptical, ppf_of_ranks, rank_twins, rank_uniform
from .flow import FlowEstimator, FlowFit, flow_result
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
    4. With ``flow`` on, n >= ``flow_min_samples`` and dx + dy <= ``flow_max_dim``: joint
       normalizing flows (``flow``: invertible maps per side, correlated Gaussian base), one per
       ``flow_candidates`` (conditioner width, patience) pair, and the elliptical copula are fitted
       on one training split. Each model's pointwise-MI critic gives a held-out NWJ lower bound on
       the MI (``_heldout``: ``nwj_pairs`` shifted pairings for the product term); the flow with
       the best bound is tested against the copula held-out, on that bound and on the
       log-likelihood. If either gain exceeds ``flow_margin`` and 3 paired standard errors, the
       dependence is not elliptical but Gaussian after invertible per-side maps (shears, swirls,
       coupling layers): that flow's MI is returned. A candidate whose best held-out likelihood is
       still ``flow_give_up[1]`` nats/sample below the copula's at step ``flow_give_up[0]`` stops
       there (elliptical data with heavy tails: a Gaussian-base flow cannot catch up). With one
       coordinate a side the step is skipped: a coupling flow is then an affine map per side.
    5. Otherwise, in low dimension (dx + dy <= ``low_dim``), where KSG is reliable, KSG on the
       rank-Gaussianised data cross-checks the copula model; if they disagree by more than
       ``agree_tol`` nats (or 3 standard errors) the dependence is not elliptical and the KSG
       value is returned instead.
    6. In more dimensions, where no estimator can cross-check the whole joint, up to
       ``pair_checks`` coordinate pairs are checked against the fitted copula (``_pair_check``: each
       pair's KSG against its closed-form model MI, ``pair_tol`` nats plus a Bonferroni margin).
       If any pair contradicts the model, the copula's value is still returned, with a warning
       (``details["warning"]`` and a ``NonEllipticalWarning``, a ``UserWarning``) that names the
       worst pairs: the dependence is not elliptical there and the value is unreliable. Dependence
       that shows in no pair is not caught.

    The budget. ``budget="fast"`` (the default) never trains a network: steps 1–3, 5 and 6 with
    ``pair_checks`` 100 pairs on ≤ 2,000 rows — well under a second at n = 5,000, d ≤ 20 per side
    (benchmarks/results_auto_pareto_cpu.txt). ``budget="thorough"`` adds step 4 (the flows: tens
    of seconds on a CPU, with a progress bar past 2 s) and checks 300 pairs on ≤ 5,000 rows; it is
    what catches dependence that is Gaussian only after non-linear per-side maps. ``flow``,
    ``pair_checks`` and ``pair_samples`` given explicitly override the budget's values.

    Parameters: ``budget``, ``k`` (KSG neighbours), ``low_dim``, ``agree_tol`` (nats), ``flow``,
    ``flow_min_samples``, ``flow_max_dim``, ``flow_margin`` (nats), ``flow_candidates``,
    ``flow_give_up`` ((step, nats) or None),
    ``nwj_pairs``, ``pair_checks`` (0 = off), ``pair_samples``, ``pair_tol`` (nats), ``progress``
    (None: a bar on the flow fits when they last over 2 s), ``seed``.
    """

    budget: str = "fast"
    k: int = 3
    low_dim: int = 6
    agree_tol: float = 0.1
    flow: bool | None = None
    flow_min_samples: int = 1000
    flow_max_dim: int = 16
    flow_margin: float = 0.01
    flow_candidates: tuple[tuple[int, int], ...] = ((64, 4), (16, 9))
    flow_give_up: tuple[int, float] | None = (200, 0.03)
    nwj_pairs: int = 10
    pair_checks: int | None = None
    pair_samples: int | None = None
    pair_tol: float = 0.05
    progress: bool | None = None
    seed: int = 0

    name = "auto"
    min_samples = 20
    BUDGETS = {"fast": {"flow": False, "pair_checks": 100, "pair_samples": 2000},
               "thorough": {"flow": True, "pair_checks": 300, "pair_samples": 5000}}

    def __post_init__(self) -> None:
        if self.budget not in self.BUDGETS:
            raise ValueError(f"budget must be one of {sorted(self.BUDGETS)} (fast: no network is trained; thorough: "
                             f"the flow step too), got {self.budget!r}")
        for key, value in self.BUDGETS[self.budget].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        check_positive("pair_samples", self.pair_samples, integer=True)
        self.flow_candidates = tuple(tuple(c) for c in self.flow_candidates)  # lists from YAML/JSON too
        if not self.flow_candidates or any(len(c) != 2 for c in self.flow_candidates):
            raise ValueError(f"flow_candidates must be (hidden, patience) pairs, got {self.flow_candidates!r}")
        for h, p in self.flow_candidates:
            check_positive("flow_candidates hidden", h, integer=True)
            check_positive("flow_candidates patience", p, integer=True)
        check_positive("nwj_pairs", self.nwj_pairs, integer=True)
        if self.flow_give_up is not None:
            g = tuple(self.flow_give_up)
            if len(g) != 2 or not isinstance(g[0], int) or g[0] < 1 or not isinstance(g[1], (int, float)) or g[1] < 0:
                raise ValueError(f"flow_give_up must be (step >= 1, nats >= 0) or None, got {self.flow_give_up!r}")
            self.flow_give_up = g
        if isinstance(self.pair_checks, bool) or not isinstance(self.pair_checks, int) or self.pair_checks < 0:
            raise ValueError(f"pair_checks must be an int >= 0 (0 turns the check off), got {self.pair_checks!r}")
        if not isinstance(self.pair_tol, (int, float)) or self.pair_tol < 0:
            raise ValueError(f"pair_tol must be a number of nats >= 0, got {self.pair_tol!r}")

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
        u = rank_uniform(np.hstack([X, Y]))  # ranked once: the copula, the flow, KSG and the pair check use it
        cop = CopulaEstimator().estimate_ranked(u, dx)  # it names columns as given, so before any is dropped
        twins = rank_twins(u, dx)
        if twins.within:  # a side's repeated coordinate (a monotone function of another) adds no information
            u, dx = u[:, twins.keep], twins.dx
            dy = u.shape[1] - dx
        dropped = "".join(f"; {side}[{j}] dropped: a monotone function of {side}[{i}]" for side, j, i in twins.within)
        if cop.saturated:
            return self._wrap(cop, "copula", "a deterministic relation (" + "; ".join(cop.details["deterministic"])
                              + "): infinite MI for continuous variables, so the value is the copula's cap "
                              "(saturated)" + dropped)
        reason = (f"continuous, dx+dy={dx + dy}, budget {self.budget}: elliptical copula "
                  f"({cop.details['copula']}, nu={cop.details['nu']}) on rank-transformed marginals" + dropped)
        flow_note, flow_extra = "", {}
        z = ppf_of_ranks(u, special.ndtri)  # rank-Gaussianised: the flow's input and KSG's cross-check
        if dx == dy == 1 and self.flow:
            flow_note = "; no flow step: with one coordinate a side a flow is an affine map, nothing the copula lacks"
        elif self.flow and len(X) >= self.flow_min_samples and dx + dy <= self.flow_max_dim:
            chosen_fit, flow_extra, why = self._flow_step(u, z, dx)
            if chosen_fit is not None:
                fit, params = chosen_fit
                est = flow_result(fit, dx, params)
                extra = {"candidates": {"copula": cop.value, "flow": est.value}, **flow_extra}
                return self._wrap(est, "flow", f"joint flow (hidden {params['hidden']}): {why}, so the dependence "
                                  f"is Gaussian only after invertible per-side maps", extra)
            flow_note = f"; the best joint flow: {why} (not enough)"
        reason += flow_note
        if dx + dy > self.low_dim:
            reason += f"; dx+dy > low_dim={self.low_dim}, no KSG cross-check of the joint"
            extra = dict(flow_extra)
            if self.pair_checks:
                check = pair_check(u, cop.details["nu"], max_pairs=self.pair_checks, max_samples=self.pair_samples,
                                   k=self.k, tol=self.pair_tol, seed=self.seed)
                extra["pair_check"] = check
                reason += (f"; {check['pairs']} of {check['of']} coordinate pairs checked against the copula, "
                           f"{check['contradicting']} contradict it")
                if check["contradicting"]:
                    extra["warning"] = self._pair_warning(cop.value, check, dx)
                    warnings.warn(extra["warning"], NonEllipticalWarning, stacklevel=3)
            return self._wrap(cop, "copula", reason, extra)
        ksg = KSGEstimator(k=self.k, seed=self.seed).estimate(z[:, :dx], z[:, dx:])
        diff = abs(ksg.value - cop.value)
        tol = max(self.agree_tol, 3 * (ksg.std or 0.0))
        extra = {"candidates": {"copula": cop.value, "ksg_gaussianized": ksg.value}, **flow_extra}
        if diff <= tol:
            return self._wrap(cop, "copula", reason + f"; KSG agrees within {diff:.3f} <= {tol:.3f} nats", extra)
        return self._wrap(ksg, "ksg", f"KSG on rank-Gaussianised data: it disagrees with the copula model by "
                          f"{diff:.3f} > {tol:.3f} nats, so the dependence is not elliptical", extra)

    def _flow_step(self, u: np.ndarray, z: np.ndarray, dx: int
                   ) -> tuple[tuple[FlowFit, dict] | None, dict, str]:
        """Fit each flow candidate and the elliptical copula on one training split, take the flow with the
        best held-out NWJ bound, and test it against the copula held-out on the bound and on the
        log-likelihood (each: gain > ``flow_margin`` and > 3 paired standard errors).
        Returns ((fit, params) of that flow, or None if neither test passes; details; the reason)."""
        from tqdm.auto import tqdm

        flows = [FlowEstimator(hidden=h, patience=p, seed=self.seed) for h, p in self.flow_candidates]
        train, te = flows[0].split(len(u))  # every candidate's split: the same holdout and seed
        nu, r, _ = fit_elliptical(u[train])
        give_up = None
        if self.flow_give_up is not None:  # the copula's held-out NLL in the flows' (rank-Gaussianised) space
            cop_nll = -float((copula_logpdf(u[te], r, nu) + stats.norm.logpdf(z[te]).sum(1)).mean())
            give_up = (int(self.flow_give_up[0]), cop_nll + float(self.flow_give_up[1]))
        bar = tqdm(flows, desc="auto (thorough): flow fits", leave=False,
                   disable=self.progress is False, delay=0 if self.progress else 2.0)
        fitted = [(f.fit(z, dx, give_up), f.params) for f in bar]
        bar.close()
        shifts = product_shifts(len(te), self.nwj_pairs, self.seed)
        cop = heldout_nwj(copula_pmi(r, nu, dx), u[te, :dx], u[te, dx:], shifts)
        bounds = [heldout_nwj(gaussian_pmi(f.latents[train], dx), f.latents[te, :dx], f.latents[te, dx:], shifts)
                  for f, _ in fitted]
        best = int(np.argmax([b.mean() for b in bounds]))
        tests = {"flow_nwj_gain": bounds[best] - cop,
                 "flow_heldout_gain": fitted[best][0].heldout_copula_loglik - copula_logpdf(u[te], r, nu)}
        details: dict = {"heldout_nwj": {"copula": float(cop.mean()), **{
            f"flow-{p['hidden']}": float(b.mean()) for (_, p), b in zip(fitted, bounds)}}}
        passed = []
        for key, gain in tests.items():
            mean, se = float(gain.mean()), float(gain.std(ddof=1) / np.sqrt(len(gain)))
            details[key], details[key + "_se"] = mean, se
            passed.append(mean > max(self.flow_margin, 3 * se))
        why = (f"held-out NWJ bound {details['flow_nwj_gain']:+.3f} ± {details['flow_nwj_gain_se']:.3f} nats and "
               f"log-likelihood {details['flow_heldout_gain']:+.3f} ± {details['flow_heldout_gain_se']:.3f} "
               f"nats/sample against the elliptical copula")
        return (fitted[best] if any(passed) else None), details, why

    @staticmethod
    def _pair_warning(value: float, check: dict, dx: int) -> str:
        def col(i: int) -> str:
            return f"x[{i}]" if i < dx else f"y[{i - dx}]"
        worst = ", ".join(f"{col(w['pair'][0])}-{col(w['pair'][1])} (KSG {w['ksg']:.3f} vs {w['model']:.3f} nats)"
                          for w in check["worst"][:3])
        return (f"auto: the elliptical copula's MI ({value:.3f} nats) is contradicted by {check['contradicting']} of "
                f"the {check['pairs']} coordinate pairs checked — worst {worst}: the dependence is not elliptical, "
                f"and in this many dimensions nothing here can estimate it reliably; treat the value as unreliable "
                f"(on the non-elliptical benchmark cases it was low by about half)")

    def _wrap(self, est: MIEstimate, chosen: str, reason: str, extra: dict | None = None) -> MIEstimate:
        return MIEstimate(
            value=est.value, method=self.name, params=self.params, n_samples=est.n_samples, std=est.std,
            lower=est.lower, upper=est.upper, saturated=est.saturated, ceiling=est.ceiling, curve=est.curve,
            details={"chosen": chosen, "reason": reason, "chosen_params": est.params,
                     "chosen_details": est.details, **(extra or {})},
        )
