"""Mutual-information estimators: one per file, each a small object with ``estimate(x, y)``."""
from .auto import AutoEstimator
from ._pair_check import NonEllipticalWarning
from .base import REGISTRY, MIEstimator, register_estimator
from .binning import BinningEstimator
from .copula import CopulaEstimator
from .copula_resample import CopulaResampler
from .flow import FlowEstimator
from .gaussian import GaussianEstimator
from .infonce import InfoNCEEstimator
from .kde import KDEEstimator
from .ksg import KSGEstimator
from .mine import MINEEstimator
from .nwj import NWJEstimator
from .smile import SMILEEstimator

__all__ = [
    "REGISTRY", "MIEstimator", "register_estimator", "AutoEstimator", "BinningEstimator", "CopulaEstimator", "CopulaResampler",
    "FlowEstimator", "GaussianEstimator",
    "InfoNCEEstimator", "KDEEstimator", "KSGEstimator", "MINEEstimator", "NWJEstimator", "SMILEEstimator",
    "NonEllipticalWarning",
]
