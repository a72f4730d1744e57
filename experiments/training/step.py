"""The GAN update itself: one readable step (D then G), and the numerics around it (AMP, DDP
gradient averaging, the EMA's warm-up, torch.compile). Read :func:`gan_step` first — it is the whole
algorithm; everything in :mod:`experiments.training.trainer` is bookkeeping around it."""
from __future__ import annotations

import contextlib
import math
from typing import Any, Callable

import torch

from infoflow.models import GeneratorObjective
from infoflow.models.losses import content_loss, interpolates, penalty_at

__all__ = ["gan_step", "compile_modules", "resolve_amp", "ema_warmup", "average_gradients", "check_step",
           "MAX_SKIPPED_STEPS"]

def compile_modules(G: torch.nn.Module, D: torch.nn.Module, needs_gp: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    """``train.compile``: G and D through ``torch.compile``; D stays eager under WGAN-GP, whose
    gradient penalty differentiates D twice (compiled graphs do not support double backward)."""
    return torch.compile(G), (D if needs_gp else torch.compile(D))


MAX_SKIPPED_STEPS = 50  # fp16: this many overflowing steps in a row (scale halved each time) is divergence


def _cuda_bf16(native: bool) -> bool:
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=not native))
    except TypeError:  # torch < 2.4 has no including_emulation
        return bool(torch.cuda.is_bf16_supported())


def resolve_amp(amp: bool | str | None, device: torch.device) -> str | None:
    """``train.amp`` -> 'bf16', 'fp16' or None. ``true`` means bf16 on a CUDA device with native
    bf16 (Ampere or newer), fp16 + GradScaler on older GPUs, and off on CPU (autocast pays there
    only with bf16 instructions); an explicit 'bf16' / 'fp16' is honoured on any device that can."""
    if amp is True:
        if device.type != "cuda":
            return None
        return "bf16" if _cuda_bf16(native=True) else "fp16"
    if amp in (False, None):
        return None
    if amp not in ("bf16", "fp16"):
        raise ValueError(f"train.amp={amp!r}; choose true (bf16 on CUDA), 'bf16', 'fp16' or false")
    if amp == "bf16" and device.type == "cuda" and not _cuda_bf16(native=False):
        raise ValueError(f"train.amp='bf16' but {torch.cuda.get_device_name(device)} has no bfloat16 support; "
                         "use 'fp16' or true (which picks fp16 there)")
    return amp


def gan_step(G: torch.nn.Module, D: torch.nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
             x: torch.Tensor, y: torch.Tensor, objective: GeneratorObjective, gp_weight: float = 10.0,
             autocast: Callable[[], Any] = contextlib.nullcontext, scaler: Any = None,
             sync_d: Callable[[], None] | None = None) -> dict[str, float]:
    """One conditional-GAN update on a batch (x degraded, y clean), both (B, C, H, W) in [-1, 1].

    The discriminator scores real, fake (and WGAN-GP's interpolated) pairs in separate passes, as
    in pix2pix, so batch-coupled layers never mix them. ``sync_d`` is called between D's backward
    and its optimiser step: under DDP it averages D's gradients over ranks (D is not wrapped in
    DistributedDataParallel, so the algorithm is the single-process one with averaged gradients).
    ``scaler``: fp16 GradScaler or None.
    """
    adv = objective.adv
    with autocast():
        fake = G(x)
    if objective.lambda_adv == 0:  # the content-only control (no adversarial term): D is not trained
        return _content_step(fake, y, objective, opt_g, scaler)
    # 1) discriminator: real pairs (x, y) up, fake pairs (x, G(x)) down
    mix = interpolates(y, fake) if adv.needs_gp else None  # WGAN-GP points, differentiated w.r.t. pixels
    with autocast():
        d_real, d_fake = D(x, y).float(), D(x, fake.detach()).float()
        d_mix = D(x, mix).float() if mix is not None else None
        loss_d = adv.d_loss(d_real, d_fake)
    if mix is not None:
        loss_d = loss_d + penalty_at(d_mix, mix, gp_weight, scaler)
    opt_d.zero_grad(set_to_none=True)
    _backward_step(loss_d, opt_d, scaler, sync_d)
    # 2) generator: fool the (updated) discriminator and stay close to the target
    with autocast():
        g_fake = D(x, fake).float()
        g_real = D(x, y).detach().float() if adv.needs_real_logits else None
        terms = objective.terms(g_fake, g_real, fake.float(), y)
        loss_g = terms["adversarial"] + terms["content"]
    opt_g.zero_grad(set_to_none=True)
    _backward_step(loss_g, opt_g, scaler)
    with torch.no_grad():  # one device-to-host copy for all six numbers (one sync per step on a GPU, not six)
        vals = torch.stack([loss_d.detach().float(), loss_g.detach().float(), terms["adversarial"].detach().float(),
                            terms["content"].detach().float(), torch.sigmoid(d_real.detach()).mean(),
                            torch.sigmoid(d_fake.detach()).mean()]).tolist()
    stats = dict(zip(("loss_d", "loss_g", "loss_g_adv", "loss_g_content", "d_real", "d_fake"), vals))
    if scaler is not None:
        scale = scaler.get_scale()
        scaler.update()  # an Inf/NaN gradient skipped an optimizer step and lowers the scale
        stats["amp_scale"], stats["amp_skipped"] = scale, float(scaler.get_scale() < scale)
    return stats


