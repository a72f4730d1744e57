"""experiments — data, degradations, trainer, problem experiments, runner CLI and reports."""
from .arrays import load_array

__all__ = ["load_array"]
