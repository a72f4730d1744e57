"""One rule for every name registry (tasks, degradations, classical references): a name is taken once."""
from __future__ import annotations

from typing import Any, MutableMapping, TypeVar

__all__ = ["register_unique"]

T = TypeVar("T")


def register_unique(registry: MutableMapping[str, Any], name: str, item: T, what: str) -> T:
    """Put ``item`` under ``name``; the same item again is a no-op, a different one under a taken
    name is refused, naming ``what`` it is."""
    old = registry.get(name)
    if old is not None and old != item:
        raise ValueError(f"a different {what} named {name!r} is already registered")
    registry[name] = item
    return item
