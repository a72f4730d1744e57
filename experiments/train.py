"""The GAN trainer: one readable step (D then G), seeded, resumable, writing a tidy run folder.

Read ``gan_step`` first — it is the whole algorithm; ``Trainer`` is bookkeeping around it.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from infotheory.diagnostics import eval_mode
from infotheory.tensorboard import TensorBoardLog
from models import GeneratorObjective, PatchDiscriminator, UNetGenerator
from models.losses import content_loss, interpolates, penalty_at

from .data import (Degradation, PairedFolder, StepBatches, SyntheticPairs, batch_loader, get_images, pair_metrics,
                   resolve_workers, to_image, to_tensor)
from .runfolder import RunFolder

__all__ = ["Trainer", "gan_step", "build_generator", "build_optimizers", "compile_modules", "build_test_pairs", "restore", "resolve_device",
           "evaluate_pairs"]

Callback = Callable[["Trainer", int], Sequence[dict[str, Any]]]


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` without a GPU is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"--device must be auto, cpu or cuda, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA GPU is available")
    return torch.device(device)


def channels(cfg: dict[str, Any]) -> int:
    return 1 if cfg["data"]["mode"] == "grey" else 3


def build_generator(cfg: dict[str, Any]) -> UNetGenerator:
    c = channels(cfg)
    return UNetGenerator(c, c, **cfg["model"])


def build_discriminator(cfg: dict[str, Any]) -> PatchDiscriminator:
    c = channels(cfg)
    return PatchDiscriminator(c, c, **cfg["disc"])


def build_optimizers(G: torch.nn.Module, D: torch.nn.Module, optim: dict[str, Any],
                     device: torch.device) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and D from the ``optim`` config section. On CUDA the fused kernel (one launch per
    step instead of one per parameter group operation); on CPU the default implementation."""
    kw: dict[str, Any] = {"betas": (optim["beta1"], optim["beta2"])}
    if device.type == "cuda":
        kw["fused"] = True
    return (torch.optim.Adam(G.parameters(), lr=optim["lr_g"], **kw),
            torch.optim.Adam(D.parameters(), lr=optim["lr_d"], **kw))


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
        g_real = D(x, y).detach().float() if adv.name == "relativistic" else None
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


# ------------------------------------------------------------------------------------ data
def _center_crop(img: np.ndarray, size: int | None, multiple: int) -> np.ndarray:
    """The centre ``size``² crop, trimmed to a multiple of the model's factor; ``size=None``: the
    whole image, untrimmed (:func:`restore` pads it), so every model is scored on the same pixels."""
    if not size:
        return img
    h, w = img.shape[:2]
    th, tw = min(h, size), min(w, size)
    th, tw = th - th % multiple, tw - tw % multiple
    y0, x0 = (h - th) // 2, (w - tw) // 2
    return img[y0 : y0 + th, x0 : x0 + tw]


def build_train_set(cfg: dict[str, Any]):
    d = cfg["data"]
    if d["paired_root"]:
        return PairedFolder(d["paired_root"], d["mode"], crop=d["crop"], flip=True, seed=cfg["seed"])
    images = get_images(d["train"], d["mode"], split="train")
    deg = Degradation.from_spec(d["degradation"])
    return SyntheticPairs(images, deg, d["crop"], d["train_patches"], seed=cfg["seed"])


