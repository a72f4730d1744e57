"""``flow``: MI through invertible maps — a normalizing flow on each side, a correlated Gaussian base.

MI is invariant under invertible maps of x and of y separately, so if f_x, f_y are invertible,
I(X; Y) = I(f_x(X); f_y(Y)). The estimator learns f_x and f_y (affine-coupling flows, one per
side) jointly with a Gaussian base over (f_x(x), f_y(y)) by maximum likelihood, then returns the
bias-corrected Gaussian MI of the latents (Butakov et al. 2024, "Mutual information estimation via
normalizing flows"). It is exact whenever some pair of invertible per-side maps makes the joint
Gaussian — shears, radius-dependent rotations, coupling layers, and every coordinate-wise warp —
which is where the elliptical copula and KSG fall short in moderate dimension. It does not model
tail dependence (Student-t): ``auto`` keeps the copula there, deciding by held-out likelihood.

The marginals are rank-Gaussianised first (as in ``copula``), training uses a seeded
train/held-out split with early stopping on the held-out likelihood, and the global RNG is left
untouched. It trains on one CPU thread (and restores the thread count).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import nn

from .._optim import fused_adam
from .._validate import ArrayLike, check_pair
from ..result import MIEstimate
from .base import MIEstimator, check_positive, register
from .copula import rank_uniform
from .gaussian import GaussianEstimator

__all__ = ["FlowEstimator", "FlowFit", "fit_flow", "heldout_split"]


class _Coupling(nn.Module):
    """Affine coupling: the unmasked coordinates are scaled by exp(2·tanh(s)) and shifted by t, both
    functions of the masked ones. Starts as the identity (zero last layer)."""

    def __init__(self, d: int, hidden: int, mask: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, 2 * d))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.net(x * self.mask).chunk(2, dim=-1)
        s = 2.0 * torch.tanh(s) * (1 - self.mask)
        return x * torch.exp(s) + t * (1 - self.mask), s.sum(-1)


class _SideFlow(nn.Module):
    """``layers`` couplings with alternating even/odd masks: x (B, d) -> (z (B, d), log|det J| (B,))."""

    def __init__(self, d: int, layers: int, hidden: int) -> None:
        super().__init__()
        masks = [((torch.arange(d) % 2) == (i % 2)).float() if d > 1 else torch.zeros(d) for i in range(layers)]
        self.couplings = nn.ModuleList(_Coupling(d, hidden, m) for m in masks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = torch.zeros(x.shape[0], dtype=x.dtype)
        for c in self.couplings:
            x, ld = c(x)
            logdet = logdet + ld
        return x, logdet


class _JointModel(nn.Module):
    """Flows for x and y and a Gaussian base with a learned Cholesky factor over (z_x, z_y)."""

    def __init__(self, dx: int, dy: int, layers: int, hidden: int, cov: np.ndarray) -> None:
        super().__init__()
        self.dx = dx
        self.fx, self.fy = _SideFlow(dx, layers, hidden), _SideFlow(dy, layers, hidden)
        chol = np.linalg.cholesky(cov + 1e-6 * np.eye(len(cov)))
        d = np.diag(chol)
        raw = chol - np.diag(d) + np.diag(np.log(np.expm1(d)))  # softplus^-1 on the diagonal
        self.raw = nn.Parameter(torch.tensor(raw, dtype=torch.float32))

    def latents(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, la = self.fx(z[:, : self.dx])
        b, lb = self.fy(z[:, self.dx :])
        return torch.cat([a, b], 1), la + lb

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) per sample (nats) for z (B, dx + dy) in the rank-Gaussianised space."""
        w, logdet = self.latents(z)
        diag = nn.functional.softplus(torch.diagonal(self.raw)) + 1e-4
        chol = torch.tril(self.raw, -1) + torch.diag(diag)
        sol = torch.linalg.solve_triangular(chol, w.T, upper=False)
        d = w.shape[1]
        return -0.5 * (sol**2).sum(0) - torch.log(diag).sum() - 0.5 * d * math.log(2 * math.pi) + logdet


@dataclass
class FlowFit:
    """A fitted joint flow: latents of every sample, and held-out copula log-densities per sample."""

    latents: np.ndarray  # (n, dx + dy)
    heldout: np.ndarray  # indices of the held-out samples
    heldout_copula_loglik: np.ndarray  # log p(z) - sum log phi(z) on the held-out samples (nats)
    steps: int
    details: dict[str, Any] = field(default_factory=dict)


