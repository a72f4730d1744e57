"""What the problem experiments share: presets, tasks, run grid entries and post-run analysis."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..data.sources import shared_data_root
from .decision import Comparison

__all__ = ["PRESET_OVERRIDES", "PRIMARY_SEEDS", "SEEDS", "task_overrides", "Problem", "RunSpec", "probe_batch", "have_shared"]

# scale of each reproduce preset (applied to every configuration)
PRESET_OVERRIDES: dict[str, dict[str, Any]] = {
    "tiny": {"model.ngf": 4, "disc.ndf": 4, "disc.n_layers": 2, "data.crop": 32, "data.batch_size": 2,
             "data.train_patches": 64, "data.test_images": 2, "data.test_crop": 64, "train.steps": 4,
             "train.log_every": 2, "train.eval_every": 4, "train.ckpt_every": 2, "train.sample_every": 4,
             "train.diagnostics_every": 2, "diagnostics.probe_size": 4, "diagnostics.n_per_image": 8,
             "diagnostics.d_probe_steps": 4, "diagnostics.info_bootstrap": 10, "train.tensorboard": False},
    "quick": {"model.ngf": 16, "disc.ndf": 16, "disc.n_layers": 2, "data.crop": 32, "data.batch_size": 8,
              "data.train_patches": 2000, "data.test_images": 4, "data.test_crop": 64, "train.steps": 300,
              "train.log_every": 10, "train.eval_every": 300, "train.ckpt_every": 100, "train.sample_every": 300,
              "train.diagnostics_every": 50, "diagnostics.probe_size": 16, "diagnostics.d_probe_steps": 250,
              "diagnostics.info_bootstrap": 50,
              # 300 steps fit the CPU budget only with a larger step size than pix2pix's 2e-4 (full keeps 2e-4)
              "optim.lr_g": 1e-3, "optim.lr_d": 1e-3,
              "train.tensorboard": False},  # illustration sweeps: the report is the view (saves ~1 s a run)
    # converged by the plateau rule (experiments/convergence.py) within the 2-core CPU budget: batch 16
    # (the step costs little more than batch 8 at this size), pix2pix's linear decay over the second
    # half, an EMA of G (warm-up) for evaluation, held-out crops every 100 steps for the curve
    "standard": {"model.ngf": 16, "disc.ndf": 16, "disc.n_layers": 2, "data.crop": 32, "data.batch_size": 16,
                 "data.train_patches": 4000, "data.test_images": 12, "data.test_crop": 64, "train.steps": 2000,
                 "train.log_every": 25, "train.eval_every": 100, "train.ckpt_every": 500,
                 "train.sample_every": 2000, "train.diagnostics_every": 200, "diagnostics.probe_size": 16,
                 "optim.lr_g": 1e-3, "optim.lr_d": 1e-3, "optim.decay_start": 0.5, "train.ema": 0.999},
    # the standard grid at the schedule where the horizon runs met the plateau rule (README "How long
    # converged runs take": denoise L1-only and the dehaze baseline at 8000 steps); ~9 h for the whole
    # grid on the 2-core CPU, so a GPU's (or a few resumed sessions'), not a CPU session's preset
    # Two changes after its first confirmatory runs, whose validation PSNR peaked near step 3000 and fell
    # 0.16-0.29 dB over the last quarter in 11 of 12 runs (4000 fixed pairs, each seen 32 times: a net
    # can learn the noise of its training pairs): fresh pairs (train_patches = steps × batch, none seen
    # twice) and the model selected at its best validation PSNR (train.select; experiments/convergence.py)
    "long": {"model.ngf": 16, "disc.ndf": 16, "disc.n_layers": 2, "data.crop": 32, "data.batch_size": 16,
             "data.train_patches": 128000, "train.select": "best_val",
             "data.test_images": 12, "data.test_crop": 64, "train.steps": 8000,
             "train.log_every": 50, "train.eval_every": 200, "train.ckpt_every": 1000,
             "train.sample_every": 8000, "train.diagnostics_every": 800, "diagnostics.probe_size": 16,
             # the D-optimality probe long enough for its D to win: against a converged derain baseline a
             # fresh D saturates 0 % of its outputs after 256 updates, 66 % after 512, 95 % after 2048
             "diagnostics.d_probe_steps": 2048,
             "optim.lr_g": 1e-3, "optim.lr_d": 1e-3, "optim.decay_start": 0.5, "train.ema": 0.999},
    # the confirmatory GPU sweep of benchmarks/cuda_evidence.sh (one H200, 15 runs packed): 128² crops,
    # ngf 32 (10.5 M parameters at depth 7; ~100 GFLOP a step with D), as many steps as fit ~5 minutes
    "gpu": {"model.ngf": 32, "disc.ndf": 32, "disc.n_layers": 3, "data.crop": 128, "data.batch_size": 16,
            "data.train_patches": 32000, "data.test_images": 12, "data.test_crop": 256, "train.steps": 2000,
            "train.log_every": 50, "train.eval_every": 200, "train.ckpt_every": 500, "train.sample_every": 2000,
            "train.diagnostics_every": 500, "diagnostics.probe_size": 16, "diagnostics.d_probe_steps": 500,
            "optim.lr_g": 1e-3, "optim.lr_d": 1e-3, "optim.decay_start": 0.5, "train.ema": 0.999,
            "train.select": "best_val"},  # fresh pairs (steps × batch) and selection, as in long
    "full": {"model.ngf": 64, "disc.ndf": 64, "disc.n_layers": 3, "data.crop": 128, "data.batch_size": 16,
             "data.train_patches": 100000, "data.test_images": 12, "data.test_crop": 256, "train.steps": 20000,
             "train.log_every": 50, "train.eval_every": 2000, "train.ckpt_every": 1000, "train.sample_every": 2000,
             "train.diagnostics_every": 250, "diagnostics.probe_size": 32, "diagnostics.d_probe_steps": 2000},
}
MAX_DEPTH = {"tiny": 5, "quick": 5, "standard": 5, "long": 5, "gpu": 7, "full": 7}  # down-samplings that reach a 1×1 bottleneck
SEEDS = {"tiny": 1, "quick": 2, "standard": 3, "long": 3, "gpu": 3, "full": 3}
# seeds of the configurations a primary decision compares (the confirmatory presets: more than the rest)
PRIMARY_SEEDS = {"long": 5, "full": 5}


def have_shared(name: str) -> bool:
    root = shared_data_root()
    return root is not None and (root / name).is_dir()


def task_overrides(task: str) -> dict[str, Any]:
    """Data for each task: the benchmark sets when ../shared/data has them, else the embedded images
    (:meth:`experiments.tasks.Task.overrides`)."""
    from ..tasks import get_task

    return get_task(task).overrides()


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid: a named configuration of a task at a seed."""

    task: str
    config: str
    seed: int
    overrides: tuple[tuple[str, Any], ...]

    @property
    def key(self) -> str:
        return f"{self.task}/{self.config}/seed{self.seed}"

    def sets(self) -> list[str]:
        return [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in self.overrides]


