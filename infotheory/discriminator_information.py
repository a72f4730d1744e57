"""Vanishing gradients, in information: how much a discriminator knows about real vs restored.

With a label L ∈ {real, restored} drawn with probability ½ each and a sample S from that class,
I(S;L) = JSD(P_real, P_restored) ≤ log 2 (nats). Any classifier q(real | s) gives the lower bound

    JSD ≥ log 2 − CE,   CE = ½ (E_real[−log q(s)] + E_restored[−log(1 − q(s))]) = L_D / 2,

where L_D is the discriminator's BCE loss (sum of its real and fake terms) on held-out samples;
equality at the Bayes-optimal D. As the bound nears its log 2 ceiling the minimax generator
gradient vanishes (Arjovsky & Bottou, 2017); LSGAN (Pearson χ²) and WGAN (W1) change the measure so
a gradient survives where the JSD saturates.

Discriminators of non-BCE losses (LSGAN, hinge, WGAN) output scores, not logits: ``calibrate``
fits a 1-D logistic map of the score on one half of the samples and evaluates the cross-entropy on
the other half (and the reverse; cross-fitting), so the bound stays valid for any score.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = ["jsd_lower_bound", "gaussian_jsd", "LOG2"]

LOG2 = math.log(2.0)


def _flat(a: Any, name: str) -> np.ndarray:
    v = a.detach().float().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=float)
    v = v.reshape(-1).astype(np.float64)
    if v.size < 2:
        raise ValueError(f"{name}: need at least 2 discriminator outputs, got {v.size}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} has NaN or infinite discriminator outputs")
    return v


def _ce_terms(s: np.ndarray, label: int, a: float = 1.0, b: float = 0.0) -> np.ndarray:
    z = a * s + b
    # −log σ(z) for real, −log(1 − σ(z)) = −log σ(−z) for restored, computed stably
    return np.logaddexp(0.0, -z) if label == 1 else np.logaddexp(0.0, z)


def _fit_logistic(real: np.ndarray, fake: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """(a, b) of the 1-D logistic map σ(a·s + b) minimising the class-balanced cross-entropy of real
    (label 1) vs fake (label 0) scores — Newton's method on two parameters (numpy only: no thread
    pools touched, so a diagnostic inside a training loop cannot change its numerics)."""
    s = np.r_[real, fake]
    lab = np.r_[np.ones(real.size), np.zeros(fake.size)]
    w = np.r_[np.full(real.size, 0.5 / real.size), np.full(fake.size, 0.5 / fake.size)]
    scale = float(s.std()) or 1.0
    x = (s - s.mean()) / scale  # standardised for a well-conditioned Newton step
    theta = np.zeros(2)
    ridge = 1e-8
    for _ in range(iters):
        z = theta[0] * x + theta[1]
        p = 1.0 / (1.0 + np.exp(-z))
        g = np.array([np.sum(w * (p - lab) * x), np.sum(w * (p - lab))]) + ridge * theta
        h = w * p * (1 - p)
        H = np.array([[np.sum(h * x * x), np.sum(h * x)], [np.sum(h * x), np.sum(h)]]) + ridge * np.eye(2)
        step = np.linalg.solve(H, g)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    a = theta[0] / scale
    return float(a), float(theta[1] - a * s.mean())


def jsd_lower_bound(real_logits: Any, fake_logits: Any, calibrate: bool = False, n_boot: int = 200, seed: int = 0,
                    level: float = 0.95) -> dict[str, float]:
    """Lower bound on JSD(real, restored) = I(sample; real/restored label), in nats.

    real_logits, fake_logits: a discriminator's outputs on held-out real and restored samples (any
    shape, flattened; PatchGAN maps give one sample per patch). Read as logits of q(real | s) unless
    ``calibrate``. Returns ``value`` (log 2 − CE; may be negative for a poor classifier: the bound
    is then void, not the JSD), ``low``/``high`` (bootstrap over samples), ``fraction`` (value /
    log 2), ``ceiling`` (log 2), ``ce`` (nats), ``n_real``, ``n_fake``.
    """
    r, f = _flat(real_logits, "real_logits"), _flat(fake_logits, "fake_logits")
    rng = np.random.default_rng([seed, 1729])
    if calibrate:
        if min(r.size, f.size) < 4:
            raise ValueError("calibrate=True needs at least 4 outputs per class (two halves to cross-fit)")
        ir, jf = rng.permutation(r.size), rng.permutation(f.size)
        halves = [(ir[: r.size // 2], jf[: f.size // 2]), (ir[r.size // 2:], jf[f.size // 2:])]
        tr, tf = np.empty_like(r), np.empty_like(f)
        for (fit_r, fit_f), (ev_r, ev_f) in (halves, halves[::-1]):
            a, b = _fit_logistic(r[fit_r], f[fit_f])
            tr[ev_r], tf[ev_f] = _ce_terms(r[ev_r], 1, a, b), _ce_terms(f[ev_f], 0, a, b)
    else:
        tr, tf = _ce_terms(r, 1), _ce_terms(f, 0)
    ce = 0.5 * (tr.mean() + tf.mean())
    value = LOG2 - ce
    lo = hi = math.nan
    if n_boot > 0:
        reps = [LOG2 - 0.5 * (tr[rng.integers(tr.size, size=tr.size)].mean() + tf[rng.integers(tf.size, size=tf.size)].mean())
                for _ in range(n_boot)]
        q = (1 - level) / 2
        lo, hi = float(np.quantile(reps, q)), float(np.quantile(reps, 1 - q))
    return {"value": float(value), "low": lo, "high": hi, "fraction": float(value / LOG2), "ceiling": LOG2,
            "ce": float(ce), "n_real": int(r.size), "n_fake": int(f.size)}


def gaussian_jsd(mu: float, sigma: float = 1.0, points: int = 200_001) -> float:
    """JSD(N(+mu, σ²), N(−mu, σ²)) in nats by quadrature — a known answer for :func:`jsd_lower_bound`
    (the Bayes-optimal logit is 2·mu·s/σ²)."""
    from scipy import stats

    s = np.linspace(-abs(mu) - 12 * sigma, abs(mu) + 12 * sigma, points)
    p, q = stats.norm.pdf(s, mu, sigma), stats.norm.pdf(s, -mu, sigma)
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = lambda a: np.where(a > 0, a * np.log(a / m), 0.0)  # noqa: E731
        return float(0.5 * np.trapezoid(kl(p), s) + 0.5 * np.trapezoid(kl(q), s))