def heldout_split(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded (train, held-out) index split of n samples that :func:`fit_flow` uses."""
    perm = np.random.default_rng(seed).permutation(n)
    n_te = max(1, int(round(holdout * n)))
    return perm[n_te:], np.sort(perm[:n_te])


def fit_flow(z: np.ndarray, dx: int, *, layers: int, hidden: int, max_steps: int, lr: float, batch_size: int,
             holdout: float, eval_every: int, patience: int, seed: int) -> FlowFit:
    """Fit the joint flow on rank-Gaussianised data z (n, dx + dy); the best held-out state is kept.
    The parameters are :class:`FlowEstimator`'s (its fields hold the defaults; :meth:`FlowEstimator.fit`).
    ``details["history"]``: the held-out NLL (nats/sample) at every evaluation, as (step, value) pairs."""
    tr, te = heldout_split(len(z), holdout, seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # its matrices are too small to gain from threads, which thrash on a busy CPU
    try:
        return _fit(z, dx, tr, te, layers, hidden, max_steps, lr, batch_size, eval_every, patience, seed)
    finally:
        torch.set_num_threads(threads)


def _fit(z: np.ndarray, dx: int, tr: np.ndarray, te: np.ndarray, layers: int, hidden: int, max_steps: int,
         lr: float, batch_size: int, eval_every: int, patience: int, seed: int) -> FlowFit:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        Z = torch.tensor(z, dtype=torch.float32)
        model = _JointModel(dx, z.shape[1] - dx, layers, hidden, np.cov(z[tr], rowvar=False))
        opt = fused_adam(model.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        tr_t, te_t = torch.as_tensor(tr), torch.as_tensor(te)
        with torch.no_grad():
            best = -float(model.log_density(Z[te_t]).mean())
        best_state, bad, step = {k: v.clone() for k, v in model.state_dict().items()}, 0, 0
        history = [(0, best)]
        for step in range(1, max_steps + 1):
            idx = tr_t[torch.randint(len(tr_t), (min(batch_size, len(tr_t)),), generator=gen)]
            loss = -model.log_density(Z[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % eval_every == 0:
                with torch.no_grad():
                    v = -float(model.log_density(Z[te_t]).mean())
                history.append((step, v))
                if v < best - 1e-4:
                    best, bad, best_state = v, 0, {k: t.clone() for k, t in model.state_dict().items()}
                else:
                    bad += 1
                    if bad >= patience:
                        break
        model.load_state_dict(best_state)
        with torch.no_grad():
            w, _ = model.latents(Z)
            ll = model.log_density(Z[te_t]).double().numpy()
    ref = stats.norm.logpdf(z[te]).sum(1)
    return FlowFit(latents=w.double().numpy(), heldout=te, heldout_copula_loglik=ll - ref, steps=step,
                   details={"heldout_nll": best, "n_heldout": len(te), "history": history})


@register
@dataclass
class FlowEstimator(MIEstimator):
    """Gaussian MI of jointly learned per-side flows (nats); see the module docstring.

    Parameters: ``layers`` (affine couplings per side), ``hidden`` (conditioner width),
    ``max_steps``, ``lr``, ``batch_size``, ``holdout`` (fraction for early stopping),
    ``eval_every``, ``patience`` (held-out checks without improvement), ``seed``.
    Needs ``min_samples`` = 200 samples (``auto`` uses it from 1,000).
    """

    layers: int = 8
    hidden: int = 64
    max_steps: int = 4000
    lr: float = 5e-3
    batch_size: int = 1024
    holdout: float = 0.2
    eval_every: int = 50
    patience: int = 6
    seed: int = 0

    name = "flow"
    min_samples = 200

    def __post_init__(self) -> None:
        for k in ("layers", "hidden", "max_steps", "batch_size", "eval_every", "patience"):
            check_positive(k, getattr(self, k), integer=True)
        check_positive("lr", self.lr)
        if not 0.05 <= self.holdout <= 0.5:
            raise ValueError(f"holdout must be a fraction in [0.05, 0.5], got {self.holdout}")

    def fit(self, z: np.ndarray, dx: int) -> FlowFit:
        """The joint flow with these parameters on rank-Gaussianised data z (n, dx + dy)."""
        return fit_flow(z, dx, layers=self.layers, hidden=self.hidden, max_steps=self.max_steps, lr=self.lr,
                        batch_size=self.batch_size, holdout=self.holdout, eval_every=self.eval_every,
                        patience=self.patience, seed=self.seed)

    def estimate(self, x: ArrayLike, y: ArrayLike) -> MIEstimate:
        """x: (n, dx), y: (n, dy) continuous, n >= 200. Returns nats."""
        X, Y, _, _ = check_pair(x, y, method=self.name, min_samples=self.min_samples, discrete_y="forbid")
        z = stats.norm.ppf(rank_uniform(np.hstack([X, Y])))
        return flow_result(self.fit(z, X.shape[1]), X.shape[1], self.params)


def flow_result(fit: FlowFit, dx: int, params: dict[str, Any]) -> MIEstimate:
    """The Gaussian MI of a fit's latents as the flow estimate."""
    g = GaussianEstimator().estimate(fit.latents[:, :dx], fit.latents[:, dx:])
    return MIEstimate(value=g.value, method="flow", params=params, n_samples=len(fit.latents), std=g.std,
                      details={"steps": fit.steps, **{k: v for k, v in fit.details.items() if k != "history"},
                               "heldout_copula_loglik": float(fit.heldout_copula_loglik.mean())})
