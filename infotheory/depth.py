"""Information along depth with fixed variables: I(X;T_l) and I(T_l;Y) where X and Y are the same
random variables at every layer.

One sample is one whole probe crop (the footprint, the same at every layer): X is the degraded
crop, Y the clean crop, and T_l is layer l's *whole* activation map of that crop. Then
Y → X → T_1 → … → T_L is a Markov chain (each T_l is computed from T_{l−1}), so the true
I(X;T_l) and I(T_l;Y) cannot grow with l (data-processing inequality), and I(T_l;Y) ≤ I(X;Y).

What the estimate keeps of that ordering (stated in every row's params):

* Each variable is flattened and reduced by one stated rule: a seeded Gaussian random projection
  to ``dim`` dimensions (X's and Y's matrices are the same for every layer). A reduction R_l of
  T_l obeys I(R_l;Y) ≤ I(T_l;Y), but reductions of different layers are not a chain: R_{l+1} is not
  a function of R_l, so the *estimated* sequence may rise where the true one cannot.
* ``gaussian`` gives the MI of the Gaussian with the same covariance (exact for linear-Gaussian
  chains, where the ordering then holds up to sampling error); ``ksg`` and ``copula`` estimate the
  MI of the reduced vectors themselves. Noise conventions (``kde``: T + ε) and binning are *not*
  part of the chain — the noise or the bins are added after each layer, not propagated — so they
  do not preserve the ordering either, and for a deterministic T_l of continuous X the true
  I(X;T_l) is infinite: every finite I(X;T_l) here describes the reduced, estimated quantity.

Every increase of I(T_l;Y) over the previous layer is reported with its size and whether it
exceeds 2 standard errors (``dpi_violation``). Each row carries ``n``, the number of samples it
rests on; fewer than ``min_samples`` probe crops is an error, not a silent estimate.
"""
from __future__ import annotations

import json
import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ._isolate import eval_mode, isolated
from ._validate import check_finite
from .api import estimate_mi
from .reductions import RandomProjection
from .taps import LayerTap
from .rows import tidy_row

__all__ = ["information_along_depth", "chain_information", "MIN_SAMPLES"]

MIN_SAMPLES = 200  # samples (probe crops) every depth number rests on, at least


def _mi_std(a: np.ndarray, b: np.ndarray, estimator: str, params: dict[str, Any], reps: int,
            seed: int) -> tuple[float, float]:
    """(estimate, standard error): the estimator's own ``std`` when ``reps`` is 0 and it reports one
    (``gaussian``: delta method), else the std over ``reps`` bootstrap resamples (20 if 0 was asked
    of an estimator that reports none)."""
    est = estimate_mi(a, b, method=estimator, **params)
    if reps == 0 and est.std is not None:
        return est.value, float(est.std)
    return est.value, _bootstrap_std(a, b, estimator, params, reps or 20, seed)


def _bootstrap_std(a: np.ndarray, b: np.ndarray, estimator: str, params: dict[str, Any], reps: int,
                   seed: int) -> float:
    from .estimators import CopulaResampler

    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(a), len(a)) for _ in range(reps)]
    if CopulaResampler.serves(estimator, params):  # the columns sorted once, each draw ranked from its weights
        res = CopulaResampler(a, b)
        return float(np.std([res.mi(np.bincount(i, minlength=len(a))) for i in draws]))
    return float(np.std([estimate_mi(a[i], b[i], method=estimator, **params).value for i in draws]))


