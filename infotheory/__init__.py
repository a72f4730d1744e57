"""infotheory — mutual-information estimators and information-flow diagnostics (no training code).

All information quantities are in nats unless a name says bits.
"""
from .api import available_methods, estimate_mi, get_estimator
from .estimators import (
    AutoEstimator, BinningEstimator, CopulaEstimator, GaussianEstimator, InfoNCEEstimator, KDEEstimator,
    KSGEstimator, MIEstimator, MINEEstimator, NWJEstimator, SMILEEstimator,
)
from .result import MIEstimate
from . import distributions

__all__ = [
    "estimate_mi", "get_estimator", "available_methods", "MIEstimate", "MIEstimator", "distributions",
    "AutoEstimator", "BinningEstimator", "CopulaEstimator", "GaussianEstimator", "InfoNCEEstimator",
    "KDEEstimator", "KSGEstimator", "MINEEstimator", "NWJEstimator", "SMILEEstimator",
]