def _content_step(fake: torch.Tensor, y: torch.Tensor, objective: GeneratorObjective, opt_g: torch.optim.Optimizer,
                  scaler: Any) -> dict[str, float]:
    """G's update without an adversarial term (λ_adv = 0): the L1-only control of every task."""
    loss_g = objective.lambda_content * content_loss(objective.content, fake.float(), y)
    opt_g.zero_grad(set_to_none=True)
    _backward_step(loss_g, opt_g, scaler)
    stats = {"loss_g": loss_g.item(), "loss_g_content": loss_g.item()}
    if scaler is not None:
        scale = scaler.get_scale()
        scaler.update()
        stats["amp_scale"], stats["amp_skipped"] = scale, float(scaler.get_scale() < scale)
    return stats


def _backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: Any,
                   sync: Callable[[], None] | None = None) -> None:
    (loss if scaler is None else scaler.scale(loss)).backward()
    if sync is not None:  # before the step: an fp16 Inf reaches every rank, so all skip the same step
        sync()
    if scaler is None:
        opt.step()
    else:
        scaler.step(opt)


def average_gradients(module: torch.nn.Module, world: int) -> None:
    """All-reduce the gradients of ``module`` and divide by ``world`` (what DDP does, in one
    flattened collective); every rank must call it with the same parameters holding gradients."""
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= world
    for g, avg in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(avg)


def ema_warmup(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    """An ``AveragedModel`` update with the usual warm-up (TensorFlow's ExponentialMovingAverage
    ``num_updates`` rule): decay min(decay, (1 + n)/(10 + n)) after n updates, so the average does
    not drag the random initialisation through a short run."""

    def update(ema: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor) -> None:
        k = float(n)
        d = min(decay, (1.0 + k) / (10.0 + k))
        torch._foreach_lerp_(ema, current, 1.0 - d)

    return update


def check_step(stats: dict[str, float], step: int, skipped: int) -> int:
    """The divergence checks after a step: returns the count of consecutive fp16-skipped steps
    (``skipped`` + 1, or 0); raises ``FloatingPointError`` when the fp16 scaler skipped more than
    :data:`MAX_SKIPPED_STEPS` in a row, or when a step that was not skipped has a non-finite loss."""
    skipped = (skipped + 1) if stats.get("amp_skipped") else 0
    if skipped > MAX_SKIPPED_STEPS:
        raise FloatingPointError(f"training diverged at step {step}: the fp16 scaler skipped {skipped} steps "
                                 f"in a row (scale {stats['amp_scale']:.3g}); last stats {stats}")
    if not skipped and not all(math.isfinite(v) for v in stats.values()):
        raise FloatingPointError(f"training diverged at step {step}: {stats}")
    return skipped

