"""infotheory — mutual-information estimators and information-flow diagnostics (no training code).

All information quantities are in nats unless a name says bits.
"""
from .api import available_methods, estimate_mi, get_estimator
from .estimators import (
    AutoEstimator, BinningEstimator, CopulaEstimator, FlowEstimator, GaussianEstimator, InfoNCEEstimator, KDEEstimator,
    KSGEstimator, MIEstimator, MINEEstimator, NonEllipticalWarning, NWJEstimator, SMILEEstimator, register_estimator,
)
from .result import MIEstimate, standard_json
from .rows import tidy_row
from . import diagnostics, distributions
from .bands import laplacian_bands
from .depth import chain_information, information_along_depth
from .monitor import Monitor, resolution_layers
from .tensorboard import TensorBoardLog, tensorboard_available
from .infoplane import InformationPlane, information_plane_rows
from .reductions import Chain, Flatten, GlobalPool, PatchSample, RandomProjection, Reduction
from .taps import LayerTap, resolve_layers
from .image_information import band_information, image_information
from .level_information import level_information, unet_deep_layers
from .discriminator_information import jsd_lower_bound
from .random_fields import LinearGaussianImages

__all__ = [
    "estimate_mi", "get_estimator", "available_methods", "MIEstimate", "standard_json", "MIEstimator", "register_estimator",
    "distributions",
    "AutoEstimator", "BinningEstimator", "CopulaEstimator", "FlowEstimator", "GaussianEstimator", "InfoNCEEstimator",
    "KDEEstimator", "KSGEstimator", "MINEEstimator", "NWJEstimator", "SMILEEstimator", "NonEllipticalWarning",
    "diagnostics", "laplacian_bands", "InformationPlane", "information_plane_rows", "Chain", "Flatten",
    "GlobalPool", "PatchSample", "RandomProjection", "Reduction", "LayerTap", "resolve_layers",
    "chain_information", "information_along_depth", "Monitor", "resolution_layers", "TensorBoardLog",
    "tensorboard_available", "band_information", "image_information", "level_information", "unet_deep_layers",
    "jsd_lower_bound", "LinearGaussianImages", "tidy_row",
]
