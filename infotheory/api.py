"""``estimate_mi``: the one entry point to every estimator."""
from __future__ import annotations

from typing import Any

from ._validate import ArrayLike
from .estimators import REGISTRY, MIEstimator
from .result import MIEstimate

__all__ = ["estimate_mi", "get_estimator", "available_methods"]


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


def estimate_mi(x: ArrayLike, y: ArrayLike, method: str = "auto", **params: Any) -> MIEstimate:
    """Estimate I(X;Y) in nats.

    Args:
        x: samples of X, shape (n,) or (n, dx); numpy array or torch tensor (CPU or CUDA).
            Integer dtype means discrete labels.
        y: samples of Y, shape (n,) or (n, dy), same n.
        method: one of :func:`available_methods` (``auto``, ``binning``, ``kde``, ``ksg``,
            ``gaussian``, ``copula``, ``mine``, ``nwj``, ``infonce``, ``smile``).
        **params: the method's hyper-parameters (``n_bins``, ``k``, ``noise_variance``, ``seed``, ...).

    Returns:
        :class:`MIEstimate` with ``.value`` (nats), ``.bits``, ``.method``, ``.params``,
        ``.n_samples`` and, where meaningful, ``.std``, ``.lower``/``.upper``, ``.saturated``,
        ``.curve``.
    """
    return get_estimator(method, **params).estimate(x, y)
