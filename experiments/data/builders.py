"""What a run's ``data`` config builds: the training pairs and the fixed test pairs.

The :class:`~experiments.train.Trainer` uses these as defaults; pass your own datasets to it instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .datasets import PairedFolder, SyntheticPairs
from .degradations import Degradation
from .sources import get_images, shared_data_root

__all__ = ["center_crop", "build_train_set", "build_test_pairs", "build_val_pairs", "train_val_images"]


def center_crop(img: np.ndarray, size: int | None, multiple: int) -> np.ndarray:
    """The centre ``size``² crop of an (H, W[, C]) image, trimmed to a multiple of the model's
    factor; ``size=None``: the whole image, untrimmed (:func:`experiments.evaluate.restore` pads
    it), so every model is scored on the same pixels."""
    if not size:
        return img
    h, w = img.shape[:2]
    th, tw = min(h, size), min(w, size)
    th, tw = th - th % multiple, tw - tw % multiple
    y0, x0 = (h - th) // 2, (w - tw) // 2
    return img[y0 : y0 + th, x0 : x0 + tw]


def train_val_images(cfg: dict[str, Any]) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, np.ndarray]]]:
    """``data.train``'s clean images split into (training, validation): the last ``data.val_images``
    are the validation split — carved from the training images, never from the test images."""
    d = cfg["data"]
    images = get_images(d["train"], d["mode"], split="train")
    v = int(d.get("val_images", 0) or 0)
    if v and len(images) < v + 2:
        raise ValueError(f"data.val_images={v}: {d['train']!r} has only {len(images)} training images; keep at "
                         f"least 2 for training (lower data.val_images, or 0 for no validation split)")
    return (images[:-v], images[-v:]) if v else (images, [])


def build_train_set(cfg: dict[str, Any]) -> PairedFolder | SyntheticPairs:
    """The training pairs: a paired folder (``data.paired_root``) or synthetic degradations of
    ``data.train``'s images less the validation split; items are (degraded, clean) tensors
    (C, crop, crop) in [-1, 1]."""
    d = cfg["data"]
    if d["paired_root"]:
        return PairedFolder(d["paired_root"], d["mode"], crop=d["crop"], flip=True, seed=cfg["seed"])
    images, _ = train_val_images(cfg)
    deg = Degradation.from_spec(d["degradation"])
    return SyntheticPairs(images, deg, d["crop"], d["train_patches"], seed=cfg["seed"])


def build_val_pairs(cfg: dict[str, Any]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, degraded, clean) validation pairs: the validation split's images, centre-cropped to
    ``data.test_crop`` and degraded with seed [1, i] per image (the test pairs use [0, i]); [] when
    ``data.val_images`` is 0 or the training data is a paired folder."""
    d = cfg["data"]
    if d["paired_root"] or not d.get("val_images"):
        return []
    _, val = train_val_images(cfg)
    deg = Degradation.from_spec(d["degradation"])
    mult = 2 ** cfg["model"]["depth"]
    out = []
    for i, (name, img) in enumerate(val):
        clean = center_crop(img, d["test_crop"], mult)
        degraded, _ = deg(clean, np.random.default_rng([1, i]))
        out.append((name, degraded, clean))
    return out


def build_test_pairs(cfg: dict[str, Any], source: str | None = None, limit: int | None = None,
                     crop: int | None | str = "config") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, degraded, clean) test pairs, (H, W[, C]) arrays in [0, 1]. Synthetic degradations use
    seed [0, i] per image (the literature's fixed-seed protocol), so every run is scored on
    identical inputs."""
    d = cfg["data"]
    source = source or d["test"]
    limit = d["test_images"] if limit is None else limit
    crop = d["test_crop"] if crop == "config" else crop
    mult = 2 ** cfg["model"]["depth"]
    root = Path(source)
    if source == "Rain12" or (root.is_dir() and (root / "input").is_dir()):
        base = root if root.is_dir() else (shared_data_root() or Path("missing")) / "Rain12"
        pf = PairedFolder(base, d["mode"])
        out = []
        for i in range(min(len(pf), limit or len(pf))):
            x, y, name = pf.pair(i)
            out.append((Path(name).stem, center_crop(x, crop, mult), center_crop(y, crop, mult)))
        return out
    # the held-out split when the set also feeds training (embedded, CBSD68), else every image
    split = "test" if source in ("embedded", d["train"]) else "all"
    images = get_images(source, d["mode"], split=split, limit=limit or None)
    deg = Degradation.from_spec(d["degradation"])
    out = []
    for i, (name, img) in enumerate(images):
        clean = center_crop(img, crop, mult)
        degraded, _ = deg(clean, np.random.default_rng([0, i]))
        out.append((name, degraded, clean))
    return out
