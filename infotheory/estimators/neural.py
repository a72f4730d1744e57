"""Shared critic and trainer for the variational MI bounds (MINE, NWJ, InfoNCE, SMILE).

All bounds are computed from a score matrix ``S`` (B, B) with ``S[i, j] = f(x_i, y_j)``:
the diagonal holds joint samples, the off-diagonal product-of-marginals samples (Poole et al. 2019).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validate import ArrayLike, check_pair
from ..result import MIEstimate
from .base import MIEstimator, check_choice, check_positive

__all__ = ["SeparableCritic", "ConcatCritic", "NeuralEstimator", "bound_value", "resolve_device"]


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; a clear error when CUDA is asked for but absent."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch reports no CUDA device")
    return torch.device(device)


def _mlp(d_in: int, hidden: int, d_out: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = d_in
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, d_out))
    return nn.Sequential(*mods)


class SeparableCritic(nn.Module):
    """f(x, y) = g(x)ᵀ h(y) / sqrt(embed): the full (B, B) score matrix costs two MLP passes."""

    def __init__(self, dx: int, dy: int, hidden: int = 128, layers: int = 2, embed: int = 32) -> None:
        super().__init__()
        self.g, self.h, self.scale = _mlp(dx, hidden, embed, layers), _mlp(dy, hidden, embed, layers), embed**-0.5

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.g(x) @ self.h(y).T) * self.scale


class ConcatCritic(nn.Module):
    """f(x, y) = MLP([x, y]) evaluated on all B² pairs (more expressive, B× more compute)."""

    def __init__(self, dx: int, dy: int, hidden: int = 128, layers: int = 2, embed: int = 0) -> None:
        super().__init__()
        self.f = _mlp(dx + dy, hidden, 1, layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        pairs = torch.cat([x[:, None, :].expand(b, y.shape[0], -1), y[None, :, :].expand(b, -1, -1)], dim=-1)
        return self.f(pairs).squeeze(-1)


def _logmeanexp_offdiag(s: torch.Tensor) -> torch.Tensor:
    b = s.shape[0]
    off = s.masked_fill(torch.eye(b, dtype=torch.bool, device=s.device), float("-inf"))
    return torch.logsumexp(off.flatten(), 0) - math.log(b * (b - 1))


def bound_value(kind: str, s: torch.Tensor, clip: float = 5.0) -> torch.Tensor:
    """Value of the bound ``kind`` from a score matrix s (B, B), in nats."""
    joint = s.diagonal().mean()
    if kind == "mine":  # Donsker–Varadhan
        return joint - _logmeanexp_offdiag(s)
    if kind == "nwj":
        b = s.shape[0]
        off = s.masked_fill(torch.eye(b, dtype=torch.bool, device=s.device), float("-inf"))
        return joint - torch.exp(off - 1.0).sum() / (b * (b - 1))
    if kind == "infonce":
        return (s.diagonal() - torch.logsumexp(s, dim=1)).mean() + math.log(s.shape[0])
    if kind == "smile":
        return joint - _logmeanexp_offdiag(s.clamp(-clip, clip))
    raise ValueError(f"unknown bound {kind!r}")


def _js_surrogate(s: torch.Tensor) -> torch.Tensor:
    """Jensen–Shannon f-GAN objective used to train the SMILE critic (Song & Ermon 2020)."""
    b = s.shape[0]
    off = s.masked_fill(torch.eye(b, dtype=torch.bool, device=s.device), 0.0)
    neg = nn.functional.softplus(off).sum() / (b * (b - 1))
    return -nn.functional.softplus(-s.diagonal()).mean() - neg


@dataclass
class NeuralEstimator(MIEstimator):
    """Trains a critic on a training split and reports the bound on a held-out test split.

    Samples are split ``train_frac`` / ``val_frac`` / rest (test); the critic is trained with
    Adam on mini-batches of the training split, the validation bound (full split) is tracked
    every ``eval_every`` steps for early stopping (patience counted in evaluations, never before
    ``min_steps``), and the critic with the best validation bound is evaluated once on the
    untouched test split. ``std`` is a bootstrap std over test rows. The training curve is in
    ``.curve``. x and y are standardised per column on the training split.
    """

    critic: str = "separable"
    hidden: int = 128
    layers: int = 2
    embed: int = 32
    batch_size: int = 256
    lr: float = 5e-4
    max_steps: int = 3000
    min_steps: int = 500
    eval_every: int = 100
    patience: int = 5
    train_frac: float = 0.7
    val_frac: float = 0.15
    seed: int = 0
    device: str = "auto"

    min_samples = 64
    kind = "mine"

    def __post_init__(self) -> None:
        check_choice("critic", self.critic, ("separable", "concat"))
        for name in ("hidden", "layers", "embed", "batch_size", "max_steps", "eval_every", "patience"):
            check_positive(name, getattr(self, name), integer=True)
        check_positive("lr", self.lr)
        if not (0 < self.train_frac < 1 and 0 < self.val_frac < 1 and self.train_frac + self.val_frac < 1):
            raise ValueError(
                f"train_frac={self.train_frac} and val_frac={self.val_frac} must be in (0, 1) and sum to < 1"
            )
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps={self.min_steps} exceeds max_steps={self.max_steps}")

    # hooks for subclasses -------------------------------------------------------------------
    def _loss(self, s: torch.Tensor) -> torch.Tensor:
        """Loss minimised on a training batch (default: the negative bound)."""
        return -bound_value(self.kind, s)

    def _value(self, s: torch.Tensor) -> torch.Tensor:
        return bound_value(self.kind, s)

    def _extra_params(self) -> dict[str, Any]:
        return {}

    # ----------------------------------------------------------------------------------------
    def estimate(self, x: ArrayLike, y: ArrayLike) -> MIEstimate:
        """x: (n, dx), y: (n, dy) floats or integer labels (one-hot encoded). Returns nats.

        Seeded by ``seed`` alone: the critic's initialisation runs inside a forked RNG and batches
        come from a local generator, so the caller's global torch RNG (a training run's) is untouched."""
        X, Y, xd, yd = check_pair(x, y, method=self.name, min_samples=self.min_samples, backend="torch")
        dev = resolve_device(self.device) if self.device != "auto" else (
            X.device if X.device.type != "cpu" else resolve_device("auto")
        )
        cuda = [dev.index or 0] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            return self._fit(X, Y, xd, yd, dev)

    def _fit(self, X: torch.Tensor, Y: torch.Tensor, xd: bool, yd: bool, dev: torch.device) -> MIEstimate:
        X, Y = (self._encode(a, d).to(dev) for a, d in ((X, xd), (Y, yd)))
        n = X.shape[0]
        gen = torch.Generator().manual_seed(self.seed)
        perm = torch.randperm(n, generator=gen).to(dev)
        n_tr, n_va = int(self.train_frac * n), int(self.val_frac * n)
        if min(n_tr, n_va, n - n_tr - n_va) < 16:
            raise ValueError(f"too few samples for method '{self.name}': {n} leaves a split with < 16 rows")
        tr, va, te = perm[:n_tr], perm[n_tr : n_tr + n_va], perm[n_tr + n_va :]
        mx, sx = X[tr].mean(0), X[tr].std(0).clamp_min(1e-8)
        my, sy = Y[tr].mean(0), Y[tr].std(0).clamp_min(1e-8)
        X, Y = (X - mx) / sx, (Y - my) / sy

        torch.manual_seed(self.seed)
        cls = SeparableCritic if self.critic == "separable" else ConcatCritic
        net = cls(X.shape[1], Y.shape[1], self.hidden, self.layers, self.embed).to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        bs = min(self.batch_size, n_tr)
        best, best_state, bad, curve = -math.inf, copy.deepcopy(net.state_dict()), 0, []
        ema_train = None
        for step in range(1, self.max_steps + 1):
            idx = tr[torch.randint(n_tr, (bs,), generator=gen).to(dev)]
            s = net(X[idx], Y[idx])
            loss = self._loss(s)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                v = float(self._value(s.detach()))
            ema_train = v if ema_train is None else 0.9 * ema_train + 0.1 * v
            if step % self.eval_every == 0 or step == self.max_steps:
                val = self._evaluate(net, X[va], Y[va])
                curve.append({"step": step, "train": ema_train, "val": val})
                if val > best + 1e-4:
                    best, best_state, bad = val, copy.deepcopy(net.state_dict()), 0
                else:
                    bad += 1
                if bad >= self.patience and step >= self.min_steps:
                    break
        net.load_state_dict(best_state)
        value, std = self._evaluate(net, X[te], Y[te], bootstrap=20, gen=gen)
        if not math.isfinite(value):
            raise FloatingPointError(f"{self.name}: the bound diverged (non-finite test value); lower lr")
        return MIEstimate(
            value=float(value),
            method=self.name,
            params={**self.params, **self._extra_params()},
            n_samples=n,
            std=std,
            ceiling=math.log(len(te)) if self.kind == "infonce" else None,
            saturated=bool(self.kind == "infonce" and value > 0.9 * math.log(len(te))),
            curve=curve,
            details={"steps": curve[-1]["step"] if curve else 0, "best_val": best,
                     "split": {"train": n_tr, "val": n_va, "test": len(te)}, "device": str(dev)},
        )

    @staticmethod
    def _encode(a: torch.Tensor, discrete: bool) -> torch.Tensor:
        if not discrete:
            return a.to(torch.float32)
        _, inv = torch.unique(a, dim=0, return_inverse=True)
        return nn.functional.one_hot(inv.reshape(-1)).to(torch.float32)

    @torch.no_grad()
    def _evaluate(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor, bootstrap: int = 0,
                  gen: torch.Generator | None = None) -> Any:
        s = net(x, y).double()
        value = float(self._value(s))
        if not bootstrap:
            return value
        m = s.shape[0]
        boots = []
        for _ in range(bootstrap):
            i = torch.randint(m, (m,), generator=gen).to(s.device)
            boots.append(float(self._value(s[i][:, i])))
        return value, float(np.std(boots))
