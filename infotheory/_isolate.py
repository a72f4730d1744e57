"""Measure without side effects: every public diagnostic leaves a model exactly as it found it.

``isolated(*modules)`` snapshots, and restores on exit (also when the block raises):

* parameters and buffers (values, in place — optimisers keep their references), so a forward pass
  in train mode cannot move BatchNorm running statistics;
* each submodule's train/eval flag, and each parameter's ``requires_grad`` flag and ``.grad``;
* module hooks (forward, forward-pre, backward, backward-pre, state-dict) on every submodule and
  tensor hooks on every parameter: a hook a diagnostic forgets to remove is removed, and a hook
  the user had is kept;
* the torch RNG (CPU and the CUDA devices the modules live on).
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch import nn

__all__ = ["eval_mode", "no_side_effects", "isolated", "model_state"]

_HOOK_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
               "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks",
               "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
               "_load_state_dict_post_hooks")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model.eval()`` for the block, then every submodule back to the mode it was in (also on errors)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, was in modes:
            m.training = was


def _cuda_devices(modules: tuple[nn.Module, ...]) -> list[int]:
    devs = {t.device.index or 0 for m in modules for t in (*m.parameters(), *m.buffers()) if t.device.type == "cuda"}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        devs.add(torch.cuda.current_device())
    return sorted(devs)


class _Snapshot:
    """What ``isolated`` restores: tensors by value, flags, grads and hook tables of each module."""

    def __init__(self, modules: tuple[nn.Module, ...]) -> None:
        self.tensors: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.params: list[tuple[nn.Parameter, bool, torch.Tensor | None, Any]] = []
        self.modes: list[tuple[nn.Module, bool]] = []
        self.hooks: list[tuple[nn.Module, str, dict[int, Any]]] = []
        seen: set[int] = set()
        for root in modules:
            for m in root.modules():
                if id(m) in seen:
                    continue
                seen.add(id(m))
                self.modes.append((m, m.training))
                for attr in _HOOK_DICTS:
                    table = getattr(m, attr, None)
                    if table is not None:
                        self.hooks.append((m, attr, dict(table)))
                for p in m.parameters(recurse=False):
                    self.tensors.append((p, p.detach().clone()))
                    grad = None if p.grad is None else p.grad.detach().clone()
                    bh = getattr(p, "_backward_hooks", None)
                    self.params.append((p, p.requires_grad, grad, None if bh is None else dict(bh)))
                for b in m.buffers(recurse=False):
                    if b is not None:
                        self.tensors.append((b, b.detach().clone()))

    def restore(self) -> None:
        with torch.no_grad():
            for t, saved in self.tensors:
                if t.shape == saved.shape:
                    t.copy_(saved)
        for p, req, grad, bh in self.params:
            p.requires_grad_(req)
            if grad is None:
                p.grad = None
            elif p.grad is None or p.grad.shape != grad.shape:
                p.grad = grad
            else:
                p.grad.copy_(grad)
            if bh is not None:
                p._backward_hooks.clear()
                p._backward_hooks.update(bh)
            elif getattr(p, "_backward_hooks", None):
                p._backward_hooks = None
        for m, was in self.modes:
            m.training = was
        for m, attr, saved in self.hooks:
            table = getattr(m, attr)
            for k in [k for k in table if k not in saved]:
                del table[k]
            for k, v in saved.items():
                table.setdefault(k, v)


@contextlib.contextmanager
def isolated(*modules: nn.Module) -> Iterator[None]:
    """Run the block on ``modules`` and restore them (see the module docstring) and the RNG afterwards."""
    snap = _Snapshot(modules)
    with torch.random.fork_rng(devices=_cuda_devices(modules)):
        try:
            yield
        finally:
            snap.restore()


no_side_effects = isolated  # the name used before every diagnostic was isolated


def model_state(*modules: nn.Module) -> dict[str, Any]:
    """A comparable fingerprint of what ``isolated`` protects (for tests and for users who want to
    check a diagnostic themselves): tensors, modes, flags, grads, hook counts and the CPU RNG."""
    out: dict[str, Any] = {"rng": torch.get_rng_state().clone()}
    for i, root in enumerate(modules):
        for name, m in root.named_modules():
            key = f"{i}:{name}"
            out[key + ":training"] = m.training
            out[key + ":hooks"] = tuple(len(getattr(m, a, None) or {}) for a in _HOOK_DICTS)
            for pn, p in m.named_parameters(recurse=False):
                out[f"{key}.{pn}"] = p.detach().clone()
                out[f"{key}.{pn}:requires_grad"] = p.requires_grad
                out[f"{key}.{pn}:grad"] = None if p.grad is None else p.grad.detach().clone()
                out[f"{key}.{pn}:tensor_hooks"] = len(getattr(p, "_backward_hooks", None) or {})
            for bn, b in m.named_buffers(recurse=False):
                out[f"{key}.{bn}"] = b.detach().clone()
    return out
