"""``flow``: MI through invertible maps — a normalizing flow on each side, a correlated Gaussian base.

MI is invariant under invertible maps of x and of y separately, so if f_x, f_y are invertible,
I(X; Y) = I(f_x(X); f_y(Y)). The estimator learns f_x and f_y (affine couplings interleaved with
learned linear maps, one flow per side) jointly with a Gaussian base over (f_x(x), f_y(y)) by
maximum likelihood, then returns the bias-corrected Gaussian MI of the latents (Butakov et al.
2024, "Mutual information estimation via normalizing flows"). It is exact whenever some pair of
invertible per-side maps makes the joint Gaussian — shears, radius-dependent rotations, coupling layers, and every coordinate-wise warp —
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


def _uniform(shape: tuple[int, ...], fan_in: tuple[int, int]) -> torch.Tensor:
    """``nn.Linear``'s default initialisation, U(±1/√fan_in), with each side's own fan-in (dim 1 is the side)."""
    w = torch.empty(shape)
    for side, fan in enumerate(fan_in):
        nn.init.uniform_(w[:, side], -1 / math.sqrt(fan), 1 / math.sqrt(fan))
    return w


class _PairFlow(nn.Module):
    """Both sides' flows at once: ``layers`` affine couplings per side with alternating even/odd masks,
    the two sides' conditioners batched into one ``bmm`` per layer (half the small ops a step). With
    ``mix``, each coupling is preceded by a learned linear map of the side's coordinates (Glow's
    invertible 1×1 convolution; identity at the start, log|det| by ``slogdet``), so the masks are not
    tied to the coordinate axes.

    Input (2, B, D): side 0 is x, side 1 is y, each zero-padded to D = max(dx, dy); padded coordinates
    are never transformed, and feed the conditioners zeros. A coupling scales the unmasked coordinates
    by exp(2·tanh(s)) and shifts them by t, both MLP functions of the masked ones (D -> hidden -> hidden
    -> 2D, GELU); the last layer starts at zero, so the flow starts as the identity. A side with one
    coordinate gets an affine map. Returns (latents (2, B, D), log|det J| (B,), both sides summed).
    """

    def __init__(self, dx: int, dy: int, layers: int, hidden: int, mix: bool) -> None:
        super().__init__()
        dims, D, H = (dx, dy), max(dx, dy), hidden
        self.mix = mix
        if mix:
            block = torch.zeros(1, 2, D, D)  # 1: a side's own (unpadded) block of its mixing matrix
            for side, d in enumerate(dims):
                block[0, side, :d, :d] = 1
            self.register_buffer("block", block)
            self.register_buffer("eye", torch.eye(D).expand(1, 2, D, D).clone())
            self.w0 = nn.Parameter(torch.eye(D).repeat(layers, 2, 1, 1))
        cond = torch.zeros(layers, 2, 1, D)  # 1: a conditioning coordinate of that layer
        moved = torch.zeros(layers, 2, 1, D)  # 1: a transformed coordinate (padding: neither)
        for i in range(layers):
            for side, d in enumerate(dims):
                if d > 1:
                    cond[i, side, 0, :d] = ((torch.arange(d) % 2) == (i % 2)).float()
                moved[i, side, 0, :d] = 1 - cond[i, side, 0, :d]
        self.register_buffer("cond", cond)
        self.register_buffer("moved", moved)
        w1 = _uniform((layers, 2, D, H), dims)
        for side, d in enumerate(dims):
            w1[:, side, d:] = 0
        self.w1, self.b1 = nn.Parameter(w1), nn.Parameter(_uniform((layers, 2, 1, H), dims))
        self.w2, self.b2 = nn.Parameter(_uniform((layers, 2, H, H), (H, H))), nn.Parameter(
            _uniform((layers, 2, 1, H), (H, H)))
        self.w3, self.b3 = nn.Parameter(torch.zeros(layers, 2, H, 2 * D)), nn.Parameter(
            torch.zeros(layers, 2, 1, 2 * D))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gelu = nn.functional.gelu
        logdet = x.new_zeros(x.shape[:2])
        if self.mix:
            W = self.w0 * self.block + self.eye * (1 - self.block)  # padding: identity, never mixed in
            mix_logdet = torch.linalg.slogdet(W)[1].sum()
        for i in range(self.w1.shape[0]):
            if self.mix:
                x = torch.bmm(x, W[i])
            h = gelu(torch.baddbmm(self.b1[i], x * self.cond[i], self.w1[i]))
            h = gelu(torch.baddbmm(self.b2[i], h, self.w2[i]))
            s, t = torch.baddbmm(self.b3[i], h, self.w3[i]).chunk(2, dim=-1)
            s = 2.0 * torch.tanh(s) * self.moved[i]
            x = x * torch.exp(s) + t * self.moved[i]
            logdet = logdet + s.sum(-1)
        logdet = logdet.sum(0)
        return x, (logdet + mix_logdet if self.mix else logdet)


class _JointModel(nn.Module):
    """Flows for x and y and a Gaussian base with a learned Cholesky factor over (z_x, z_y)."""

    def __init__(self, dx: int, dy: int, layers: int, hidden: int, cov: np.ndarray, mix: bool) -> None:
        super().__init__()
        self.dx, self.dy = dx, dy
        self.flows = _PairFlow(dx, dy, layers, hidden, mix)
        chol = np.linalg.cholesky(cov + 1e-6 * np.eye(len(cov)))
        d = np.diag(chol)
        raw = chol - np.diag(d) + np.diag(np.log(np.expm1(d)))  # softplus^-1 on the diagonal
        self.raw = nn.Parameter(torch.tensor(raw, dtype=torch.float32))

    def latents(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, dx + dy) -> (latents (B, dx + dy), log|det J| (B,))."""
        x = z.new_zeros(2, z.shape[0], max(self.dx, self.dy))
        x[0, :, : self.dx], x[1, :, : self.dy] = z[:, : self.dx], z[:, self.dx :]
        w, logdet = self.flows(x)
        return torch.cat([w[0, :, : self.dx], w[1, :, : self.dy]], 1), logdet

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
             holdout: float, eval_every: int, patience: int, seed: int,
             mix: bool, give_up: tuple[int, float] | None = None) -> FlowFit:
    """Fit the joint flow on rank-Gaussianised data z (n, dx + dy); the best held-out state is kept.
    The parameters are :class:`FlowEstimator`'s (its fields hold the defaults; :meth:`FlowEstimator.fit`).
    ``give_up`` (step, nll): stop at the first evaluation from that step on whose best held-out NLL is
    still above ``nll`` (nats/sample): a flow that far behind a rival model is not worth its steps
    (``details["gave_up"]``). ``details["history"]``: the held-out NLL at every evaluation, as
    (step, value) pairs."""
    tr, te = heldout_split(len(z), holdout, seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # its matrices are too small to gain from threads, which thrash on a busy CPU
    try:
        return _fit(z, dx, tr, te, layers, hidden, max_steps, lr, batch_size, eval_every, patience, seed, give_up,
                    mix)
    finally:
        torch.set_num_threads(threads)


def _fit(z: np.ndarray, dx: int, tr: np.ndarray, te: np.ndarray, layers: int, hidden: int, max_steps: int,
         lr: float, batch_size: int, eval_every: int, patience: int, seed: int,
         give_up: tuple[int, float] | None, mix: bool) -> FlowFit:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        Z = torch.tensor(z, dtype=torch.float32)
        model = _JointModel(dx, z.shape[1] - dx, layers, hidden, np.cov(z[tr], rowvar=False), mix)
        opt = fused_adam(model.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        tr_t, te_t = torch.as_tensor(tr), torch.as_tensor(te)
        with torch.no_grad():
            best = -float(model.log_density(Z[te_t]).mean())
        best_state, bad, step = {k: v.clone() for k, v in model.state_dict().items()}, 0, 0
        history, gave_up = [(0, best)], False
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
                if give_up is not None and step >= give_up[0] and best > give_up[1]:
                    gave_up = True
                    break
        model.load_state_dict(best_state)
        with torch.no_grad():
            w, _ = model.latents(Z)
            ll = model.log_density(Z[te_t]).double().numpy()
    ref = stats.norm.logpdf(z[te]).sum(1)
    return FlowFit(latents=w.double().numpy(), heldout=te, heldout_copula_loglik=ll - ref, steps=step,
                   details={"heldout_nll": best, "n_heldout": len(te), "gave_up": gave_up, "history": history})


@register
@dataclass
class FlowEstimator(MIEstimator):
    """Gaussian MI of jointly learned per-side flows (nats); see the module docstring.

    Parameters: ``layers`` (affine couplings per side), ``hidden`` (conditioner width), ``mix`` (a learned
    invertible linear map per side before each coupling),
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
    mix: bool = True

    name = "flow"
    min_samples = 200

    def __post_init__(self) -> None:
        for k in ("layers", "hidden", "max_steps", "batch_size", "eval_every", "patience"):
            check_positive(k, getattr(self, k), integer=True)
        check_positive("lr", self.lr)
        if not 0.05 <= self.holdout <= 0.5:
            raise ValueError(f"holdout must be a fraction in [0.05, 0.5], got {self.holdout}")

    def split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The (train, held-out) indices that :meth:`fit` uses on n samples."""
        return heldout_split(n, self.holdout, self.seed)

    def fit(self, z: np.ndarray, dx: int, give_up: tuple[int, float] | None = None) -> FlowFit:
        """The joint flow with these parameters on rank-Gaussianised data z (n, dx + dy); ``give_up``:
        :func:`fit_flow`'s."""
        return fit_flow(z, dx, layers=self.layers, hidden=self.hidden, max_steps=self.max_steps, lr=self.lr,
                        batch_size=self.batch_size, holdout=self.holdout, eval_every=self.eval_every,
                        patience=self.patience, seed=self.seed, give_up=give_up, mix=self.mix)

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
