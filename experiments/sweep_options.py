"""What a ``reproduce`` sweep runs and where: :class:`SweepOptions`, built once (by the CLI, the demo or
a caller) and passed whole to :func:`experiments.reproduce.reproduce` and
:func:`experiments.launch.submit_shards`."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from .problems import PRESET_OVERRIDES, PROBLEMS, TASKS

__all__ = ["SweepOptions", "parse_shard"]


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/N"`` -> (i, N) with 0 <= i < N."""
    if not text:
        return 0, 1
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard expects i/N (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"--shard {text}: need 0 <= i < N")
    return i, n



def _names(what: str, given: Sequence[str] | str, known: Sequence[str]) -> tuple[str, ...]:
    if isinstance(given, str):
        given = [given]
    names = tuple(given)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown {what} {unknown or '(none given)'}; choose from {list(known)}")
    return names


@dataclass(frozen=True)
class SweepOptions:
    """A sweep: ``preset`` (its schedule and seeds), ``tasks`` and ``problems`` (default: every
    registered one), ``seeds`` per configuration (None: the preset's), ``configs`` (only these
    configurations of the grid; None: all), ``device``, ``out`` (the sweep folder), ``shard``
    ('i/N': every N-th run from i), ``jobs`` (runs trained at once as processes), ``report``
    (build OUT/report afterwards), ``progress`` (a bar), ``classical`` (score the classical
    references). Checked when made: an unknown preset, task or problem is named at once, not hours
    into the sweep."""

    preset: str = "quick"
    tasks: Sequence[str] = field(default_factory=lambda: tuple(TASKS))
    problems: Sequence[str] = field(default_factory=lambda: tuple(PROBLEMS))
    seeds: int | None = None
    device: str = "auto"
    out: str | Path = "runs"
    shard: str | None = None
    report: bool = True
    progress: bool = True
    jobs: int = 1
    classical: bool = True
    configs: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.preset not in PRESET_OVERRIDES:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {list(PRESET_OVERRIDES)}")
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen: normalised once, here
        set_("tasks", _names("task", self.tasks or TASKS, TASKS))
        set_("problems", _names("problem", self.problems or tuple(PROBLEMS), tuple(PROBLEMS)))
        set_("out", Path(self.out))
        if self.configs is not None:
            set_("configs", tuple([self.configs] if isinstance(self.configs, str) else self.configs))
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {self.jobs!r}")
        if self.seeds is not None and (isinstance(self.seeds, bool) or not isinstance(self.seeds, int)
                                       or self.seeds < 1):
            raise ValueError(f"--seeds must be a positive integer, got {self.seeds!r}")
        parse_shard(self.shard)  # 'i/N' with 0 <= i < N, or a clear error

    def but(self, **changes: Any) -> "SweepOptions":
        """A copy with ``changes`` (e.g. one shard of this sweep: ``opts.but(shard="2/8", report=False)``)."""
        return replace(self, **changes)
