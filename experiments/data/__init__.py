"""Data: clean image sources, physics-based degradations, paired datasets and metrics."""
from .batches import StepBatches, batch_loader, resolve_workers
from .builders import build_test_pairs, build_train_set, build_val_pairs, center_crop, train_val_images
from .checks import check_test_pairs, check_train_set
from .datasets import PairedFolder, SyntheticPairs, random_crop_flip, to_image, to_tensor
from .degradations import (DEGRADATIONS, Degradation, awgn, haze, poisson_gaussian, procedural_depth, rain,
                           rain_streaks, stereo_depth)
from .metrics import pair_metrics, psnr, rgb_to_y, ssim
from .realism import sliced_wasserstein, swd_realism
from .sources import embedded_images, get_images, load_folder, read_image, shared_data_root

__all__ = [
    "build_train_set", "build_test_pairs", "build_val_pairs", "train_val_images", "center_crop", "check_train_set", "check_test_pairs", "StepBatches", "batch_loader", "resolve_workers", "PairedFolder", "SyntheticPairs", "random_crop_flip", "to_image", "to_tensor", "DEGRADATIONS", "Degradation",
    "awgn", "haze", "poisson_gaussian", "procedural_depth", "rain", "rain_streaks", "stereo_depth", "pair_metrics", "psnr",
    "rgb_to_y", "ssim", "sliced_wasserstein", "swd_realism", "embedded_images", "get_images", "load_folder", "read_image", "shared_data_root",
]
