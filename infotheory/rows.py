"""The tidy row every measurement returns: one value, and where and how it was measured."""
from __future__ import annotations

from typing import Any

__all__ = ["tidy_row"]


def tidy_row(step: int, split: str, metric: str, value: float, layer: str = "", *, estimator: str | None = None,
             params: Any = None, **extra: Any) -> dict[str, Any]:
    """``{"step", "split", "metric", "value", "layer"[, "estimator"][, "params"], **extra}`` — the row
    ``metrics.csv``/``analysis.csv`` hold (``RunFolder.log``, the monitor, the analyses). ``value``
    is a float (nats for information, else the metric's unit); ``params`` is kept as given (a JSON
    string by convention); ``estimator``/``params`` are left out when None."""
    row: dict[str, Any] = {"step": step, "split": split, "metric": metric, "value": float(value), "layer": layer}
    if estimator is not None:
        row["estimator"] = estimator
    if params is not None:
        row["params"] = params
    row.update(extra)
    return row
