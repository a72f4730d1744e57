"""``estimate_mi``: the one entry point to every estimator."""
from __future__ import annotations

from typing import Any, Union

import numpy as np
import torch

from ._validate import ArrayLike, as_2d, is_discrete
from .estimators import REGISTRY, MIEstimator
from .result import MIEstimate

__all__ = ["estimate_mi", "get_estimator", "available_methods", "as_kind", "MAX_AUTO_CLASSES"]

MAX_AUTO_CLASSES = 64  # integer input with more distinct values than this is ambiguous under discrete="auto"
Discrete = Union[str, bool, tuple[Union[str, bool], Union[str, bool]]]


def available_methods() -> list[str]:
    """Names accepted by ``estimate_mi(method=...)``."""
    return sorted(REGISTRY)


def get_estimator(method: str = "auto", **params: Any) -> MIEstimator:
    """Build the estimator ``method`` with ``params``; unknown names raise with the valid ones."""
    if not isinstance(method, str) or method not in REGISTRY:
        raise ValueError(f"unknown method {method!r}; choose one of {available_methods()}")
    cls = REGISTRY[method]
    unknown = sorted(set(params) - set(cls.param_names()))
    if unknown:
        raise TypeError(
            f"unknown parameter(s) {unknown} for method '{method}'; valid parameters: {cls.param_names()}"
        )
    return cls(**params)


def as_kind(a: ArrayLike, discrete: str | bool, name: str = "x") -> ArrayLike:
    """Apply the explicit discrete/continuous rule to one variable (n,) or (n, d).

    ``True``: labels — any dtype, each distinct row becomes one class (int64 ids);
    ``False``: continuous — integer data is cast to float (e.g. uint8 pixels);
    ``"auto"``: float = continuous, integer/bool = labels, but integer data with more than
    ``MAX_AUTO_CLASSES`` distinct values is refused with an error that names the choice.
    """
    if discrete not in (True, False, "auto"):
        raise ValueError(f"discrete={discrete!r} for {name}; choose True, False or 'auto'")
    a2 = as_2d(a, name)
    tensor = isinstance(a2, torch.Tensor)
    if discrete is False:
        if not is_discrete(a2):
            return a
        return a2.double() if tensor else np.asarray(a2, dtype=np.float64)
    if discrete is True:
        if is_discrete(a2) and a2.shape[1] == 1:
            return a
        if tensor:
            return torch.unique(a2, dim=0, return_inverse=True)[1].reshape(-1).long()
        return np.unique(np.asarray(a2), axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
    if not is_discrete(a2):
        return a
    k = len(torch.unique(a2, dim=0)) if tensor else len(np.unique(np.asarray(a2), axis=0))
    if k > MAX_AUTO_CLASSES:
        raise ValueError(f"{name} is integer ({a2.dtype}) with {k} distinct values: is it labels or a quantised "
                         f"continuous signal (e.g. uint8 pixels)? Say which: discrete=False to treat it as "
                         f"continuous, discrete=True to treat it as {k} classes")
    return a


def estimate_mi(x: ArrayLike, y: ArrayLike, method: str = "auto", discrete: Discrete = "auto",
                **params: Any) -> MIEstimate:
    """Estimate I(X;Y) in nats.

    Args:
        x: samples of X, shape (n,) or (n, dx); numpy array or torch tensor (CPU or CUDA).
        y: samples of Y, shape (n,) or (n, dy), same n.
        method: one of :func:`available_methods` (``auto``, ``binning``, ``kde``, ``ksg``,
            ``gaussian``, ``copula``, ``mine``, ``nwj``, ``infonce``, ``smile``).
        discrete: which variables are labels: ``"auto"`` (float = continuous, integer = labels,
            and integer data with more than 64 distinct values is an error asking you to choose),
            ``True``/``False`` for both, or a pair ``(for_x, for_y)``. See :func:`as_kind`.
        **params: the method's hyper-parameters (``n_bins``, ``k``, ``noise_variance``, ``seed``, ...).

    Returns:
        :class:`MIEstimate` with ``.value`` (nats), ``.bits``, ``.method``, ``.params``,
        ``.n_samples`` and, where meaningful, ``.std``, ``.lower``/``.upper``, ``.saturated``,
        ``.curve``.
    """
    est = get_estimator(method, **params)
    dx, dy = discrete if isinstance(discrete, tuple) else (discrete, discrete)
    return est.estimate(as_kind(x, dx, "x"), as_kind(y, dy, "y"))
