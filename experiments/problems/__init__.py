"""The three diagnosed problems, one module each, sharing the trainer."""
from .abstraction import PROBLEM as ABSTRACTION
from .base import PRESET_OVERRIDES, PRIMARY_SEEDS, SEEDS, Problem, RunSpec, probe_batch, task_overrides
from .detail import PROBLEM as DETAIL
from .gradients import PROBLEM as GRADIENTS

PROBLEMS = {p.name: p for p in (ABSTRACTION, DETAIL, GRADIENTS)}
TASKS = ("denoise", "derain", "dehaze")

__all__ = ["PROBLEMS", "TASKS", "PRESET_OVERRIDES", "PRIMARY_SEEDS", "SEEDS", "Problem", "RunSpec", "probe_batch", "task_overrides"]
