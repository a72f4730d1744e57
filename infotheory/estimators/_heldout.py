"""Held-out NWJ lower bound: the criterion by which ``auto`` ranks fitted dependence models.

A fitted model of (x, y) gives a pointwise MI (PMI) critic T(a, b) = log p(a, b) − log p(a) − log p(b).
For any critic, I(X; Y) >= E_p[T] + 1 − E_{p⊗p}[e^T] (Nguyen, Wainwright & Jordan 2010; with T the
true PMI it is tight). Evaluated on samples the model was not fitted on, the bound ranks models on
the quantity being estimated — the MI itself — rather than on their likelihood, which a model can
win or lose on the marginals alone. Pairs from the product p⊗p are the held-out x's against the
held-out y's shifted by K distinct cyclic offsets (no sample meets its own partner).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["Critic", "gaussian_pmi", "heldout_nwj", "product_shifts"]

Critic = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (m, dx), (m, dy) -> PMI (m,) in nats


def product_shifts(m: int, k: int, seed: int) -> np.ndarray:
    """k distinct cyclic offsets in 1..m-1 (seeded): row i meets partner (i + s) mod m."""
    if m < 2:
        raise ValueError(f"the held-out NWJ bound needs at least 2 held-out samples, got {m}")
    rng = np.random.default_rng(seed)
    return rng.choice(np.arange(1, m), size=min(k, m - 1), replace=False)


def heldout_nwj(critic: Critic, a: np.ndarray, b: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Per-sample NWJ terms T(a_i, b_i) + 1 − mean_s e^{T(a_i, b_{i+s})}, (m,) nats; their mean is
    the bound. a: (m, dx), b: (m, dy) held-out samples; shifts from :func:`product_shifts`."""
    joint = critic(a, b)
    product = np.stack([critic(a, np.roll(b, -int(s), axis=0)) for s in shifts], axis=1)
    return joint + 1.0 - np.exp(np.minimum(product, 50.0)).mean(axis=1)  # e^50: already a useless critic


def gaussian_pmi(w: np.ndarray, dx: int) -> Critic:
    """The PMI critic of the Gaussian fitted to w (n, dx + dy) (mean and covariance)."""
    mu, cov = w.mean(axis=0), np.cov(w, rowvar=False)
    prec = np.linalg.inv(cov)
    qa = prec[:dx, :dx] - np.linalg.inv(cov[:dx, :dx])
    qb = prec[dx:, dx:] - np.linalg.inv(cov[dx:, dx:])
    ld = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    const = 0.5 * (ld(cov[:dx, :dx]) + ld(cov[dx:, dx:]) - ld(cov))

    def critic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = a - mu[:dx], b - mu[dx:]
        quad = (np.einsum("ni,ij,nj->n", a, qa, a) + np.einsum("ni,ij,nj->n", b, qb, b)
                + 2.0 * np.einsum("ni,ij,nj->n", a, prec[:dx, dx:], b))
        return const - 0.5 * quad

    return critic
