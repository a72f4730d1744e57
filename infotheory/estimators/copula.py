"""Elliptical-copula MI: rank-transform the marginals, fit a Gaussian or Student-t copula, closed form.

MI depends only on the copula, so any monotone per-coordinate transform of the data leaves it
unchanged; this estimator is exact (up to sampling error) for every distribution whose copula is
Gaussian or Student-t — Gaussians, multivariate t, and all their coordinate-wise monotone transforms.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from .._validate import ArrayLike, check_pair
from ..result import MIEstimate
from .base import MIEstimator, check_choice, register
from ._heldout import Critic
from .gaussian import logdet_bias

__all__ = ["CopulaEstimator", "rank_uniform", "t_mi_correction", "fit_elliptical", "copula_logpdf", "copula_pmi",
           "ppf_of_ranks", "half_logdet_mi", "capped_mi", "RankTwins", "rank_twins"]

RHO_CAP = 1 - 1e-12  # a canonical correlation of 1 (a deterministic relation) is read as this: saturated


def rank_uniform(a: np.ndarray) -> np.ndarray:
    """Per-column normalised ranks in (0, 1): rank / (n + 1), ties averaged. a: (n, d)."""
    return stats.rankdata(a, axis=0) / (a.shape[0] + 1.0)


@dataclass(frozen=True)
class RankTwins:
    """Coordinates whose ranks equal (or reverse) an earlier coordinate's: each is a monotone function
    of that one, so its normal scores are that one's (or their negatives) and the copula's correlation
    matrix is singular. ``within``: (side, column, the earlier column it repeats) inside one side —
    dropping the later column leaves I(X;Y) unchanged. ``across``: (x column, y column) pairs — a
    deterministic relation between the sides, whose MI is infinite for continuous variables. Columns
    count from 0 per side."""

    keep: np.ndarray  # the columns of [x, y] kept (every ``within`` twin removed)
    dx: int  # x's columns among them
    within: tuple[tuple[str, int, int], ...]  # (side, column, the earlier column it repeats)
    across: tuple[tuple[int, int], ...]  # (x column, y column)


def rank_twins(u: np.ndarray, dx: int) -> RankTwins:
    """Find the :class:`RankTwins` of rank-uniform scores u (n, dx + dy) (:func:`rank_uniform`):
    exact comparison of the integer ranks, O(n·d)."""
    n, d = u.shape
    twice = np.rint(u * (2.0 * (n + 1))).astype(np.int64)  # 2 × rank: an integer, ties (.5) included
    seen: tuple[dict[bytes, int], dict[bytes, int]] = ({}, {})  # per side: a rank order -> its first column
    keep, within, across = [], [], []
    for j in range(d):
        col = twice[:, j]
        rev = 2 * (n + 1) - col
        k = int(np.argmax(col != rev))  # the first row where the two orders differ picks one of them
        key = (col if col[k] <= rev[k] else rev).tobytes()
        side, base = (0, 0) if j < dx else (1, dx)
        if key in seen[side]:  # a repeat within the side: dropped
            within.append(("xy"[side], j - base, seen[side][key] - base))
            continue
        seen[side][key] = j
        keep.append(j)
        if side == 1 and key in seen[0]:  # every x column came first
            across.append((seen[0][key], j - dx))
    kept = np.asarray(keep)
    return RankTwins(kept, int((kept < dx).sum()), tuple(within), tuple(across))


def _few_values(col: np.ndarray) -> str:
    """A hint when a column has few distinct values (ties in more than half the rows): labels?"""
    k = len(np.unique(col))
    return f" (it takes {k} distinct values: if discrete, pass integer labels)" if k <= len(col) // 2 else ""


def _h_t(nu: float, d: int) -> float:
    """Entropy of a standard d-dim Student-t minus its log-det and (νπ)^{d/2} terms (nats)."""
    return float(
        special.gammaln(nu / 2) - special.gammaln((nu + d) / 2)
        + (nu + d) / 2 * (special.digamma((nu + d) / 2) - special.digamma(nu / 2))
    )


def t_mi_correction(nu: float, dx: int, dy: int) -> float:
    """MI of a multivariate t (ν dof) minus the Gaussian MI of the same correlation matrix (nats, ≥ 0)."""
    if not math.isfinite(nu):
        return 0.0
    return _h_t(nu, dx) + _h_t(nu, dy) - _h_t(nu, dx + dy)


def half_logdet_mi(r: np.ndarray, dx: int) -> float:
    """The Gaussian MI (nats, no bias correction) of a joint correlation matrix r with blocks (dx, rest)."""
    ld = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    return 0.5 * float(ld(r[:dx, :dx]) + ld(r[dx:, dx:]) - ld(r))


def capped_mi(r: np.ndarray, dx: int) -> float:
    """:func:`half_logdet_mi` for a joint correlation matrix that may be singular across the blocks (a
    deterministic relation; each block itself non-singular): canonical correlations capped at
    ``RHO_CAP``, so a relation of correlation 1 gives a large finite value, not inf (nats)."""
    return _mi_of_canonical(np.minimum(_canonical_from_corr(r, dx), RHO_CAP))


def _mi_of_canonical(rho: np.ndarray) -> float:
    """The Gaussian MI of canonical correlations ``rho`` (each < 1), nats."""
    return float(-0.5 * np.log1p(-rho**2).sum())


def _canonical_from_corr(r: np.ndarray, dx: int) -> np.ndarray:
    """Canonical correlations implied by a joint correlation matrix with blocks (dx, rest)."""
    def inv_sqrt(m: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(m)
        return (v / np.sqrt(np.clip(w, 1e-12, None))) @ v.T
    m = inv_sqrt(r[:dx, :dx]) @ r[:dx, dx:] @ inv_sqrt(r[dx:, dx:])
    return np.clip(np.linalg.svd(m, compute_uv=False), 0.0, 1.0)


def _mahalanobis(q: np.ndarray, m: np.ndarray) -> np.ndarray:
    """q_i^T m^{-1} q_i for each row of q (n, d); m (d, d) symmetric positive definite. One d×d
    inverse and a matrix product (a solve with n right-hand sides costs ~10× more)."""
    return np.einsum("ij,ij->i", q @ np.linalg.inv(m), q)


def ppf_of_ranks(u: np.ndarray, ppf) -> np.ndarray:
    """``ppf(u)`` evaluated once per distinct value: ranks / (n + 1) take at most n distinct values
    over all d columns, so this is d× fewer quantile evaluations (the t quantile is the costly one)."""
    vals, inv = np.unique(u, return_inverse=True)
    return ppf(vals)[inv.reshape(u.shape)]


def _fit_t_corr(q: np.ndarray, nu: float, iters: int = 30) -> np.ndarray:
    """Fixed-point (EM) estimate of the correlation matrix of a zero-mean multivariate t."""
    n, d = q.shape
    sigma = np.cov(q, rowvar=False) * (nu - 2) / nu if nu > 2 else np.cov(q, rowvar=False)
    for _ in range(iters):
        delta = _mahalanobis(q, sigma)
        w = (nu + d) / (nu + delta)
        new = (q * w[:, None]).T @ q / n
        if np.abs(new - sigma).max() < 1e-6:
            sigma = new
            break
        sigma = new
    s = np.sqrt(np.diag(sigma))
    return sigma / np.outer(s, s)


def _t_copula_logpdf(q: np.ndarray, r: np.ndarray, nu: float) -> np.ndarray:
    """Per-sample log density of the t copula at t-quantiles q (n, d), correlation r (nats)."""
    n, d = q.shape
    _, logdet = np.linalg.slogdet(r)
    delta = _mahalanobis(q, r)
    joint = (special.gammaln((nu + d) / 2) - special.gammaln(nu / 2) - d / 2 * math.log(nu * math.pi)
             - 0.5 * logdet - (nu + d) / 2 * np.log1p(delta / nu))
    # the marginal t log-density, closed form (scipy.stats.t.logpdf's value, without its overhead)
    marg = (special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
            - (nu + 1) / 2 * np.log1p(q * q / nu))
    return joint - marg.sum(1)


def _gauss_copula_logpdf(z: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Per-sample log density of the Gaussian copula at normal scores z (n, d) (nats)."""
    _, logdet = np.linalg.slogdet(r)
    return -0.5 * logdet - 0.5 * _mahalanobis(z, r) + 0.5 * (z * z).sum(1)