def chain_information(x: np.ndarray, y: np.ndarray, layers: Sequence[tuple[str, np.ndarray]],
                      estimator: str = "gaussian", params: dict[str, Any] | None = None, bootstrap: int = 0,
                      seed: int = 0, step: int = 0, extra: dict[str, Any] | None = None,
                      min_samples: int = MIN_SAMPLES, ixt: bool = True) -> list[dict[str, Any]]:
    """Tidy rows (split="depth") for a chain X → T_1 → … → T_L with target Y: per layer I(X;T),
    I(T;Y) (nats) with ``std`` (the estimator's own standard error when ``bootstrap`` is 0 and it
    reports one, else a bootstrap over ``bootstrap`` resamples) and ``n``; ``I(X;Y)`` as the reference (layer "input");
    and per layer ``increase_I(T;Y)`` over the layer before (the input for the first; nats, ≥ 0) and
    ``dpi_violation`` (1 when the increase exceeds 2 standard errors of the difference). x, y, each T: (n, d) float arrays.
    ``ixt=False`` skips I(X;T) (infinite when each T is a deterministic function of continuous X)."""
    params = dict(params or {})
    n = len(x)
    if n < min_samples:
        raise ValueError(f"the depth measurement rests on {n} samples; it needs at least {min_samples} "
                         "(one per probe crop): give more probe crops")
    meta = json.dumps({"estimator_params": params, "bootstrap": bootstrap, "n": n, **(extra or {})},
                      sort_keys=True, default=str)
    rows: list[dict[str, Any]] = []

    def add(metric: str, value: float, layer: str, std: float | None = None) -> None:
        rows.append(tidy_row(step, "depth", metric, value, layer, estimator=estimator, params=meta, n=n,
                             **({"std": float(std)} if std is not None else {})))

    ixy, s_xy = _mi_std(x, y, estimator, params, bootstrap, seed)
    add("I(X;Y)", ixy, "input", s_xy)
    prev: tuple[float, float] | None = (ixy, s_xy)  # the first layer is compared with the input
    for name, t in layers:
        if ixt:
            v_xt, s_xt = _mi_std(x, t, estimator, params, bootstrap, seed)
            add("I(X;T)", v_xt, name, s_xt)
        ity, s_ty = _mi_std(t, y, estimator, params, bootstrap, seed)
        add("I(T;Y)", ity, name, s_ty)
        if prev is not None:
            inc = max(0.0, ity - prev[0])
            add("increase_I(T;Y)", inc, name)
            add("dpi_violation", float(inc > 2 * math.hypot(s_ty, prev[1])), name)
        prev = (ity, s_ty)
    return rows


@torch.no_grad()
def information_along_depth(model: nn.Module, x: torch.Tensor, y: torch.Tensor, layers: Sequence[str],
                            estimator: str = "gaussian", params: dict[str, Any] | None = None, dim: int = 16,
                            bootstrap: int = 0, seed: int = 0, step: int = 0,
                            min_samples: int = MIN_SAMPLES) -> list[dict[str, Any]]:
    """The depth measurement of ``layers`` of ``model`` on probe crops x (degraded), y (clean), both
    (N, C, H, W), N ≥ ``min_samples``: every crop is one sample (see the module docstring). Runs
    the model once in eval mode and leaves it as it was found. Tidy rows as :func:`chain_information`."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must be (N, C, H, W) batches of one shape")
    if x.shape[0] < min_samples:
        raise ValueError(f"the depth measurement rests on one sample per probe crop: got {x.shape[0]} crops, "
                         f"needs at least {min_samples}")
    for name, a in (("x", x), ("y", y)):
        check_finite(a, name)
    proj_t = RandomProjection(dim, seed + 2)
    with isolated(model), eval_mode(model), LayerTap(model, list(layers), reduce=proj_t) as tap:
        for i in range(0, x.shape[0], 64):
            model(x[i : i + 64])
    tap.require_outputs()
    acts = tap.activations
    xs = RandomProjection(dim, seed)(x.double()).cpu().numpy()
    ys = RandomProjection(dim, seed + 1)(y.double()).cpu().numpy()
    ts = [(n, acts[n].double().numpy()) for n in layers]
    broken = [n for n, t in ts if not np.isfinite(t).all()]
    if broken:
        raise ValueError(f"layers {broken} output NaN or infinite values on finite probe crops")
    ts = [(n, t[:, t.std(0) > 1e-12]) for n, t in ts]  # dead units carry nothing
    extra = {"sample": "one whole probe crop", "reduction": f"flatten -> seeded Gaussian random projection to "
             f"{dim} dims (X, Y fixed across layers)", "footprint": list(x.shape[-2:])}
    empty = [n for n, t in ts if t.shape[1] == 0]
    if empty:
        raise ValueError(f"layers {empty} are constant on every probe crop: no information to measure")
    return chain_information(xs, ys, ts, estimator, params, bootstrap, seed, step, extra, min_samples)