@dataclass
class Problem:
    """A diagnosed problem: its configurations (name -> overrides), which of them is the
    baseline and which the fix, and the post-run analysis it needs."""

    name: str
    title: str
    configs: Callable[[str], dict[str, dict[str, Any]]]  # preset -> {config name: overrides}
    baseline: str
    fixes: list[str]
    analysis: list[str] = field(default_factory=list)  # analyses to run on each finished run
    present: Comparison | None = None  # pre-registered: is the problem present in the baseline?
    fix: Comparison | None = None  # pre-registered: does the named fix reduce it?
    controls: list[Comparison] = field(default_factory=list)  # reported beside the verdict, never decide it
    # the earlier evidence (PSNR, band residuals, gradient ratios) — labelled secondary, never decides
    secondary: list[Comparison] = field(default_factory=list)
    # sizes of effects, reported beside the verdict (never decide it), when all their runs are there
    effects: list[Comparison] = field(default_factory=list)
    # a sentence of context for one task's verdict, or "" — (runs table, task, configurations run) -> str
    context: Callable[[Any, str, list[str]], str] | None = None
    # the report's figures of this problem's section: names of experiments.report.figures.FIGURES
    figures: list[str] = field(default_factory=list)
    section: int = 0  # the problem's number in the report ("1. Over-invested abstraction")

    def compared(self) -> set[str]:
        """The configurations the pre-registered decisions (present, fix) compare."""
        return set().union(*(c.configs for c in (self.present, self.fix) if c is not None))

    def run_rank(self, config: str) -> int:
        """0 when a pre-registered decision compares ``config``, 1 when only a control or a secondary
        comparison does (the no-skip model, the other loss variants), 2 when it is only context (the
        other depths of the trend, the L1-only reference)."""
        if config in self.compared():
            return 0
        return 1 if any(config in c.configs for c in (*self.controls, *self.secondary)) else 2


def probe_batch(pairs: list[tuple[str, np.ndarray, np.ndarray]], crop: int, n: int, seed: int = 0,
                device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` aligned random crops (degraded, clean) from test pairs, as [-1, 1] batches."""
    from ..data.datasets import random_crop_flip, to_tensor

    rng = np.random.default_rng([seed, 7])
    xs, ys = [], []
    for i in range(n):
        _, x, y = pairs[i % len(pairs)]
        cx, cy = random_crop_flip([x, y], min(crop, x.shape[0], x.shape[1]), rng, flip=False)
        xs.append(to_tensor(cx))
        ys.append(to_tensor(cy))
    return torch.stack(xs).to(device), torch.stack(ys).to(device)
