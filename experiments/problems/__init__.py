"""The diagnosed problems, one module each, sharing the trainer; a user's module adds its own with
:func:`register_problem` (loaded by ``--plugin``)."""
from .abstraction import PROBLEM as ABSTRACTION
from .base import PRESET_OVERRIDES, PRIMARY_SEEDS, SEEDS, Problem, RunSpec, probe_batch, task_overrides
from .detail import PROBLEM as DETAIL
from .gradients import PROBLEM as GRADIENTS

PROBLEMS: dict[str, Problem] = {}


def register_problem(problem: Problem) -> Problem:
    """Add ``problem`` to :data:`PROBLEMS` — the sweep, the verdicts and the report read it from there
    (a second problem of the same name is refused)."""
    from infoflow._registry import register_unique

    return register_unique(PROBLEMS, problem.name, problem, "problem")


for _p in (ABSTRACTION, DETAIL, GRADIENTS):
    register_problem(_p)

from ..tasks import task_names  # noqa: E402

TASKS = task_names()  # every registered task (experiments/tasks/), in registration order

__all__ = ["PROBLEMS", "TASKS", "PRESET_OVERRIDES", "PRIMARY_SEEDS", "SEEDS", "Problem", "RunSpec", "probe_batch",
           "register_problem", "task_overrides"]
