"""Measure without side effects: restore BN buffers and the RNG state after a diagnostic pass."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

__all__ = ["eval_mode", "no_side_effects"]


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model.eval()`` for the block, then back to whichever mode it was in (also on errors)."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


@contextlib.contextmanager
def no_side_effects(*modules: nn.Module) -> Iterator[None]:
    """Buffers (BatchNorm running stats) of ``modules`` and the torch RNG are restored on exit, so a
    diagnostic pass leaves training bit-for-bit as it would have been without it."""
    saved = [{k: v.clone() for k, v in m.named_buffers()} for m in modules]
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            for m, buf in zip(modules, saved):
                for k, v in m.named_buffers():
                    v.copy_(buf[k])