def build_test_pairs(cfg: dict[str, Any], source: str | None = None, limit: int | None = None,
                     crop: int | None | str = "config") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, degraded, clean) test pairs in [0, 1]. Synthetic degradations use seed [0, i] per image
    (the literature's fixed-seed protocol), so every run is scored on identical inputs."""
    d = cfg["data"]
    source = source or d["test"]
    limit = d["test_images"] if limit is None else limit
    crop = d["test_crop"] if crop == "config" else crop
    mult = 2 ** cfg["model"]["depth"]
    root = Path(source)
    if source == "Rain12" or (root.is_dir() and (root / "input").is_dir()):
        from .data.sources import shared_data_root

        base = root if root.is_dir() else (shared_data_root() or Path("missing")) / "Rain12"
        pf = PairedFolder(base, d["mode"])
        out = []
        for i in range(min(len(pf), limit or len(pf))):
            x, y, name = pf.pair(i)
            out.append((Path(name).stem, _center_crop(x, crop, mult), _center_crop(y, crop, mult)))
        return out
    # the held-out split when the set also feeds training (embedded, CBSD68), else every image
    split = "test" if source in ("embedded", d["train"]) else "all"
    images = get_images(source, d["mode"], split=split, limit=limit or None)
    deg = Degradation.from_spec(d["degradation"])
    out = []
    for i, (name, img) in enumerate(images):
        clean = _center_crop(img, crop, mult)
        degraded, _ = deg(clean, np.random.default_rng([0, i]))
        out.append((name, degraded, clean))
    return out


@torch.no_grad()
def restore(G: torch.nn.Module, degraded: np.ndarray, device: torch.device, multiple: int) -> np.ndarray:
    """Run G on one [0, 1] image of any size (reflect-padded to a multiple of 2**depth); returns [0, 1]."""
    x = to_tensor(degraded)[None].to(device)
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
    out = G(x)[..., :h, :w]
    return np.clip(to_image(out[0]), 0, 1)


def evaluate_pairs(G: torch.nn.Module, pairs: Sequence[tuple[str, np.ndarray, np.ndarray]], device: torch.device,
                   multiple: int) -> list[dict[str, Any]]:
    """Per-image PSNR/SSIM of the input and of the restored output (Y channel too for RGB)."""
    with eval_mode(G):
        return [pair_metrics(name, restore(G, x, device, multiple), x, y) for name, x, y in pairs]


def sample_grid(G: torch.nn.Module, pairs, device: torch.device, multiple: int) -> np.ndarray:
    """Rows of input | output | target, uint8."""
    rows = []
    with eval_mode(G):
        for _, x, y in pairs[:4]:
            rows.append(np.concatenate([np.clip(x, 0, 1), restore(G, x, device, multiple), y], axis=1))
    w = max(r.shape[1] for r in rows)
    rows = [np.pad(r, [(0, 0), (0, w - r.shape[1])] + [(0, 0)] * (r.ndim - 2)) for r in rows]
    return (np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)


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

    Every ``train.diagnostics_every`` steps (0 = never) the built-in diagnostics monitor
    (:mod:`experiments.monitors`) and any extra ``callbacks`` are called with (trainer, step); they
    return tidy metric rows (dicts with step, split, metric, value[, layer, estimator, params]).

    Under ``torchrun`` (WORLD_SIZE > 1) the models are wrapped in DistributedDataParallel (NCCL on
    CUDA, gloo on CPU), every rank draws its own batches (rank-seeded), and only rank 0 writes the
    run folder, evaluates, samples and runs diagnostics (on the unwrapped modules, which issue no
    collective calls, so other ranks never wait on them).
    """

    def __init__(self, cfg: dict[str, Any], out: str | Path, device: str = "auto", resume: bool = False,
                 deterministic: bool = False, progress: bool = True, callbacks: Sequence[Callback] = ()) -> None:
        self.cfg, self.run = cfg, RunFolder(out)
        self.rank, self.world, self.local_rank = dist_env()
        self.is_main = self.rank == 0
        self.device = resolve_device(device)
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
        self.multiple = 2 ** cfg["model"]["depth"]
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
                self.run.open(self.resume)
            except Exception as exc:  # noqa: BLE001 - re-raised on every rank by _agree
                err = exc
        self._agree(err)
        torch.manual_seed(cfg["seed"])
        self.G, self.D = build_generator(cfg).to(self.device), build_discriminator(cfg).to(self.device)
        if t.get("channels_last"):
            self.G, self.D = (m.to(memory_format=torch.channels_last) for m in (self.G, self.D))
        self.opt_g, self.opt_d = build_optimizers(self.G, self.D, cfg["optim"], self.device)
        lc = cfg["loss"]
        self.objective = GeneratorObjective(lc["adversarial"], lc["content"], lc["lambda_adv"], lc["lambda_content"])
        self.train_set = build_train_set(cfg)
        self.test_pairs = build_test_pairs(cfg) if self.is_main else []
        amp = resolve_amp(t["amp"], self.device)
        dtype = torch.float16 if amp == "fp16" else torch.bfloat16
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=dtype)) if amp else contextlib.nullcontext
        self.scaler = torch.amp.GradScaler(self.device.type) if amp == "fp16" else None
        state = self.run.load_checkpoint(self.device) if self.resume else None
        if state is not None:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
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
                "amp": amp or False, "channels_last": bool(t.get("channels_last")),
                "compile": bool(t.get("compile"))})

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
        fmt = torch.channels_last if self.cfg["train"].get("channels_last") else torch.contiguous_format
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
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state()
        self.run.save_checkpoint(state)

    def evaluate(self) -> dict[str, float]:
        rows = evaluate_pairs(self.G_eval, self.test_pairs, self.device, self.multiple)
        means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "image"}
        for k, v in means.items():
            self.run.log(self.step, "test", k, v)
        return means

    def log_convergence(self) -> dict[str, Any]:
        """The plateau rule (:mod:`experiments.convergence`) on the held-out PSNR curve, logged as
        split ``convergence``: ``n_points`` always; ``gain_db`` and ``converged`` (1/0) when judged."""
        from .convergence import plateau

        curve = sorted((r["step"], r["value"]) for r in self.run.rows if r["split"] == "test" and r["metric"] == "psnr")
        conv = plateau([c[0] for c in curve], [c[1] for c in curve], total=self.cfg["train"]["steps"])
        self.run.log(self.step, "convergence", "n_points", conv["n_points"])
        if conv["converged"] is not None:  # too few evaluations in the window: not judged (no NaN rows)
            self.run.log(self.step, "convergence", "gain_db", conv["gain_db"])
            self.run.log(self.step, "convergence", "converged", conv["converged"])
        return conv

    def score_full_size(self) -> dict[str, float]:
        """The final generator on the whole test images (no crops; split ``test_full``): mean PSNR/SSIM
        and the set's realism (SWD ×10³, :func:`experiments.data.swd_realism`)."""
        from .evaluate import score_restorer

        pairs = build_test_pairs(self.cfg, crop=None)
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
            self._teardown(ok)

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
            if diag and self.monitor is not None and self.monitor.gathers(self):
                rows = self.monitor.collective(self, step)  # every rank joins; rank 0 gets the rows
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
                    self.run.log_many(cb(self, step))
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
            summary["test"] = {r["metric"]: r["value"] for r in self.run.rows
                               if r["split"] == "test" and r["step"] == self.step}
            summary["convergence"] = self.log_convergence()
            summary["test_full"] = self.score_full_size()
            self.run.finish(summary)
        return summary