def copula_logpdf(u: np.ndarray, r: np.ndarray, nu: float) -> np.ndarray:
    """Per-sample log copula density (nats) at uniform scores u (n, d): Gaussian for nu = inf, else t."""
    if not math.isfinite(nu):
        return _gauss_copula_logpdf(stats.norm.ppf(u), r)
    return _t_copula_logpdf(stats.t.ppf(u, nu), r, nu)


def copula_pmi(r: np.ndarray, nu: float, dx: int) -> Critic:
    """The PMI critic (nats) of an elliptical copula (correlation r, nu; inf = Gaussian) at uniform
    scores: log c(u_a, u_b) − log c_x(u_a) − log c_y(u_b), the blocks' own copulas (one coordinate: 0)."""
    def block(u: np.ndarray, sub: np.ndarray) -> np.ndarray:
        return copula_logpdf(u, sub, nu) if u.shape[1] > 1 else np.zeros(len(u))

    def critic(ua: np.ndarray, ub: np.ndarray) -> np.ndarray:
        return copula_logpdf(np.hstack([ua, ub]), r, nu) - block(ua, r[:dx, :dx]) - block(ub, r[dx:, dx:])

    return critic


NU_GRID = (2.5, 3.0, 4.0, 5.0, 7.0, 10.0, 15.0, 25.0, 50.0)  # t-copula degrees of freedom tried


