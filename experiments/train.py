"""The GAN trainer: one readable step (D then G), seeded, resumable, writing a tidy run folder.

Read ``gan_step`` first — it is the whole algorithm; ``Trainer`` is bookkeeping around it.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from infotheory.diagnostics import eval_mode
from infotheory.tensorboard import TensorBoardLog
from models import GeneratorObjective
from models.losses import content_loss, interpolates, penalty_at

from .builders import (build_discriminator, build_generator, build_optimizers, channels, resolve_channels_last,
                       resolve_device)
from .data import (StepBatches, batch_loader, build_test_pairs, build_train_set, build_val_pairs, check_test_pairs, check_train_set,
                   resolve_workers)
from .evaluate import evaluate_pairs, restore, sample_grid
from .runfolder import RunFolder

__all__ = ["Trainer", "StepContext", "gan_step", "compile_modules", "resolve_amp", "ema_warmup"]

TestPairs = Sequence[tuple[str, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class StepContext:
    """What a callback sees at a diagnostic step (every ``train.diagnostics_every`` steps): the
    models to measure, not the trainer. A callback returns tidy metric rows (dicts with step,
    split, metric, value[, layer, estimator, params]) and must leave training untouched (restore
    any module mode, BatchNorm statistics or RNG state it changes).

    ``G``, ``D``: the live generator and discriminator (unwrapped from DDP / compile);
    ``G_eval``: the evaluated generator (the EMA of G under ``train.ema``, else G);
    ``objective``: the generator objective; ``train_set``: the training pairs ((C, H, W) tensors in
    [-1, 1]); ``cfg``: the run's config (read only); ``run_dir``: the run folder;
    ``rank``/``world``: the DDP rank and world size (callbacks run on rank 0 only).
    """

    step: int
    G: torch.nn.Module
    D: torch.nn.Module
    objective: GeneratorObjective
    train_set: Any
    device: torch.device
    cfg: dict[str, Any]
    run_dir: Path
    rank: int = 0
    world: int = 1
    evaluated: Callable[[], torch.nn.Module] | None = field(default=None, repr=False)

    @property
    def G_eval(self) -> torch.nn.Module:
        return self.evaluated() if self.evaluated is not None else self.G

    @property
    def is_main(self) -> bool:
        return self.rank == 0


Callback = Callable[[StepContext], Sequence[dict[str, Any]]]


def _check_callback(cb: Any) -> None:
    """A callback is called with one argument, a :class:`StepContext`."""
    if not callable(cb):
        raise TypeError(f"callbacks must be callables taking a StepContext, got {type(cb).__name__}")
    try:
        inspect.signature(cb).bind(None)
    except TypeError:
        raise TypeError(f"callback {getattr(cb, '__name__', cb)!r} has signature {inspect.signature(cb)}; callbacks "
                        "take one argument, a StepContext (ctx.step, ctx.G, ctx.D, ctx.objective, ...)") from None
    except ValueError:  # no signature to inspect (some builtins): trust it
        pass


def compile_modules(G: torch.nn.Module, D: torch.nn.Module, needs_gp: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    """``train.compile``: G and D through ``torch.compile``; D stays eager under WGAN-GP, whose
    gradient penalty differentiates D twice (compiled graphs do not support double backward)."""
    return torch.compile(G), (D if needs_gp else torch.compile(D))


EMA_BN_STEP0 = 2**40  # the EMA's BatchNorm batches are those of "steps" 2**40, 2**40 + 1, ... (never trained on)
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


# ------------------------------------------------------------------------------------ the step
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


# ------------------------------------------------------------------------------------ trainer
def dist_env() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from the torchrun environment; (0, 1, 0) otherwise."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))


class Trainer:
    """Trains ``cfg`` into the run folder ``out``.

    The models and data are built from the config unless given as objects: ``G`` (any
    ``nn.Module`` mapping a (B, C, H, W) batch in [-1, 1] to a restored batch of its shape), ``D``
    (called as ``D(degraded, image)`` -> logits, like the PatchGAN), ``train_set`` (a map-style
    dataset of (degraded, clean) tensors (C, H, W) in [-1, 1]) and ``test_pairs`` ((name, degraded,
    clean) arrays (H, W[, C]) in [0, 1], scored as given, so pass whole images). Test images are
    reflect-padded to a multiple of ``multiple`` (default 2**``model.depth``). The optimisers,
    objective, schedule and everything else come from the config. A run whose generator was passed
    in records its class in the manifest; resume it with the same objects.

    Every ``train.diagnostics_every`` steps (0 = never) the built-in diagnostics monitor
    (:mod:`experiments.monitors`) and any extra ``callbacks`` are called with a
    :class:`StepContext`; they return tidy metric rows (dicts with step, split, metric, value[,
    layer, estimator, params]).

    Under ``torchrun`` (WORLD_SIZE > 1) the models are wrapped in DistributedDataParallel (NCCL on
    CUDA, gloo on CPU), every rank draws its own batches (rank-seeded), and only rank 0 writes the
    run folder, evaluates, samples and runs diagnostics (on the unwrapped modules, which issue no
    collective calls, so other ranks never wait on them).
    """

    def __init__(self, cfg: dict[str, Any], out: str | Path, device: str = "auto", resume: bool = False,
                 deterministic: bool = False, progress: bool = True, callbacks: Sequence[Callback] = (), *,
                 G: torch.nn.Module | None = None, D: torch.nn.Module | None = None, train_set: Any = None,
                 test_pairs: TestPairs | None = None, multiple: int | None = None) -> None:
        for name, m in (("G", G), ("D", D)):
            if m is not None and not isinstance(m, torch.nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
        for cb in callbacks:
            _check_callback(cb)
        if train_set is not None:
            check_train_set(train_set, None if G is not None else channels(cfg))
        if multiple is not None and (not isinstance(multiple, int) or multiple < 1):
            raise ValueError(f"multiple must be a positive integer, got {multiple!r}")
        self._given = {"G": G, "D": D, "train_set": train_set,
                       "test_pairs": check_test_pairs(test_pairs) if test_pairs is not None else None}
        self.cfg, self.run = cfg, RunFolder(out)
        self._held = contextlib.ExitStack()  # the run folder's LOCK while fit() runs (rank 0)
        self.rank, self.world, self.local_rank = dist_env()
        self.is_main = self.rank == 0
        self.device = resolve_device(device)
        self.channels_last = resolve_channels_last(cfg["train"].get("channels_last", False), self.device,
                                                   own_modules=G is None and D is None)
        if self.world > 1 and self.device.type == "cuda":
            self.device = torch.device(f"cuda:{self.local_rank}")
            torch.cuda.set_device(self.device)
        self.resume, self.progress, self.callbacks = resume, progress and self.is_main, list(callbacks)
        self.monitor = None
        if cfg["train"]["diagnostics_every"]:
            from .monitors import DiagnosticsMonitor

            self.monitor = DiagnosticsMonitor(cfg)
            if self.is_main:
                self.callbacks.insert(0, self.monitor)
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":  # fixed crop and batch: let cuDNN pick the fastest kernels once
            torch.backends.cudnn.benchmark = True
        self.deterministic = deterministic
        self.multiple = multiple or 2 ** cfg["model"]["depth"]
        self.step = 0
        self._skipped = 0  # consecutive steps the fp16 GradScaler skipped
        self._own_pg = False

    # distributed helpers --------------------------------------------------------------------
    def _init_dist(self) -> None:
        import torch.distributed as dist

        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self._own_pg = True

    def _agree(self, error: BaseException | None) -> None:
        """Rank 0's setup error is raised on every rank (no rank is left waiting)."""
        if self.world == 1:
            if error is not None:
                raise error
            return
        import torch.distributed as dist

        box = [None if error is None else f"{type(error).__name__}: {error}"]
        dist.broadcast_object_list(box, src=0)
        if error is not None:
            raise error
        if box[0] is not None:
            raise RuntimeError(f"rank 0 failed to set up the run: {box[0]}")

    def _setup(self) -> None:
        cfg, t = self.cfg, self.cfg["train"]
        self._init_dist()
        err = None
        if self.is_main:
            try:
                self._held.enter_context(self.run.locked())  # one process per run folder
                self.run.open(self.resume)
                if self.resume:
                    self._check_same_kind()
            except Exception as exc:  # noqa: BLE001 - re-raised on every rank by _agree
                err = exc
        self._agree(err)
        torch.manual_seed(cfg["seed"])
        given = self._given
        G = given["G"] if given["G"] is not None else build_generator(cfg)
        D = given["D"] if given["D"] is not None else build_discriminator(cfg)
        self.G, self.D = G.to(self.device), D.to(self.device)
        if self.channels_last:
            self.G, self.D = (m.to(memory_format=torch.channels_last) for m in (self.G, self.D))
        self.opt_g, self.opt_d = build_optimizers(self.G, self.D, cfg["optim"], self.device)
        lc = cfg["loss"]
        self.objective = GeneratorObjective(lc["adversarial"], lc["content"], lc["lambda_adv"], lc["lambda_content"])
        self.train_set = given["train_set"] if given["train_set"] is not None else build_train_set(cfg)
        if given["G"] is not None:
            self._check_generator()
        self.test_pairs = (given["test_pairs"] if given["test_pairs"] is not None else build_test_pairs(cfg)) \
            if self.is_main else []
        # the convergence curve's pairs: the validation split carved from the training images when the
        # Trainer builds its own data (data.val_images), else the test pairs (split "test", as before)
        own_data = given["train_set"] is None and given["test_pairs"] is None
        self.val_pairs = build_val_pairs(cfg) if (self.is_main and own_data) else []
        amp = resolve_amp(t["amp"], self.device)
        dtype = torch.float16 if amp == "fp16" else torch.bfloat16
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=dtype)) if amp else contextlib.nullcontext
        self.scaler = torch.amp.GradScaler(self.device.type) if amp == "fp16" else None
        state = self.run.load_checkpoint(self.device) if self.resume else None
        if state is not None:
            try:
                self.G.load_state_dict(state["G"])
                self.D.load_state_dict(state["D"])
            except RuntimeError as exc:
                raise RuntimeError(f"{self.run.ckpt_path}: the checkpoint does not fit the generator or "
                                   f"discriminator of this run (resume with the same modules): {exc}") from None
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            if self.scaler is not None and "scaler" in state:
                self.scaler.load_state_dict(state["scaler"])
            rngs = state.get("rng_cpu_ranks")
            torch.set_rng_state((rngs[self.rank] if rngs and len(rngs) == self.world else state["rng_cpu"]).cpu())
            if "rng_cuda" in state and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["rng_cuda"].cpu())
            self.step = int(state["step"])
        elif self.world > 1:
            torch.manual_seed(cfg["seed"] * 1000 + self.rank)  # rank-seeded dropout / noise draws
        self.G_ema = None
        if t["ema"]:  # evaluated, sampled and analysed in place of G (BasicSR / StyleGAN practice)
            from torch.optim.swa_utils import AveragedModel

            self.G_ema = AveragedModel(self.G, multi_avg_fn=ema_warmup(t["ema"]))
            if state is not None and "G_ema" in state:
                self.G_ema.load_state_dict(state["G_ema"])  # its BN statistics were refreshed at that step
        self._ema_bn_inputs: list[torch.Tensor] | None = None
        self._ema_bn_step = self.step if state is not None else -1
        # model selection (train.select: best_val): the evaluated generator at its best validation PSNR
        self.best: dict[str, Any] | None = None
        if t["select"] == "best_val":
            if self.is_main and not self.val_pairs:
                raise ValueError("train.select: best_val selects on the validation split, and this run has none "
                                 "(data.val_images is 0, or the Trainer was given its data): use train.select: last")
            if state is not None and "G_best" in state:
                self.best = {"step": int(state["best_step"]), "psnr": float(state["best_psnr"]),
                             "weights": state["G_best"]}
        self.G_train, self._sync_d = self.G, None
        if self.world > 1:  # G under DDP; D's gradients averaged explicitly (see gan_step)
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G_train = DDP(self.G, device_ids=ids)
            self._sync_d = lambda: average_gradients(self.D, self.world)
        self.D_train = self.D
        if t.get("compile"):
            self.G_train, self.D_train = compile_modules(self.G_train, self.D, self.objective.adv.needs_gp)
        self.tb = None
        if self.is_main:
            self.run.load_metrics(self.step)
            self.tb = TensorBoardLog.maybe(t["tensorboard"], self.run.path / "tensorboard",
                                           purge_step=self.step + 1 if self.step else None)
            if self.tb is not None:  # a view of the tidy rows; metrics.csv stays the record
                self.run.on_log.append(lambda row: self.tb.rows([row]))
            self.run.write_config(cfg)
            self.run.write_manifest(str(self.device), cfg["seed"], {
                "resumed_from_step": self.step, "deterministic": self.deterministic, "world_size": self.world,
                "generator_params": sum(p.numel() for p in self.G.parameters()),
                "generator": self._kind("G"), "discriminator": self._kind("D"),
                "data": "user" if given["train_set"] is not None else "config",
                "amp": amp or False, "channels_last": self.channels_last,
                "compile": bool(t.get("compile"))})

    def _check_same_kind(self) -> None:
        """A resumed run keeps its kind of models: config-built, or passed in (by class)."""
        prev = self.run.manifest()
        for key, what in (("generator", "G"), ("discriminator", "D")):
            was, now = prev.get(key, "config"), self._kind(what)
            if was != now:
                say = {"config": "the one its config builds"}
                raise ValueError(f"{self.run.path} was trained with {say.get(was, was)} as {what}; resuming with "
                                 f"{say.get(now, now)} would load its checkpoint into another model — pass the same "
                                 f"{what} (--{key} in the CLI)")

    def _kind(self, what: str) -> str:
        """``G``/``D``: the class passed in (module.qualname), or ``config`` when the config built it."""
        m = self._given[what]
        return "config" if m is None else f"{type(m).__module__}.{type(m).__qualname__}"

    def _check_generator(self) -> None:
        """A user's G must return the shape of its input (tried on one training patch, eval mode)."""
        x = self.train_set[0][0][None].to(self.device)
        try:
            with torch.no_grad(), eval_mode(self.G):
                out = self.G(x)
        except Exception as exc:  # noqa: BLE001 - re-raised with what was tried
            raise RuntimeError(f"G failed on one training patch of shape {tuple(x.shape)}: {exc}") from exc
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"G maps a {tuple(x.shape)} batch to {got}; a restorer must return its input's shape")

    def context(self, step: int) -> StepContext:
        """The :class:`StepContext` the callbacks get at ``step``."""
        return StepContext(step=step, G=self.G, D=self.D, objective=self.objective, train_set=self.train_set,
                           device=self.device, cfg=self.cfg, run_dir=self.run.path, rank=self.rank, world=self.world,
                           evaluated=lambda: self.G_eval)

    @property
    def G_eval(self) -> torch.nn.Module:
        """The generator that is evaluated: the EMA of G when ``train.ema`` is on (its BatchNorm
        statistics re-estimated for the averaged weights when stale, :meth:`refresh_ema_bn`), else G."""
        if self.G_ema is None:
            return self.G
        if self.cfg["train"]["ema_bn_batches"] and self._ema_bn_step != self.step:
            self.refresh_ema_bn()
        return self.G_ema.module

    def update_ema(self) -> None:
        """Average G's parameters (with ``train.ema_bn_batches: 0`` the live BatchNorm statistics are copied)."""
        if self.G_ema is None:
            return
        self.G_ema.update_parameters(self.G)
        if not self.cfg["train"]["ema_bn_batches"]:
            with torch.no_grad():
                for mine, live in zip(self.G_ema.module.buffers(), self.G.buffers()):
                    mine.copy_(live)

    def ema_bn_inputs(self) -> list[torch.Tensor]:
        """The fixed degraded inputs (``train.ema_bn_batches`` batches, (B, C, H, W) each, on the CPU)
        on which the EMA's BatchNorm statistics are estimated: training batches of step indices no
        training step draws, the same on every rank and at every evaluation."""
        if self._ema_bn_inputs is None:
            src = StepBatches(self.train_set, self.cfg["data"]["batch_size"], self.cfg["seed"], None)
            self._ema_bn_inputs = [src[EMA_BN_STEP0 + i][0] for i in range(self.cfg["train"]["ema_bn_batches"])]
        return self._ema_bn_inputs

    def refresh_ema_bn(self) -> None:
        """Re-estimate the EMA generator's BatchNorm statistics for its own averaged weights
        (``torch.optim.swa_utils.update_bn``: a cumulative average over :meth:`ema_bn_inputs`).

        The live model's running statistics belong to other weights and follow its last ~10
        batches: evaluated with them, the EMA's held-out PSNR moved by tenths of a dB with the
        batches alone, which buried the convergence rule's 0.05 dB. Dropout draws inside are seeded
        and the global RNG is restored, so training (and exact resume) are unaffected."""
        from torch.optim.swa_utils import update_bn

        devices = ([self.device.index if self.device.index is not None else torch.cuda.current_device()]
                   if self.device.type == "cuda" else [])
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.cfg["seed"])
            update_bn((self.to_device(x, x)[0] for x in self.ema_bn_inputs()), self.G_ema.module)
        self._ema_bn_step = self.step

    def lr_factor(self, step: int) -> float:
        """pix2pix's schedule: 1 until ``optim.decay_start``·steps, then linear towards 0 (positive at
        the last step). A pure function of the step, so a resumed run follows the same schedule."""
        total, start = self.cfg["train"]["steps"], self.cfg["optim"]["decay_start"] * self.cfg["train"]["steps"]
        return 1.0 if step <= start else 1.0 - (step - start) / (total - start + 1)

    def set_lr(self, step: int) -> None:
        f, o = self.lr_factor(step), self.cfg["optim"]
        for opt, base in ((self.opt_g, o["lr_g"]), (self.opt_d, o["lr_d"])):
            for group in opt.param_groups:
                group["lr"] = base * f

    def batches(self) -> StepBatches:
        """Every step's batch, a pure function of (seed, step[, rank]): resume sees the same data."""
        return StepBatches(self.train_set, self.cfg["data"]["batch_size"], self.cfg["seed"],
                           self.rank if self.world > 1 else None)

    def to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        return (x.to(self.device, non_blocking=True, memory_format=fmt),
                y.to(self.device, non_blocking=True, memory_format=fmt))

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of ``step`` on the device (built on the calling thread)."""
        return self.to_device(*self.batches()[step])

    def gather_rngs(self) -> list[torch.Tensor]:
        """Every rank's CPU RNG state (a collective call under DDP: all ranks must take part)."""
        if self.world == 1:
            return [torch.get_rng_state()]
        import torch.distributed as dist

        rngs: list[Any] = [None] * self.world
        dist.all_gather_object(rngs, torch.get_rng_state())
        return rngs

    def checkpoint(self, rngs: list[torch.Tensor] | None = None) -> None:
        """Rank 0 writes metrics then the checkpoint (atomically); ``rngs`` from :meth:`gather_rngs`."""
        rngs = rngs if rngs is not None else self.gather_rngs()
        if not self.is_main:
            return
        state = {"G": self.G.state_dict(), "D": self.D.state_dict(), "opt_g": self.opt_g.state_dict(),
                 "opt_d": self.opt_d.state_dict(), "step": self.step, "rng_cpu": rngs[0],
                 "rng_cpu_ranks": rngs}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        if self.G_ema is not None:
            self.G_eval  # noqa: B018 - refreshes the EMA's BatchNorm statistics if stale
            state["G_ema"] = self.G_ema.state_dict()
        if self.best is not None:  # what train.select: best_val keeps (generator_weights prefers it)
            state.update(G_best=self.best["weights"], best_step=self.best["step"], best_psnr=self.best["psnr"])
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state()
        self.run.save_checkpoint(state)

    @property
    def curve_split(self) -> str:
        """The split of the periodic held-out curve: ``val`` (the validation split) when the run has
        one, else ``test`` (crops of the test images)."""
        return "val" if self.val_pairs else "test"

    def evaluate(self, split: str | None = None) -> dict[str, float]:
        """Mean PSNR/SSIM of the evaluated generator on ``split``'s pairs (default: the curve's),
        logged under that split."""
        split = split or self.curve_split
        pairs = self.val_pairs if split == "val" else self.test_pairs
        rows = evaluate_pairs(self.G_eval, pairs, self.device, self.multiple)
        means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "image"}
        for k, v in means.items():
            self.run.log(self.step, split, k, v)
        if split == "val" and self.cfg["train"]["select"] == "best_val" and (
                self.best is None or means["psnr"] > self.best["psnr"]):
            self.best = {"step": self.step, "psnr": means["psnr"],
                         "weights": {k: v.detach().clone() for k, v in self.G_eval.state_dict().items()}}
        return means

    def select_best(self) -> None:
        """Load the selected weights (``train.select: best_val``) into the evaluated generator and log
        split ``selection``: ``step`` and ``val_psnr`` of the kept evaluation."""
        if self.best is None:
            return
        self.G_eval.load_state_dict(self.best["weights"])
        self._ema_bn_step = self.step  # the kept weights carry their own BatchNorm statistics
        self.run.log(self.step, "selection", "step", self.best["step"])
        self.run.log(self.step, "selection", "val_psnr", self.best["psnr"])

    def log_convergence(self) -> dict[str, Any]:
        """The plateau rule (:mod:`experiments.convergence`) on the held-out PSNR curve (the
        validation split when the run has one), logged as split ``convergence``: ``n_points`` and
        ``on_validation`` (1/0) always; ``gain_db``, ``converged`` and ``unstable`` (1/0) when judged."""
        from .convergence import plateau

        split = self.curve_split
        curve = sorted((r["step"], r["value"]) for r in self.run.rows if r["split"] == split and r["metric"] == "psnr")
        conv = plateau([c[0] for c in curve], [c[1] for c in curve], total=self.cfg["train"]["steps"],
                       selected=self.best is not None)
        self.run.log(self.step, "convergence", "n_points", conv["n_points"])
        self.run.log(self.step, "convergence", "on_validation", float(split == "val"))
        if conv["converged"] is not None:  # too few evaluations in the window: not judged (no NaN rows)
            self.run.log(self.step, "convergence", "gain_db", conv["gain_db"])
            self.run.log(self.step, "convergence", "converged", conv["converged"])
            self.run.log(self.step, "convergence", "unstable", conv["status"] == "unstable")
        return conv

    def score_crops(self) -> dict[str, float]:
        """The final generator on the test images at two crop sizes: ``data.test_crop`` (split
        ``test``, the crops of earlier versions' curve) and the training crop ``data.crop`` (split
        ``test_crop``: the size the model was trained at) — beside :meth:`score_full_size`."""
        out = {"test": self.evaluate("test")} if self.curve_split == "val" else {}
        if self._given["test_pairs"] is None:
            pairs = build_test_pairs(self.cfg, crop=self.cfg["data"]["crop"])
            with eval_mode(self.G_eval):
                rows = evaluate_pairs(self.G_eval, pairs, self.device, self.multiple)
            means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "image"}
            for k, v in means.items():
                self.run.log(self.step, "test_crop", k, v)
            out["test_crop"] = means
        return out

    def score_full_size(self) -> dict[str, float]:
        """The final generator on the whole test images (no crops; split ``test_full``; the given
        ``test_pairs`` as they are): mean PSNR/SSIM and the set's realism (SWD ×10³,
        :func:`experiments.data.swd_realism`)."""
        from .evaluate import score_restorer

        given = self._given["test_pairs"]
        pairs = given if given is not None else build_test_pairs(self.cfg, crop=None)
        with eval_mode(self.G_eval):
            means = score_restorer(lambda x: restore(self.G_eval, x, self.device, self.multiple), pairs)[1]
        for k, v in means.items():
            self.run.log(self.step, "test_full", k, v)
        return means

    def fit(self) -> dict[str, Any]:
        """Train to ``train.steps``; returns the final test means. Writes DONE last (rank 0).

        Under torchrun the ranks leave together: after rank 0 has written the run folder every rank
        meets at a barrier, then drops every object that holds the process group (the DDP wrapper
        and its reducer) and destroys it — so no rank's process exits, and tears down gloo's worker
        threads, while another rank is still talking to it."""
        ok = False
        try:
            out = self._fit()
            ok = True
            return out
        finally:
            try:
                self._teardown(ok)
            finally:
                self._held.close()

    def _teardown(self, ok: bool) -> None:
        self.G_train, self._sync_d = getattr(self, "G", None), None
        if getattr(self, "tb", None) is not None:
            self.tb.close()
            self.run.on_log.clear()
            self.tb = None
        if not self._own_pg:
            return
        import gc

        import torch.distributed as dist

        if ok:
            dist.barrier()
        gc.collect()  # the DDP reducer held the process group; it must go before the group does
        dist.destroy_process_group()
        self._own_pg = False

    def _fit(self) -> dict[str, Any]:
        try:
            self._setup()
        except BaseException:
            if self.is_main:
                self.run.discard()  # a failed set-up (corrupt image, bad config) leaves no half-made folder
            raise
        t = self.cfg["train"]
        start, t0 = self.step, time.time()
        bar = tqdm(range(start + 1, t["steps"] + 1), initial=start, total=t["steps"], disable=not self.progress,
                   desc=self.cfg["name"], dynamic_ncols=True)
        workers = resolve_workers(self.cfg["data"]["workers"], self.device)
        loader = batch_loader(self.batches(), start + 1, t["steps"], workers, pin_memory=self.device.type == "cuda")
        for step, (x, y) in zip(bar, loader):
            self.set_lr(step)
            x, y = self.to_device(x, y)
            stats = gan_step(self.G_train, self.D_train, self.opt_g, self.opt_d, x, y, self.objective,
                             self.cfg["loss"]["gp_weight"], self.autocast, scaler=self.scaler, sync_d=self._sync_d)
            self.update_ema()
            skipped = self._skipped = (self._skipped + 1) if stats.get("amp_skipped") else 0
            if skipped > MAX_SKIPPED_STEPS:
                raise FloatingPointError(f"training diverged at step {step}: the fp16 scaler skipped {skipped} steps "
                                         f"in a row (scale {stats['amp_scale']:.3g}); last stats {stats}")
            if not skipped and not all(math.isfinite(v) for v in stats.values()):
                raise FloatingPointError(f"training diverged at step {step}: {stats}")
            self.step = step
            ckpt = step % t["ckpt_every"] == 0 or step == t["steps"]
            rngs = self.gather_rngs() if ckpt else None  # collective under DDP: every rank takes part
            diag = t["diagnostics_every"] and step % t["diagnostics_every"] == 0
            ctx = self.context(step) if diag else None
            if diag and self.monitor is not None and self.monitor.gathers(ctx):
                rows = self.monitor.collective(ctx)  # every rank joins; rank 0 gets the rows
                if self.is_main:
                    self.run.log_many(rows)
            if not self.is_main:
                continue
            if step % t["log_every"] == 0 or step == t["steps"]:
                for k, v in stats.items():
                    if math.isfinite(v):  # a step the fp16 scaler skipped logs amp_skipped=1, not NaN losses
                        self.run.log(step, "train", k, v)
                bar.set_postfix({k: f"{stats[k]:.3f}" for k in ("loss_d", "loss_g_adv", "loss_g_content") if k in stats})
            if diag:
                for cb in self.callbacks:
                    self.run.log_many(cb(ctx))
            if step % t["eval_every"] == 0 or step == t["steps"]:
                self.evaluate()
            if step % t["sample_every"] == 0 or step == t["steps"]:
                from skimage.io import imsave

                grid = sample_grid(self.G_eval, self.test_pairs, self.device, self.multiple)
                imsave(self.run.path / "samples" / f"step_{step:06d}.png", grid, check_contrast=False)
                if self.tb is not None:
                    self.tb.image("samples (degraded | restored | clean)", grid, step)
                    self.tb.information_plane(self.run.rows, step)
                    self.tb.flush()
            if ckpt:  # diagnostics, eval and samples leave the RNG untouched: rngs is still current
                self.checkpoint(rngs)
        if self.world > 1:  # DDP syncs buffers at each forward; make the final BN statistics rank 0's too
            import torch.distributed as dist

            for m in (self.G, self.D):
                for b in m.buffers():
                    dist.broadcast(b, src=0)
        summary = {"steps": self.step, "seconds_this_launch": time.time() - t0, "world_size": self.world}
        if self.is_main:
            summary["convergence"] = self.log_convergence()
            self.select_best()
            self.score_crops()
            summary["test"] = {r["metric"]: r["value"] for r in self.run.rows
                               if r["split"] == "test" and r["step"] == self.step}
            summary["test_full"] = self.score_full_size()
            self.run.finish(summary)
        return summary
