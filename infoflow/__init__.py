"""infoflow — why GANs for physics-based image restoration work or fail, measured in information theory.

The code lives in three packages: :mod:`infotheory` (MI estimators, layer taps, diagnostics and the
per-problem information quantities), :mod:`models` (generators, discriminators, GAN losses) and
:mod:`experiments` (data, trainer, problem experiments, report, the ``infoflow`` command).
"""
from __future__ import annotations

from importlib import metadata as _metadata

__all__ = ["__version__"]

try:
    __version__ = _metadata.version("infoflow")
except _metadata.PackageNotFoundError:  # a checkout that was never installed
    __version__ = "0.2.0"
