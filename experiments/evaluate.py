"""Scoring restorers: a generator on test pairs (PSNR/SSIM per image, sample grids), a finished
(or checkpointed) run on a dataset, a classical method on the same protocol."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
import yaml

from infoflow.infotheory.diagnostics import eval_mode

from .builders import build_generator, resolve_device
from .data import build_test_pairs, pair_metrics, to_image, to_tensor
from .runfolder import RunFolder, atomic_write_text

__all__ = ["restore", "evaluate_pairs", "sample_grid", "evaluate_run", "load_run_generator", "evaluate_classical",
           "score_restorer"]


@torch.no_grad()
def restore(G: torch.nn.Module, degraded: np.ndarray, device: torch.device, multiple: int,
            value_range: str = "-1,1") -> np.ndarray:
    """Run G on one [0, 1] image (H, W[, C]) of any size, reflect-padded to a multiple of
    ``multiple`` and cropped back; returns the restored image in [0, 1]. ``value_range``: the
    range G works in, ``"-1,1"`` (pix2pix, infoflow's models) or ``"0,1"`` (many restorers)."""
    if value_range not in ("-1,1", "0,1"):
        raise ValueError(f"value_range must be '-1,1' or '0,1', got {value_range!r}")
    x = to_tensor(degraded)[None].to(device)
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
    unit = value_range == "0,1"
    out = G((x + 1) / 2 if unit else x)[..., :h, :w]  # under the decorator's no_grad
    out = out * 2 - 1 if unit else out
    return np.clip(to_image(out[0]), 0, 1)


def evaluate_pairs(G: torch.nn.Module, pairs: Sequence[tuple[str, np.ndarray, np.ndarray]], device: torch.device,
                   multiple: int) -> list[dict[str, Any]]:
    """Per-image PSNR/SSIM (dB, [0, 1]) of the input and of the restored output (Y channel too for RGB)."""
    with eval_mode(G):
        return [pair_metrics(name, restore(G, x, device, multiple), x, y) for name, x, y in pairs]


def sample_grid(G: torch.nn.Module, pairs: Sequence[tuple[str, np.ndarray, np.ndarray]], device: torch.device,
                multiple: int) -> np.ndarray:
    """Rows of input | output | target for the first 4 pairs, uint8."""
    rows = []
    with eval_mode(G):
        for _, x, y in pairs[:4]:
            rows.append(np.concatenate([np.clip(x, 0, 1), restore(G, x, device, multiple), y], axis=1))
    w = max(r.shape[1] for r in rows)
    rows = [np.pad(r, [(0, 0), (0, w - r.shape[1])] + [(0, 0)] * (r.ndim - 2)) for r in rows]
    return (np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)


def generator_weights(state: dict[str, Any]) -> dict[str, Any]:
    """The evaluated generator's state dict from a checkpoint: the EMA of G when the run kept one
    (``train.ema``; with its own BatchNorm statistics, re-estimated for the averaged weights, or the
    live model's under ``train.ema_bn_batches: 0``), else G — or, when the run selected a model on its
    validation split (``train.select: best_val``), that model (``G_best``)."""
    if "G_best" in state:
        return state["G_best"]
    if "G_ema" not in state:
        return state["G"]
    ema = {k[len("module."):]: v for k, v in state["G_ema"].items() if k.startswith("module.")}
    return {**ema, **{k: v for k, v in state["G"].items() if k not in ema}}


def load_run_generator(run_dir: str | Path, device: str = "auto") -> tuple[dict[str, Any], Any, dict[str, Any], Any]:
    """(config, generator in eval mode, checkpoint state, device) of a run folder's last checkpoint,
    loaded with ``weights_only=True``; a missing config or checkpoint raises naming the file."""
    run = RunFolder(run_dir)
    cfg_path = run.path / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{run.path} is not a run folder (no config.yaml)")
    cfg = yaml.safe_load(cfg_path.read_text())
    own = run.manifest().get("generator", "config")
    if own != "config":
        raise ValueError(f"{run.path} trained a generator passed to the Trainer ({own}), not one its config "
                         f"builds: load {run.ckpt_path} with RunFolder(...).load_checkpoint into your own {own}")
    dev = resolve_device(device)
    state = run.load_checkpoint(dev)
    if state is None:
        raise FileNotFoundError(f"{run.ckpt_path} not found: the run has no checkpoint yet")
    G = build_generator(cfg).to(dev)
    G.load_state_dict(generator_weights(state))
    return cfg, G.eval(), state, dev


def evaluate_run(run_dir: str | Path, dataset: str | None = None, limit: int | None = 0, device: str = "auto",
                 crop: int | None = None) -> pd.DataFrame:
    """Load ``run_dir``'s config and last checkpoint (``weights_only=True``), restore ``dataset``'s
    test pairs (default: the run's test set; ``limit=0`` means all images, ``crop=None`` full size),
    write ``eval_<dataset>.csv`` (one row per image plus a ``mean`` row) and return it."""
    run = RunFolder(run_dir)
    cfg, G, state, dev = load_run_generator(run_dir, device)
    name = dataset or cfg["data"]["test"]
    pairs = build_test_pairs(cfg, name, limit=limit, crop=crop)
    return _scored(evaluate_pairs(G, pairs, dev, 2 ** cfg["model"]["depth"]), ("step", int(state["step"])), name,
                   run.path / f"eval_{Path(name).name}.csv")


def score_restorer(restore_fn: Callable[[np.ndarray], np.ndarray], pairs: Sequence[tuple[str, np.ndarray, np.ndarray]],
                   realism: bool = True) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Per-image PSNR/SSIM rows of ``restore_fn`` (degraded [0, 1] image -> restored) on ``pairs``,
    and the set's means plus its realism: SWD ×10³ between the restored and the clean images
    (``swd``, needs >= 2 images; lower is more realistic)."""
    from .data import swd_realism

    outs = [restore_fn(x) for _, x, _ in pairs]
    rows = [pair_metrics(name, o, x, y) for (name, x, y), o in zip(pairs, outs)]
    means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "image"}
    if realism and len(pairs) >= 2:
        means["swd"] = swd_realism(outs, [y for _, _, y in pairs])["swd"]
    return rows, means


def _scored(rows: list[dict[str, Any]], first: tuple[str, Any], dataset: str, path: Path) -> pd.DataFrame:
    """Per-image rows plus a ``mean`` row, led by the ``first`` (column, value) and the dataset's
    name, written atomically to ``path`` as CSV."""
    df = pd.DataFrame(rows)
    df = pd.concat([df, pd.DataFrame([{"image": "mean", **df.drop(columns="image").mean().to_dict()}])],
                   ignore_index=True)
    df.insert(0, *first)
    df.insert(1, "dataset", Path(dataset).name)
    atomic_write_text(path, df.to_csv(index=False))
    return df


def evaluate_classical(method: str, dataset: str, task: str = "denoise", sets: tuple[str, ...] | list[str] = (),
                       limit: int | None = 0, crop: int | None = None, out: str | Path | None = None) -> pd.DataFrame:
    """Score a classical restorer (:data:`experiments.classical.CLASSICAL`) on ``dataset`` exactly as
    runs are scored: the task's degradation (``sets`` override it, e.g. ``data.degradation.params.sigma=50``)
    with the fixed per-image seeds of :func:`build_test_pairs`, or a folder's ``input/`` + ``target/``
    pairs. Writes ``out`` (default ``eval_<method>_<dataset>.csv`` in the working directory)."""
    from .classical import CLASSICAL, restore_classical
    from .config import resolve_config

    if method not in CLASSICAL:
        raise ValueError(f"unknown classical method {method!r}; choose one of {sorted(CLASSICAL)}")
    if CLASSICAL[method].task != task:
        raise ValueError(f"{method} is a {CLASSICAL[method].task} method; the task is {task}")
    cfg = resolve_config({"task": task}, list(sets) + ["model.depth=1"])  # depth 1: no size multiple to crop to
    params = cfg["data"]["degradation"]["params"]
    pairs = build_test_pairs(cfg, dataset, limit=limit, crop=crop)
    rows = [pair_metrics(name, restore_classical(method, x, **params), x, y) for name, x, y in pairs]
    return _scored(rows, ("method", method), dataset, Path(out or f"eval_{method}_{Path(dataset).name}.csv"))
