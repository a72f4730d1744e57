"""Layer taps: record activations (and gradients) of any layers of any nn.Module.

Captum-style: layers are given by name (``"enc3"``, ``"dec2.1"``) or by module. Activations are
reduced on the device, then stored as ``detach().clone()`` copies, so in-place operations that
follow a layer (e.g. ``LeakyReLU(inplace=True)``) cannot corrupt them. Gradients use tensor hooks,
which — unlike module backward hooks — work with in-place ops. Every hook is removed on exit,
also when the forward pass raises.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from .reductions import Reduction, as_reduction

__all__ = ["LayerTap", "resolve_layers", "first_tensor"]


def first_tensor(output: Any) -> torch.Tensor | None:
    """The tensor a layer's output stands for: the output itself, or the first tensor of a tuple,
    list or dict (layers such as attention blocks or LSTMs return several); None if there is none."""
    if isinstance(output, torch.Tensor):
        return output
    items = output.values() if isinstance(output, dict) else output if isinstance(output, (tuple, list)) else ()
    for item in items:
        t = first_tensor(item)
        if t is not None:
            return t
    return None


def resolve_layers(model: nn.Module, layers: str | nn.Module | Sequence[str | nn.Module]) -> dict[str, nn.Module]:
    """Name -> module for each requested layer; unknown names raise with the available ones."""
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    by_module = {id(m): n for n, m in model.named_modules()}
    out: dict[str, nn.Module] = {}
    for layer in layers:
        if isinstance(layer, str):
            try:
                out[layer] = model.get_submodule(layer)
            except AttributeError:
                names = [n for n, _ in model.named_modules() if n][:40]
                raise ValueError(f"model has no layer {layer!r}; available: {names}") from None
        elif isinstance(layer, nn.Module):
            if id(layer) not in by_module:
                raise ValueError(f"module {type(layer).__name__} is not part of the model")
            out[by_module[id(layer)] or "<model>"] = layer
        else:
            raise TypeError(f"layers must be names or nn.Modules, got {type(layer).__name__}")
    return out


class LayerTap:
    """Context manager recording the outputs (and optionally gradients) of ``layers``.

    Args:
        model: any ``nn.Module``.
        layers: name(s) or module(s).
        reduce: a :class:`~infotheory.reductions.Reduction` (or ``"pool"``/``"flatten"``) for all
            layers, or a dict name -> reduction; applied on the device before copying.
        grads: also record d(loss)/d(output) of each layer (tensor hooks).
        device: where stored copies live (``"cpu"`` default; ``None`` keeps the layer's device).
        max_samples: keep at most this many rows per layer (after reduction) — memory bound.

    After the block: ``tap.activations[name]`` and ``tap.gradients[name]`` are tensors (N, ...) with
    all recorded calls concatenated in call order (gradients aligned with activations);
    ``tap.reductions[name]`` describes the reduction. Gradients are recorded only for backward
    passes run inside the block: every hook, tensor hooks included, is removed on exit.
    """

    def __init__(self, model: nn.Module, layers: str | nn.Module | Sequence[str | nn.Module],
                 reduce: Reduction | str | Mapping[str, Reduction | str] | None = None, grads: bool = False,
                 device: str | torch.device | None = "cpu", max_samples: int | None = None) -> None:
        self.model, self.layers = model, resolve_layers(model, layers)
        self._reduce = {n: as_reduction(reduce.get(n) if isinstance(reduce, Mapping) else reduce)
                        for n in self.layers}
        self.grads, self.device, self.max_samples = grads, device, max_samples
        self._acts: dict[str, list[torch.Tensor]] = defaultdict(list)
        self._grads: dict[str, dict[int, torch.Tensor]] = defaultdict(dict)
        self._calls: dict[str, int] = defaultdict(int)
        self._handles: list[Any] = []
        self._tensor_handles: list[Any] = []
        self.shapes: dict[str, torch.Size] = {}  # each layer's output shape (before reduction), last call
        self.enabled = True

    @property
    def reductions(self) -> dict[str, dict[str, Any]]:
        return {n: r.describe() for n, r in self._reduce.items()}

    def _reduce_copy(self, t: torch.Tensor, name: str) -> torch.Tensor:
        r = self._reduce[name](t.detach())
        return r.clone() if self.device is None else r.to(self.device, copy=True)

    def _store(self, bucket: list[torch.Tensor], t: torch.Tensor, name: str) -> None:
        have = sum(x.shape[0] for x in bucket)
        if self.max_samples is not None and have >= self.max_samples:
            return
        r = self._reduce_copy(t, name)
        if self.max_samples is not None:
            r = r[: self.max_samples - have]
        if r.shape[0]:
            bucket.append(r)

    def _hook(self, name: str):
        def fwd(module: nn.Module, args: Any, output: Any) -> None:
            if not self.enabled:
                return
            out = first_tensor(output)
            if out is None:
                return
            self.shapes[name] = out.shape
            self._store(self._acts[name], out, name)
            if self.grads and out.requires_grad:
                call = self._calls[name]  # the gradient of call i lands in slot i: aligned with activations
                self._calls[name] += 1

                def bwd(g: torch.Tensor, call: int = call) -> None:
                    self._grads[name][call] = self._reduce_copy(g, name)

                self._tensor_handles.append(out.register_hook(bwd))

        return fwd

    def __enter__(self) -> "LayerTap":
        try:
            for name, m in self.layers.items():
                self._handles.append(m.register_forward_hook(self._hook(name)))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this tap registered, module and tensor hooks (idempotent). Run the
        backward pass inside the block: after it, the activations' gradient hooks are gone."""
        for h in (*self._handles, *self._tensor_handles):
            h.remove()
        self._handles.clear()
        self._tensor_handles.clear()

    def clear(self) -> None:
        self._acts.clear()
        self._grads.clear()
        self._calls.clear()
        self.shapes.clear()

    def require_outputs(self) -> None:
        """Raise naming every tapped layer that produced no tensor output (not called, or it returns
        no tensor) — a measurement of it would otherwise be silently missing."""
        missing = [n for n in self.layers if n not in self.shapes]
        if missing:
            raise ValueError(f"layers {missing} produced no tensor output in the forward pass (not called, or "
                             "they return no tensor); choose layers whose output is a tensor")

    @property
    def activations(self) -> dict[str, torch.Tensor]:
        return {n: torch.cat(v) for n, v in self._acts.items() if v}

    @property
    def gradients(self) -> dict[str, torch.Tensor]:
        """d(loss)/d(output) per layer, in the order of the forward calls (row i ↔ activation row i)."""
        out = {}
        for n, slots in self._grads.items():
            if slots:
                g = torch.cat([slots[i] for i in sorted(slots)])
                out[n] = g[: self.max_samples] if self.max_samples is not None else g
        return out
