"""Base class: an estimator is a small object with recorded ``params`` and ``estimate(x, y)``."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from ..result import MIEstimate
from .._validate import ArrayLike

__all__ = ["MIEstimator", "REGISTRY", "register"]

REGISTRY: dict[str, type["MIEstimator"]] = {}


def register(cls: type["MIEstimator"]) -> type["MIEstimator"]:
    REGISTRY[cls.name] = cls
    return cls


class MIEstimator:
    """Subclasses are dataclasses whose fields are their hyper-parameters.

    ``estimate(x, y)`` takes arrays/tensors of shape (n,) or (n, d) and returns an
    :class:`~infotheory.result.MIEstimate` in nats.
    """

    name: ClassVar[str] = "base"
    min_samples: ClassVar[int] = 10

    @property
    def params(self) -> dict[str, Any]:
        """Every hyper-parameter of this estimator, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def param_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    def estimate(self, x: ArrayLike, y: ArrayLike) -> MIEstimate:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, x: ArrayLike, y: ArrayLike) -> MIEstimate:
        return self.estimate(x, y)


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {list(choices)}")


def check_positive(name: str, value: Any, integer: bool = False) -> None:
    if integer and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} ({value!r})")
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
