"""The trainer: a loop of :func:`~experiments.training.step.gan_step` and hooks
(:mod:`experiments.training.callbacks`), seeded, resumable, writing a tidy run folder."""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from infoflow.infotheory.diagnostics import eval_mode
from infoflow.infotheory.tensorboard import TensorBoardLog
from infoflow.models import GeneratorObjective

from ..builders import (build_discriminator, build_generator, build_optimizers, channels, resolve_channels_last,
                        resolve_device)
from ..data import (StepBatches, batch_loader, build_test_pairs, build_train_set, build_val_pairs, check_test_pairs,
                    check_train_set, resolve_workers)
from ..evaluate import evaluate_pairs, restore
from ..runfolder import RunFolder
from .callbacks import Callback, default_callbacks
from .context import MetricCallback, StepContext, check_metric_callback
from .state import TrainState
from .step import average_gradients, check_step, compile_modules, ema_warmup, gan_step, resolve_amp

__all__ = ["Trainer", "dist_env", "EMA_BN_STEP0"]

TestPairs = Sequence[tuple[str, np.ndarray, np.ndarray]]
EMA_BN_STEP0 = 2**40  # the EMA's BatchNorm batches are those of "steps" 2**40, 2**40 + 1, ... (never trained on)


def dist_env() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from the torchrun environment; (0, 1, 0) otherwise."""
    return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))


_PARTS = ("batches", "update", "final scores")  # the trainer's own entries in ``seconds_by_part``


def _part_names(hooks: list[Any]) -> list[str]:
    """A name per hook for the DONE record's ``seconds_by_part``: its class name, numbered when
    two hooks share one (two user callbacks of the same class), prefixed ``hook`` when it is one
    of the trainer's own parts (a callback class named ``update`` must not add its time to it)."""
    names = [(f"hook {n}" if n in _PARTS else n) for n in (type(h).__name__ for h in hooks)]
    return [f"{n} {names[:i].count(n) + 1}" if names.count(n) > 1 else n for i, n in enumerate(names)]


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
                 deterministic: bool = False, progress: bool = True,
                 callbacks: Sequence[MetricCallback | Callback] = (), *,
                 G: torch.nn.Module | None = None, D: torch.nn.Module | None = None, train_set: Any = None,
                 test_pairs: TestPairs | None = None, multiple: int | None = None) -> None:
        for name, m in (("G", G), ("D", D)):
            if m is not None and not isinstance(m, torch.nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
        for cb in callbacks:
            if not isinstance(cb, Callback):
                check_metric_callback(cb)
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
        self.resume, self.progress = resume, progress and self.is_main
        # functions of a StepContext (tidy rows at diagnostic steps) and hook objects (every step)
        self.callbacks = [cb for cb in callbacks if not isinstance(cb, Callback)]
        self.user_hooks = [cb for cb in callbacks if isinstance(cb, Callback)]
        self.hooks: list[Callback] = []
        self._resumed_state: dict[str, Any] | None = None
        self.monitor = None
        if cfg["train"]["diagnostics_every"]:
            from ..monitors import DiagnosticsMonitor

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
        self.state: TrainState | None = None  # built in _setup
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
        """Everything before the first step, in order: the run folder, the models and data, a resumed
        run's state, the EMA, the parallel wrappers, the logs."""
        self._open_run()
        torch.manual_seed(self.cfg["seed"])
        self._build()
        self.state.ema = self._build_ema()
        state = self.run.load_checkpoint(self.device) if self.resume else None
        if state is not None:
            self._restore(state)
        elif self.world > 1:
            torch.manual_seed(self.cfg["seed"] * 1000 + self.rank)  # rank-seeded dropout / noise draws
        self._resumed_state = state
        self._ema_bn_inputs: list[torch.Tensor] | None = None
        self._ema_bn_step = self.step if state is not None else -1
        if self.cfg["train"]["select"] == "best_val" and self.is_main and not self.val_pairs:
            raise ValueError("train.select: best_val selects on the validation split, and this run has none "
                             "(data.val_images is 0, or the Trainer was given its data): use train.select: last")
        self._wrap()
        self._open_logs()

    def _open_run(self) -> None:
        """The process group, the run folder's lock, and the folder opened (fresh or resumed); rank 0's
        error is raised on every rank."""
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

    def _build(self) -> None:
        """G, D (given or from the config), their optimisers and objective, the data, AMP."""
        cfg, given = self.cfg, self._given
        G = given["G"] if given["G"] is not None else build_generator(cfg)
        D = given["D"] if given["D"] is not None else build_discriminator(cfg)
        G, D = G.to(self.device), D.to(self.device)
        if self.channels_last:
            G, D = (m.to(memory_format=torch.channels_last) for m in (G, D))
        self.state = TrainState(G, D, *build_optimizers(G, D, cfg["optim"], self.device))
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
        self.amp = resolve_amp(cfg["train"]["amp"], self.device)
        dtype = torch.float16 if self.amp == "fp16" else torch.bfloat16
        self.autocast = (lambda: torch.autocast(self.device.type, dtype=dtype)) if self.amp else contextlib.nullcontext
        self.state.scaler = torch.amp.GradScaler(self.device.type) if self.amp == "fp16" else None

    def _build_ema(self) -> Any:
        """``train.ema``: the exponential moving average of G that is evaluated, sampled and analysed
        in place of G (BasicSR / StyleGAN practice), or None."""
        if not self.cfg["train"]["ema"]:
            return None
        from torch.optim.swa_utils import AveragedModel

        return AveragedModel(self.G, multi_avg_fn=ema_warmup(self.cfg["train"]["ema"]))

    # the training state's parts, by their usual names
    G = property(lambda self: self.state.G)
    D = property(lambda self: self.state.D)
    opt_g = property(lambda self: self.state.opt_g)
    opt_d = property(lambda self: self.state.opt_d)
    scaler = property(lambda self: self.state.scaler)
    G_ema = property(lambda self: self.state.ema)

    @property
    def step(self) -> int:
        """The last step taken (0 before the first)."""
        return self.state.step if self.state is not None else 0

    @step.setter
    def step(self, value: int) -> None:
        self.state.step = value

    def train_state(self) -> dict[str, Any]:
        """:meth:`TrainState.state_dict` (the EMA's BatchNorm statistics refreshed first) — what a
        checkpoint holds beside the RNG states and the callbacks' state."""
        if self.G_ema is not None:
            self.G_eval  # noqa: B018 - refreshes the EMA's BatchNorm statistics if stale
        return self.state.state_dict()

    def _restore(self, state: dict[str, Any]) -> None:
        """A resumed run's training state (its EMA's BatchNorm statistics were refreshed at that step)
        and its RNG states, from its checkpoint."""
        self.state.load_state_dict(state, self.run.ckpt_path)
        rngs = state.get("rng_cpu_ranks")
        torch.set_rng_state((rngs[self.rank] if rngs and len(rngs) == self.world else state["rng_cpu"]).cpu())
        if "rng_cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"].cpu())

    def _wrap(self) -> None:
        """The modules the step trains: G under DDP with D's gradients averaged explicitly (see
        :func:`gan_step`) when there are several ranks; both through torch.compile under ``train.compile``."""
        self.G_train, self._sync_d = self.G, None
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G_train = DDP(self.G, device_ids=ids)
            self._sync_d = lambda: average_gradients(self.D, self.world)
        self.D_train = self.D
        if self.cfg["train"].get("compile"):
            self.G_train, self.D_train = compile_modules(self.G_train, self.D, self.objective.adv.needs_gp)

    def _open_logs(self) -> None:
        """Rank 0: the metrics so far, TensorBoard (a view of the tidy rows), the config and manifest."""
        self.tb = None
        if not self.is_main:
            return
        cfg, t, given = self.cfg, self.cfg["train"], self._given
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
            "amp": self.amp or False, "channels_last": self.channels_last,
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
        """Rank 0 writes metrics then the checkpoint (atomically): :meth:`train_state`, the step, the
        RNG states (``rngs`` from :meth:`gather_rngs`) and every hook's ``state_dict``."""
        rngs = rngs if rngs is not None else self.gather_rngs()
        if not self.is_main:
            return
        state = {**self.train_state(), "rng_cpu": rngs[0], "rng_cpu_ranks": rngs}
        for hook in self.hooks:
            state.update(hook.state_dict())
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
        return means

    def load_evaluated(self, weights: dict[str, torch.Tensor]) -> None:
        """Load ``weights`` (a state dict with its own BatchNorm statistics) into the evaluated generator."""
        self.G_eval.load_state_dict(weights)
        self._ema_bn_step = self.step  # the kept weights carry their own BatchNorm statistics

    def log_convergence(self, selected: bool = False, best: float | None = None) -> dict[str, Any]:
        """The plateau rule (:mod:`experiments.convergence`) on the held-out PSNR curve (the
        validation split when the run has one), logged as split ``convergence``: ``n_points`` and
        ``on_validation`` (1/0) always; ``gain_db``, ``converged`` and ``unstable`` (1/0) when judged."""
        from ..convergence import plateau

        split = self.curve_split
        curve = sorted((r["step"], r["value"]) for r in self.run.rows if r["split"] == split and r["metric"] == "psnr")
        conv = plateau([c[0] for c in curve], [c[1] for c in curve], total=self.cfg["train"]["steps"],
                       selected=selected, best=best)
        self.run.log(self.step, "convergence", "n_points", conv["n_points"])
        self.run.log(self.step, "convergence", "on_validation", float(split == "val"))
        if conv["converged"] is not None:  # too few evaluations in the window: not judged (no NaN rows)
            self.run.log(self.step, "convergence", "gain_db", conv["gain_db"])
            self.run.log(self.step, "convergence", "converged", conv["converged"])
            self.run.log(self.step, "convergence", "unstable", conv["status"] == "unstable")
            if best is not None:  # how far the fitted end of the curve stays below the kept model
                self.run.log(self.step, "convergence", "below_peak_db", conv["below_peak_db"])
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
        from ..evaluate import score_restorer

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
        self.G_train, self._sync_d = self.state.G if self.state is not None else None, None
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
        """The loop: set up, then for each step one update and the hooks; then the final scores.
        The DONE record's ``seconds_by_part`` says where this launch's time went: waiting for
        batches, the updates, each hook (its steps and its end) and the final scores, in seconds
        (on a GPU, queued kernels count where something waits for them)."""
        try:
            self._setup()
        except BaseException:
            if self.is_main:
                self.run.discard()  # a failed set-up (corrupt image, bad config) leaves no half-made folder
            raise
        start, t0 = self.step, time.time()
        bar = tqdm(range(start + 1, self.total_steps + 1), initial=start, total=self.total_steps,
                   disable=not self.progress, desc=self.cfg["name"], dynamic_ncols=True)
        self.hooks = default_callbacks(self, bar, self.callbacks, self.user_hooks)
        for hook in self.hooks:
            if self._resumed_state is not None:
                hook.load_state_dict(self._resumed_state)
            hook.on_fit_start(self)
        self._resumed_state = None
        workers = resolve_workers(self.cfg["data"]["workers"], self.device)
        loader = batch_loader(self.batches(), start + 1, self.total_steps, workers,
                              pin_memory=self.device.type == "cuda")
        names = _part_names(self.hooks)
        spent = dict.fromkeys([*_PARTS[:2], *names, _PARTS[2]], 0.0)
        clock = time.perf_counter
        waited = clock()
        for step, (x, y) in zip(bar, loader):
            t = clock()
            spent["batches"] += t - waited  # waiting for the next batch (and the progress bar)
            stats = self.train_step(step, x, y)
            spent["update"] += clock() - t
            for hook, name in zip(self.hooks, names):
                t = clock()
                hook.on_step_end(self, step, stats)
                spent[name] += clock() - t
            waited = clock()
        self._sync_buffers()
        summary = {"steps": self.step, "seconds_this_launch": time.time() - t0, "world_size": self.world}
        if self.is_main:
            for hook, name in zip(self.hooks, names):
                t = clock()
                hook.on_fit_end(self, summary)
                spent[name] += clock() - t
            t = clock()
            self.score_crops()
            summary["test"] = {r["metric"]: r["value"] for r in self.run.rows
                               if r["split"] == "test" and r["step"] == self.step}
            summary["test_full"] = self.score_full_size()
            spent["final scores"] += clock() - t
            summary["seconds_by_part"] = {k: round(v, 3) for k, v in spent.items()}
            self.run.finish(summary)
        return summary

    def train_step(self, step: int, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """One update at ``step`` (its learning rate, :func:`gan_step`, the EMA, the divergence checks)."""
        self.set_lr(step)
        x, y = self.to_device(x, y)
        stats = gan_step(self.G_train, self.D_train, self.opt_g, self.opt_d, x, y, self.objective,
                         self.cfg["loss"]["gp_weight"], self.autocast, scaler=self.scaler, sync_d=self._sync_d)
        self.update_ema()
        self._skipped = check_step(stats, step, self._skipped)
        self.step = step
        return stats

    @property
    def total_steps(self) -> int:
        return int(self.cfg["train"]["steps"])

    def _sync_buffers(self) -> None:
        """Under DDP: the final BatchNorm statistics made rank 0's on every rank (DDP syncs buffers at
        each forward, so the last ones may differ)."""
        if self.world == 1:
            return
        import torch.distributed as dist

        for m in (self.G, self.D):
            for b in m.buffers():
                dist.broadcast(b, src=0)
