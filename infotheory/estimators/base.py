"""Base class: an estimator is a small object with recorded ``params`` and ``estimate(x, y)``."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from infoflow._registry import register_class
from ..result import MIEstimate
from .._validate import ArrayLike

__all__ = ["MIEstimator", "REGISTRY", "register", "register_estimator"]

REGISTRY: dict[str, type["MIEstimator"]] = {}


def register(cls: type["MIEstimator"]) -> type["MIEstimator"]:
    """Add an estimator class to :data:`REGISTRY`, where ``estimate_mi(method=...)``,
    ``get_estimator`` and ``infoflow estimate --method`` find it; usable as a class decorator
    (above ``@dataclass``). It must be a dataclass subclass of :class:`MIEstimator` (its fields are
    its hyper-parameters) with its own ``name``. The same class again (or its
    definition run again: a re-executed module or notebook cell) replaces it; another class under a
    taken name is refused."""
    if isinstance(cls, type) and issubclass(cls, MIEstimator) and not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} must be a dataclass (its fields are its hyper-parameters): put "
                        "@register_estimator above @dataclass")
    return register_class(REGISTRY, cls, MIEstimator, "estimator", "what method=... calls it")


register_estimator = register  # the public name


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

    def checked(self, x: ArrayLike, y: ArrayLike, **kw: Any) -> tuple[Any, Any, bool, bool]:
        """(x, y) validated as every built-in estimator validates its input — shapes (n,) or
        (n, d), the same n, at least ``min_samples`` rows, no NaN or infinity, no constant column —
        as ``(x (n, dx), y (n, dy), x_is_labels, y_is_labels)``, float64 / int64 numpy arrays.
        ``kw``: see :func:`infotheory._validate.check_pair` (``backend="torch"`` keeps tensors)."""
        from .._validate import check_pair

        return check_pair(x, y, method=self.name, min_samples=self.min_samples, **kw)

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
