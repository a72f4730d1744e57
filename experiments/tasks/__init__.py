"""Restoration tasks, one module each, in one registry (:mod:`.base`): denoising, deraining,
dehazing and deblurring. The config, the sweep, ``infoflow diagnose``, the CLI and the report read
:data:`REGISTRY`; ``--plugin mymodule`` (:func:`load_plugin`) adds a user's task."""
from . import denoise  # noqa: F401,I001 - each registers its task, in this order
from . import derain  # noqa: F401
from . import dehaze  # noqa: F401
from . import deblur  # noqa: F401
from .base import REGISTRY, Task, get_task, load_plugin, register

__all__ = ["REGISTRY", "Task", "get_task", "load_plugin", "register", "task_names"]


def task_names() -> tuple[str, ...]:
    """The registered tasks, in registration order."""
    return tuple(REGISTRY)
