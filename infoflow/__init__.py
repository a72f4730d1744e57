"""infoflow — why GANs for physics-based image restoration work or fail, measured in information theory.

The code lives in three subpackages: :mod:`infoflow.infotheory` (MI estimators, layer taps,
diagnostics and the per-problem information quantities), :mod:`infoflow.models` (generators,
discriminators, GAN losses) and :mod:`infoflow.experiments` (data, trainer, problem experiments,
report, the ``infoflow`` command).
"""
from __future__ import annotations

from importlib import metadata as _metadata
from pathlib import Path as _Path

# In a checkout (or an editable install) the subpackages are the folders beside this one; an installed
# wheel has them inside it.
_here = _Path(__file__).resolve().parent
if not (_here / "experiments").is_dir() and (_here.parent / "experiments" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # noqa: F821 - a package's own __path__

__all__ = ["__version__"]

try:
    __version__ = _metadata.version("infoflow")
except _metadata.PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0.2.0"
