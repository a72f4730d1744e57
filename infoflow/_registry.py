"""One rule for every name registry of the package: a name is taken once (dependency-free, in the
root package, so that importing it loads no subpackage).

Instances (tasks, degradations, classical references, problems) go through
:func:`register_unique`; classes (MI estimators, GAN losses) through :func:`register_class`, which
also takes a definition run again (a re-executed module or notebook cell) as a replacement.
"""
from __future__ import annotations

from typing import Any, MutableMapping, TypeVar

__all__ = ["register_unique", "register_class"]

T = TypeVar("T")
C = TypeVar("C", bound=type)


def register_unique(registry: MutableMapping[str, Any], name: str, item: T, what: str) -> T:
    """Put ``item`` under ``name``; the same item again is a no-op, a different one under a taken
    name is refused, naming ``what`` it is."""
    old = registry.get(name)
    if old is not None and old != item:
        raise ValueError(f"a different {what} named {name!r} is already registered")
    registry[name] = item
    return item


def register_class(registry: MutableMapping[str, type], cls: C, base: type, what: str, name_is: str) -> C:
    """Put the subclass ``cls`` of ``base`` under its ``name`` attribute. Refused: anything but a
    subclass, a class without a ``name`` of its own (``name_is`` says what the name is for), and
    another class under a taken name; the same class, or its definition run again (the same
    module and qualified name), replaces the entry."""
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"registering a {what} takes a subclass of {base.__name__}, got {cls!r}")
    if cls.name == base.name:  # type: ignore[attr-defined]
        raise ValueError(f"{cls.__name__} needs its own `name` ({name_is})")
    old = registry.get(cls.name)  # type: ignore[attr-defined]
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"a different {what} named {cls.name!r} is already registered ({old.__name__})")  # type: ignore[attr-defined]
    registry[cls.name] = cls  # type: ignore[attr-defined]
    return cls
