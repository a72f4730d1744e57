"""Checks of training and test data passed to the Trainer as objects: the problem named, before any step."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["check_train_set", "check_test_pairs"]


def check_train_set(train_set: Any, c: int | None) -> None:
    """A user's training pairs: a map-style dataset of (degraded, clean) tensors (C, H, W) in [-1, 1]."""
    if not (hasattr(train_set, "__len__") and hasattr(train_set, "__getitem__")):
        raise TypeError(f"train_set must be a map-style dataset (__len__ and __getitem__), got {type(train_set).__name__}")
    if len(train_set) < 1:
        raise ValueError("train_set is empty")
    item = train_set[0]
    if not (isinstance(item, (tuple, list)) and len(item) >= 2 and all(isinstance(t, torch.Tensor) for t in item[:2])):
        raise TypeError(f"train_set items must be (degraded, clean) tensor pairs, got {type(item).__name__}")
    x, y = item[0], item[1]
    if x.dim() != 3 or x.shape != y.shape:
        raise ValueError(f"train_set items must be two (C, H, W) tensors of one shape, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if c is not None and x.shape[0] != c:
        raise ValueError(f"train_set items have {x.shape[0]} channels; the config's data.mode gives {c}")
    for name, t in (("degraded", x), ("clean", y)):
        if not torch.isfinite(t).all():
            raise ValueError(f"train_set item 0: the {name} tensor has NaN or infinite values")
        lo, hi = float(t.min()), float(t.max())
        if lo < -1.001 or hi > 1.001:
            raise ValueError(f"train_set item 0: the {name} tensor spans [{lo:.3g}, {hi:.3g}]; items must be in "
                             "[-1, 1] (experiments.data.to_tensor of a [0, 1] image)")


def check_test_pairs(pairs: Any) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """A user's test pairs: (name, degraded, clean) with (H, W[, C]) arrays of one shape in [0, 1]."""
    out = list(pairs)
    if not out:
        raise ValueError("test_pairs is empty")
    for i, p in enumerate(out):
        if not (isinstance(p, (tuple, list)) and len(p) == 3):
            raise TypeError(f"test_pairs[{i}] must be (name, degraded, clean), got {type(p).__name__}")
        name, x, y = p
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.ndim not in (2, 3):
            raise ValueError(f"test_pairs[{i}] ({name}): degraded {x.shape} and clean {y.shape} must be one "
                             "(H, W) or (H, W, C) shape")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError(f"test_pairs[{i}] ({name}) has NaN or infinite values")
        if min(x.min(), y.min()) < -1e-3 or max(x.max(), y.max()) > 1 + 1e-3:
            raise ValueError(f"test_pairs[{i}] ({name}): images must be in [0, 1], got "
                             f"[{min(x.min(), y.min()):.3g}, {max(x.max(), y.max()):.3g}]")
        out[i] = (str(name), x, y)
    return out
