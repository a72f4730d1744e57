"""Input checking shared by all estimators: clear errors instead of NaNs or torch tracebacks."""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

ArrayLike = Any  # numpy array, torch tensor, or a nested list of numbers

__all__ = ["as_2d", "check_finite", "check_pair", "constant_column_error", "constant_columns", "is_discrete", "to_numpy"]


def is_discrete(a: np.ndarray | torch.Tensor) -> bool:
    """Integer or boolean dtype means discrete labels."""
    if isinstance(a, torch.Tensor):
        return (not a.is_floating_point()) and (not a.is_complex())
    return a.dtype.kind in "iub"


def _coerce(a: ArrayLike, name: str) -> np.ndarray | torch.Tensor:
    if isinstance(a, torch.Tensor):
        if a.is_complex():
            raise TypeError(f"{name}: complex tensors are not supported (dtype {a.dtype})")
        return a.detach()
    if isinstance(a, np.ndarray):
        arr = a
    elif isinstance(a, (list, tuple)) or np.isscalar(a) or hasattr(a, "__array__"):
        try:
            arr = np.asarray(a)
        except Exception as exc:  # ragged lists etc.
            raise TypeError(f"{name}: cannot be read as a numeric array ({exc})") from None
    else:
        raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(a).__name__}")
    if arr.dtype.kind not in "iubf":
        raise TypeError(
            f"{name}: wrong dtype {arr.dtype}; expected real numbers (float) or integer labels"
        )
    return arr


def as_2d(a: ArrayLike, name: str) -> np.ndarray | torch.Tensor:
    """Return ``a`` as (n, d); accepts (n,) or (n, d). Raises on other shapes, NaN/Inf, bad dtype."""
    a = _coerce(a, name)
    if a.ndim == 0:
        raise ValueError(f"{name}: got a scalar; expected samples of shape (n,) or (n, d)")
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    elif a.ndim != 2:
        raise ValueError(
            f"{name}: got a {a.ndim}-D array of shape {tuple(a.shape)}; expected (n,) or (n, d) — "
            "flatten or reduce the feature dimensions first (e.g. x.reshape(n, -1))"
        )
    if a.shape[1] == 0:
        raise ValueError(f"{name}: has 0 feature columns (shape {tuple(a.shape)})")
    if not is_discrete(a):
        if isinstance(a, torch.Tensor):
            finite = bool(torch.isfinite(a).all())
        else:  # fast path: a finite total proves every entry finite (NaN/Inf propagate; an overflowing
            # total of finite values falls through to the exact check). The total, not per-column sums:
            # a strided axis-0 reduce is ~20× slower on (n, few) arrays
            finite = bool(np.isfinite(a.sum())) or bool(np.isfinite(a).all())
        if not finite:
            bad = torch.isnan(a).any().item() if isinstance(a, torch.Tensor) else np.isnan(a).any()
            raise ValueError(f"{name}: contains {'NaN' if bad else 'Inf'} values")
    return a


def check_finite(t: torch.Tensor, what: str) -> None:
    """Raise ``ValueError("<what> has NaN or infinite values")`` unless every entry of ``t`` is finite."""
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what} has NaN or infinite values")


def to_numpy(a: np.ndarray | torch.Tensor, dtype: Any = np.float64) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.cpu().numpy()
    return np.ascontiguousarray(a, dtype=dtype)


def constant_columns(a: np.ndarray | torch.Tensor) -> list[int]:
    """Indices of the columns of ``a`` (n, d) whose every entry is equal."""
    if isinstance(a, torch.Tensor):
        const = (a == a[:1]).all(dim=0)
        return torch.nonzero(const).flatten().tolist()
    return np.flatnonzero(a.max(axis=0) == a.min(axis=0)).tolist()


def constant_column_error(name: str, cols: list[int]) -> ValueError:
    return ValueError(
        f"{name}: constant column(s) {cols[:10]} carry no information and make the estimate "
        "ill-defined — drop them first"
    )


def check_pair(
    x: ArrayLike,
    y: ArrayLike,
    *,
    method: str,
    min_samples: int,
    discrete_y: Literal["allow", "forbid"] = "allow",
    backend: Literal["numpy", "torch", "any"] = "numpy",
    check_constant: bool = True,
) -> tuple[Any, Any, bool, bool]:
    """Validate a pair of samples.

    Returns ``(x2d, y2d, x_discrete, y_discrete)``; with ``backend="numpy"`` both are numpy
    (float64 for continuous, int64 for labels), with ``"torch"`` both are tensors on the device
    of the first tensor argument (float32/float64 preserved), with ``"any"`` unchanged types.
    ``check_constant=False`` lets a caller that computes column ranges anyway raise
    :func:`constant_column_error` itself.
    """
    x2, y2 = as_2d(x, "x"), as_2d(y, "y")
    if x2.shape[0] != y2.shape[0]:
        raise ValueError(
            f"x and y have mismatched sample counts: {x2.shape[0]} vs {y2.shape[0]} "
            "(samples are rows: shape (n, d))"
        )
    n = x2.shape[0]
    if n < min_samples:
        raise ValueError(f"too few samples for method '{method}': got {n}, need at least {min_samples}")
    xd, yd = is_discrete(x2), is_discrete(y2)
    if discrete_y == "forbid" and (xd or yd):
        raise TypeError(
            f"method '{method}' needs continuous (float) x and y; got integer labels in "
            f"{'x' if xd else 'y'} — cast with .astype(float) or use method='binning'/'ksg'"
        )
    for name, a in (("x", x2), ("y", y2)):
        cols = constant_columns(a) if check_constant else []
        if cols:
            raise constant_column_error(name, cols)
    if backend == "numpy":
        x2 = to_numpy(x2, np.int64 if xd else np.float64)
        y2 = to_numpy(y2, np.int64 if yd else np.float64)
    elif backend == "torch":
        dev = next((a.device for a in (x2, y2) if isinstance(a, torch.Tensor)), torch.device("cpu"))
        x2, y2 = (_to_torch(a, dev) for a in (x2, y2))
    return x2, y2, xd, yd


def _to_torch(a: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    t = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))
    if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    return t.to(device)
