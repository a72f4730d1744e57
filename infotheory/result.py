"""The result object every estimator returns."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["MIEstimate", "standard_json"]

NATS_PER_BIT = math.log(2.0)


@dataclass(frozen=True)
class MIEstimate:
    """One mutual-information estimate, in nats.

    Attributes:
        value: the estimate I(X;Y) in nats.
        method: name of the estimator that produced it (``"binning"``, ``"kde"``, ...).
        params: every hyper-parameter that produced it (enough to reproduce the number).
        n_samples: number of (x, y) pairs used.
        std: uncertainty in nats where meaningful (bootstrap/seed std or a standard error);
            ``None`` where the method gives none.
        lower, upper: bounds in nats where the method gives them (``kde``).
        saturated: True when the number is pinned by the sample count rather than the data
            (e.g. every sample in its own bin); ``ceiling`` then gives the bound (log N).
        ceiling: the largest value the estimator can return on this sample (nats), if finite.
        curve: training curve of neural estimators, a list of dicts (step, train, val).
        details: method-specific extras (e.g. which estimator ``auto`` chose and why).
    """

    value: float
    method: str
    params: dict[str, Any]
    n_samples: int
    std: float | None = None
    lower: float | None = None
    upper: float | None = None
    saturated: bool = False
    ceiling: float | None = None
    curve: list[dict[str, float]] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def bits(self) -> float:
        """The estimate converted to bits."""
        return self.value / NATS_PER_BIT

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (nats), with ``bits`` added."""
        d = asdict(self)
        d["bits"] = self.bits
        return d

    def to_json(self, **kw: Any) -> str:
        """The estimate as standard JSON (a missing number, e.g. an undefined spread, is ``null``)."""
        return standard_json(self.to_dict(), **kw)

    def __str__(self) -> str:
        s = f"I = {self.value:.4f} nats ({self.bits:.4f} bits) [{self.method}"
        s += "".join(f", {k}={v}" for k, v in self.params.items()) + "]"
        if self.std is not None:
            s += f" ± {self.std:.4f}"
        if self.lower is not None and self.upper is not None:
            s += f" bounds [{self.lower:.4f}, {self.upper:.4f}]"
        if self.saturated:
            s += " SATURATED" + (f" at log N = {self.ceiling:.4f}" if self.ceiling is not None else "")
        return s + f" (n={self.n_samples})"


def _finite(v: Any) -> Any:
    """``v`` with NaN/±inf as None, numpy scalars as Python ones, tuples and sets as lists."""
    if isinstance(v, dict):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_finite(x) for x in v]
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:  # numpy / torch scalar
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def standard_json(obj: Any, **kw: Any) -> str:
    """``json.dumps`` that writes standard JSON (RFC 8259): no NaN or Infinity tokens, which strict
    parsers such as a browser's ``JSON.parse`` refuse — a missing number is ``null``; numpy scalars
    are numbers; anything else unknown is its ``str``."""
    return json.dumps(_finite(obj), allow_nan=False, default=str, **kw)
