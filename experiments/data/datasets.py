"""torch Datasets of (degraded, clean) pairs: synthetic from clean images, or a user's paired folder.

Items are ``(x, y)`` float tensors (C, H, W) scaled to [-1, 1] (the generator's Tanh range).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .degradations import Degradation
from .sources import IMAGE_SUFFIXES, read_image, to_mode

__all__ = ["SyntheticPairs", "PairedFolder", "to_tensor", "to_image", "random_crop_flip"]


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) in [0, 1] -> (C, H, W) in [-1, 1]."""
    a = img[None] if img.ndim == 2 else np.moveaxis(img, -1, 0)
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) * 2.0 - 1.0


def to_image(t: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W) or (H, W, C) float32 in [0, 1] (not clipped)."""
    a = ((t.detach().float().cpu() + 1.0) / 2.0).numpy()
    return a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)


def random_crop_flip(arrays: Sequence[np.ndarray], crop: int | None, rng: np.random.Generator,
                     flip: bool = True) -> list[np.ndarray]:
    """The same random crop (and horizontal flip) of equally sized images."""
    h, w = arrays[0].shape[:2]
    if crop:
        if h < crop or w < crop:
            raise ValueError(f"image of size {h}×{w} is smaller than the crop {crop}")
        y0, x0 = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        arrays = [a[y0 : y0 + crop, x0 : x0 + crop] for a in arrays]
    if flip and rng.random() < 0.5:
        arrays = [a[:, ::-1] for a in arrays]
    return [np.ascontiguousarray(a) for a in arrays]


class SyntheticPairs(Dataset):
    """``length`` random crops of clean images, each degraded on the fly; item i is a pure function of
    (seed, i), so a dataset is reproducible and order-independent (safe with workers and resume)."""

    def __init__(self, images: Sequence[tuple[str, np.ndarray]], degradation: Degradation, crop: int | None,
                 length: int, seed: int = 0, flip: bool = True) -> None:
        if not images:
            raise ValueError("SyntheticPairs needs at least one clean image")
        if crop is None and length != len(images):
            raise ValueError("without a crop, length must equal the number of images")
        self.images, self.degradation, self.crop = list(images), degradation, crop
        self.length, self.seed, self.flip = int(length), int(seed), flip

    def __len__(self) -> int:
        return self.length

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray, dict]:
        """(degraded, clean, params) as [0, 1] arrays."""
        rng = np.random.default_rng([self.seed, i])
        name, img = self.images[i % len(self.images)] if self.crop is None else self.images[
            int(rng.integers(len(self.images)))]
        (clean,) = random_crop_flip([img], self.crop, rng, self.flip) if self.crop else (img,)
        degraded, params = self.degradation(clean, rng)
        return degraded, clean, {"image": name, **params}

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, _ = self.pair(i)
        return to_tensor(x), to_tensor(y)


class PairedFolder(Dataset):
    """A user dataset laid out as ``root/input/NAME`` + ``root/target/NAME`` (Rain100L/H, SOTS, Rain12).

    Every pair is checked up front: a missing folder, a file without partner, an unreadable image
    or mismatched sizes raise an error naming the file. ``crop``/``flip`` give training patches.
    """

    def __init__(self, root: str | Path, mode: str = "rgb", crop: int | None = None, flip: bool = False,
                 seed: int = 0, input_dir: str = "input", target_dir: str = "target") -> None:
        root = Path(root)
        self.inp_dir, self.tgt_dir = root / input_dir, root / target_dir
        for d in (self.inp_dir, self.tgt_dir):
            if not d.is_dir():
                raise FileNotFoundError(f"PairedFolder: missing folder {d}")
        names = lambda d: {p.name for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}  # noqa: E731
        a, b = names(self.inp_dir), names(self.tgt_dir)
        if a ^ b:
            bad = sorted(a ^ b)[0]
            side = "target" if bad in a else "input"
            raise ValueError(f"PairedFolder: {bad} has no partner in {side}/ ({len(a ^ b)} unpaired file(s))")
        if not a:
            raise ValueError(f"PairedFolder: no images in {self.inp_dir}")
        self.names = sorted(a)
        self.mode, self.crop, self.flip, self.seed = mode, crop, flip, seed
        self.epoch = 0
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for n in self.names:  # validate everything now, not mid-training
            self._load(n)

    def _load(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in self._cache:
            x = to_mode(read_image(self.inp_dir / name), self.mode)
            y = to_mode(read_image(self.tgt_dir / name), self.mode)
            if x.shape != y.shape:
                raise ValueError(f"PairedFolder: {name} has input size {x.shape} but target size {y.shape}")
            self._cache[name] = (x, y)
        return self._cache[name]

    def __len__(self) -> int:
        return len(self.names)

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray, str]:
        x, y = self._load(self.names[i])
        if self.crop or self.flip:
            x, y = random_crop_flip([x, y], self.crop, np.random.default_rng([self.seed, self.epoch, i]), self.flip)
        return x, y, self.names[i]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, _ = self.pair(i)
        return to_tensor(x), to_tensor(y)