def fit_elliptical(u: np.ndarray, family: str = "auto", nu_grid: tuple[float, ...] = NU_GRID
                   ) -> tuple[float, np.ndarray, dict[float, float]]:
    """(nu, correlation, log-likelihood per nu tried) of the elliptical copula fitted to u (n, d);
    nu = inf is the Gaussian copula. The t family wins only by more than one nat in total."""
    vals, inv = np.unique(u, return_inverse=True)  # the distinct ranks: each quantile evaluated once
    inv = inv.reshape(u.shape)
    z = special.ndtri(vals)[inv]
    rg = np.corrcoef(z, rowvar=False)
    fits = {math.inf: (float(_gauss_copula_logpdf(z, rg).sum()), rg)}
    if family in ("auto", "t"):
        for nu in nu_grid:
            q = special.stdtrit(nu, vals)[inv]
            r = _fit_t_corr(q, nu)
            fits[nu] = (float(_t_copula_logpdf(q, r, nu).sum()), r)
    if family == "gaussian":
        nu = math.inf
    else:
        nu_t = max((v for v in fits if math.isfinite(v)), key=lambda v: fits[v][0])
        nu = nu_t if (family == "t" or fits[nu_t][0] > fits[math.inf][0] + 1.0) else math.inf
    return nu, fits[nu][1], {k: v[0] for k, v in fits.items()}


