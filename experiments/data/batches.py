"""Training batches as a pure function of the step, served by a DataLoader with worker processes.

``StepBatches[step]`` is the whole batch of that step, drawn with ``numpy.random.default_rng([seed,
1, step(, rank)])``: the same batch whatever the number of workers, the order they finish in, or
whether the run was resumed — so training stays exactly reproducible with workers on.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .datasets import PairedFolder

__all__ = ["StepBatches", "batch_loader", "resolve_workers"]


class StepBatches(Dataset):
    """Item ``step`` -> ``(x, y)``: the batch of that step, (B, C, H, W) each, in [-1, 1].

    Args:
        pairs: a Dataset of (degraded, clean) items (C, H, W).
        batch_size: B.
        seed: the run's seed.
        rank: the DDP rank (None in one process): each rank draws its own batches.
    """

    def __init__(self, pairs: Dataset, batch_size: int, seed: int, rank: int | None = None) -> None:
        self.pairs, self.batch_size, self.seed, self.rank = pairs, batch_size, seed, rank

    def __len__(self) -> int:  # steps are indices; any step is a valid item
        return 2**62

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = [self.seed, 1, int(step)] + ([self.rank] if self.rank is not None else [])
        idx = np.random.default_rng(key).integers(len(self.pairs), size=self.batch_size)
        if isinstance(self.pairs, PairedFolder):
            self.pairs.epoch = int(step)  # its random crops follow the step (a worker holds its own copy)
        xs, ys = zip(*(self.pairs[int(i)] for i in idx))
        return torch.stack(xs), torch.stack(ys)


def resolve_workers(workers: int | str, device: torch.device) -> int:
    """``data.workers``: an integer >= 0, or ``auto`` = 2 worker processes when training on a GPU
    (the CPU is free to build batches ahead) and 0 on CPU (the workers would take the cores that
    train)."""
    if workers == "auto":
        return 2 if device.type == "cuda" else 0
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"data.workers must be an integer >= 0 or 'auto', got {workers!r}")
    return workers


def batch_loader(batches: StepBatches, first: int, last: int, workers: int,
                 pin_memory: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The batches of steps ``first..last`` in order; with ``workers`` > 0 built ahead in that many
    processes (two batches each in flight), with 0 on the calling thread."""
    steps = range(first, last + 1)
    if workers == 0:
        return (batches[s] for s in steps)
    return iter(DataLoader(batches, batch_size=None, sampler=steps, num_workers=workers, prefetch_factor=2,
                           pin_memory=pin_memory, persistent_workers=False))
