"""The three diagnosed problems, one module each, sharing the trainer."""
from .abstraction import PROBLEM as ABSTRACTION
from .base import PRESET_OVERRIDES, PRIMARY_SEEDS, SEEDS, Problem, RunSpec, probe_batch, task_overrides
from .detail import PROBLEM as DETAIL
from .gradients import PROBLEM as GRADIENTS

PROBLEMS = {p.name: p for p in (ABSTRACTION, DETAIL, GRADIENTS)}
from ..tasks import task_names

TASKS = task_names()  # every registered task (experiments/tasks/), in registration order

__all__ = ["PROBLEMS", "TASKS", "PRESET_OVERRIDES", "PRIMARY_SEEDS", "SEEDS", "Problem", "RunSpec", "probe_batch", "task_overrides"]
