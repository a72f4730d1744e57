"""A restoration task is one object: its degradation, its data, its classical references.

A :class:`Task` says what the config, the sweep, ``infoflow diagnose``, the CLI's choices and the
report need to know about a task; :func:`register` puts it in :data:`REGISTRY`, which all of them
read. A new task of the same shape is one module that builds a ``Task`` (and, when its
degradation or classical reference is new, registers those with
:func:`experiments.data.degradations.register_degradation` and
:func:`experiments.classical.register_classical`) and calls :func:`register` — see
``experiments/tasks/deblur.py``, or load your own with ``--plugin mymodule``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Task", "REGISTRY", "register", "get_task", "load_plugin"]


@dataclass(frozen=True)
class Task:
    """One restoration task.

    ``degradation`` / ``params``: the synthetic degradation (a name in
    :data:`experiments.data.degradations.DEGRADATIONS`) and its default parameters; ``mode``:
    ``grey`` or ``rgb``; ``train`` / ``test``: the benchmark sets used when ``../shared/data`` has
    all of ``needs`` (else the embedded photographs); ``scale``: output size / input size (1 for
    every built-in task). ``demo``: part of ``make demo``'s sweep. ``about``: one line for the docs
    and the CLI. ``no_classical``: why the task has no classical reference, when it has none (the
    report says it beside the headline table)."""

    name: str
    degradation: str
    params: dict[str, Any] = field(default_factory=dict)
    mode: str = "rgb"
    train: str = "embedded"
    test: str = "embedded"
    needs: tuple[str, ...] = ()
    scale: int = 1
    demo: bool = True
    about: str = ""
    no_classical: str = ""

    def __post_init__(self) -> None:
        if self.mode not in ("grey", "rgb"):
            raise ValueError(f"task {self.name!r}: mode must be 'grey' or 'rgb', got {self.mode!r}")
        if self.scale != 1:
            raise ValueError(f"task {self.name!r}: scale {self.scale} — only same-size restoration (scale 1) is "
                             "supported by the trainer and the diagnostics yet")

    def config(self) -> dict[str, Any]:
        """The task's data defaults (a user's config still overrides them)."""
        return {"data": {"mode": self.mode, "degradation": {"kind": self.degradation, "params": dict(self.params)}}}

    def overrides(self) -> dict[str, Any]:
        """A sweep's data for this task: the benchmark sets when ``../shared/data`` has them, else
        the embedded images."""
        from ..problems.base import have_shared

        if self.needs and all(have_shared(n) for n in self.needs):
            return {"task": self.name, "data.train": self.train, "data.test": self.test}
        return {"task": self.name, "data.train": "embedded", "data.test": "embedded"}


REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add ``task`` to :data:`REGISTRY` (a second task of the same name is refused)."""
    from infoflow._registry import register_unique

    return register_unique(REGISTRY, task.name, task, "task")


def get_task(name: str) -> Task:
    """The registered task ``name``; an unknown name is listed with the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(REGISTRY)} (or --plugin your module)")
    return REGISTRY[name]


def load_plugin(module: str) -> None:
    """Import ``module`` (dotted name or ``path/to/file.py``, once per process), which registers its
    tasks (and problems) when imported."""
    if module.endswith(".py"):
        import importlib.util
        import sys
        from pathlib import Path

        path = Path(module)
        if not path.is_file():
            raise FileNotFoundError(f"plugin {module} not found")
        loaded = sys.modules.get(path.stem)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path.resolve():
            return  # imported once per process: its registrations stand
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = mod
        spec.loader.exec_module(mod)
        return
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ImportError(f"plugin {module!r} could not be imported: {exc}") from exc