@register
@dataclass
class CopulaEstimator(MIEstimator):
    """MI of a fitted elliptical copula (nats).

    Parameters:
        family: ``"gaussian"``, ``"t"`` or ``"auto"`` (the higher copula likelihood; the t family
            is chosen only if it beats the Gaussian by more than one nat per extra parameter).
        nu_grid: degrees of freedom tried for the t copula (profile likelihood).
        bias_correction: remove the finite-sample bias of the log-determinants (Wishart).

    ``details`` carries the chosen family and ν. Long tails and tail dependence (Student-t) are
    handled; dependence that is not elliptical (e.g. y = sin(x)) is not — ``auto`` checks that.
    """

    family: str = "auto"
    nu_grid: tuple[float, ...] = NU_GRID
    bias_correction: bool = True

    name = "copula"
    min_samples = 10

    def __post_init__(self) -> None:
        check_choice("family", self.family, ("auto", "gaussian", "t"))
        self.nu_grid = tuple(float(v) for v in self.nu_grid)
        if any(v <= 0 for v in self.nu_grid) or not self.nu_grid:
            raise ValueError(f"nu_grid must hold positive degrees of freedom, got {self.nu_grid}")

    def estimate(self, x: ArrayLike, y: ArrayLike) -> MIEstimate:
        """x: (n, dx), y: (n, dy) continuous. Returns nats."""
        X, Y, _, _ = check_pair(x, y, method=self.name, min_samples=self.min_samples, discrete_y="forbid")
        return self.estimate_ranked(rank_uniform(np.hstack([X, Y])), X.shape[1])

    def estimate_ranked(self, u: np.ndarray, dx: int) -> MIEstimate:
        """The estimate from rank-uniform scores u (n, dx + dy) (:func:`rank_uniform` of [x, y]),
        for callers that already ranked the data. Returns nats.

        A coordinate that is a monotone function of another (equal or reversed ranks,
        :func:`rank_twins`) is handled, not inverted: a repeat within one side is dropped (MI
        unchanged; ``details["dropped"]``); one across the sides is a deterministic relation — the
        estimate is then ``saturated`` (its canonical correlation read as 1 − 1e-12, as the
        ``gaussian`` method does; ``details["deterministic"]``)."""
        twins = rank_twins(u, dx)
        extra: dict = {}
        if twins.across:
            extra["deterministic"] = [f"y[{j}] is a monotone function of x[{i}]" + _few_values(u[:, i])
                                      for i, j in twins.across]
        if twins.within:
            extra["dropped"] = [f"{side}[{j}] repeats {side}[{i}]" for side, j, i in twins.within]
            u, dx = u[:, twins.keep], twins.dx
        n, dy = u.shape[0], u.shape[1] - dx
        if n <= dx + dy + 1:
            raise ValueError(f"too few samples for method 'copula': {n} samples for {dx}+{dy} dimensions")
        if twins.across:
            nu, loglik = math.inf, {}  # no likelihood: the copula density is degenerate
            r = np.corrcoef(ppf_of_ranks(u, special.ndtri), rowvar=False)
            rho = np.minimum(_canonical_from_corr(r, dx), RHO_CAP)
            plugin = _mi_of_canonical(rho)  # capped_mi(r, dx), its correlations computed once
        else:
            try:
                nu, r, loglik = fit_elliptical(u, self.family, self.nu_grid)
            except np.linalg.LinAlgError:
                raise ValueError("the copula's correlation matrix of [x, y] is singular: some coordinates are "
                                 "exact functions of others (not one-to-one, so not found by rank) — drop the "
                                 "redundant ones, or use method='ksg'") from None
            rho = _canonical_from_corr(r, dx)
            plugin = half_logdet_mi(r, dx) + t_mi_correction(nu, dx, dy)
        value = plugin
        if self.bias_correction:
            value += 0.5 * (logdet_bias(dx + dy, n) - logdet_bias(dx, n) - logdet_bias(dy, n))
        return MIEstimate(
            value=float(value),
            method=self.name,
            params=self.params,
            n_samples=n,
            std=float(math.sqrt((rho**2).sum() / n)),  # delta-method std of the Gaussian part
            saturated=bool(twins.across),
            details={"copula": "gaussian" if not math.isfinite(nu) else "t", "nu": nu,
                     "loglik": {str(k): v for k, v in loglik.items()}, "plugin": plugin, **extra},
        )
