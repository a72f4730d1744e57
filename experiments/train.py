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

from models import GeneratorObjective, PatchDiscriminator, UNetGenerator, gradient_penalty

from .data import Degradation, PairedFolder, SyntheticPairs, get_images, psnr, ssim, to_image, to_tensor
from .runfolder import RunFolder

__all__ = ["Trainer", "gan_step", "build_generator", "build_test_pairs", "restore", "resolve_device",
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


# ------------------------------------------------------------------------------------ the step
def gan_step(G: torch.nn.Module, D: torch.nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
             x: torch.Tensor, y: torch.Tensor, objective: GeneratorObjective, gp_weight: float = 10.0,
             autocast: Callable[[], Any] = contextlib.nullcontext) -> dict[str, float]:
    """One conditional-GAN update on a batch (x degraded, y clean), both (B, C, H, W) in [-1, 1]."""
    adv = objective.adv
    # 1) discriminator: real pairs (x, y) up, fake pairs (x, G(x)) down
    with autocast():
        fake = G(x)
        d_real, d_fake = D(x, y), D(x, fake.detach())
        loss_d = adv.d_loss(d_real.float(), d_fake.float())
    if adv.needs_gp:
        loss_d = loss_d + gradient_penalty(D, x, y, fake.float(), gp_weight)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    # 2) generator: fool the (updated) discriminator and stay close to the target
    with autocast():
        d_fake = D(x, fake)
        d_real = D(x, y).detach() if adv.name == "relativistic" else None
        terms = objective.terms(d_fake.float(), None if d_real is None else d_real.float(), fake.float(), y)
        loss_g = terms["adversarial"] + terms["content"]
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "loss_g_adv": terms["adversarial"].item(),
            "loss_g_content": terms["content"].item(), "d_real": d_real_mean(D, d_real, d_fake),
            "d_fake": torch.sigmoid(d_fake.detach().float()).mean().item()}


def d_real_mean(D: torch.nn.Module, d_real: torch.Tensor | None, d_fake: torch.Tensor) -> float:
    return float("nan") if d_real is None else torch.sigmoid(d_real.float()).mean().item()


# ------------------------------------------------------------------------------------ data
def _center_crop(img: np.ndarray, size: int | None, multiple: int) -> np.ndarray:
    h, w = img.shape[:2]
    th, tw = (min(h, size), min(w, size)) if size else (h, w)
    th, tw = th - th % multiple, tw - tw % multiple
    y0, x0 = (h - th) // 2, (w - tw) // 2
    return img[y0 : y0 + th, x0 : x0 + tw]


def build_train_set(cfg: dict[str, Any]):
    d = cfg["data"]
    if d["paired_root"]:
        return PairedFolder(d["paired_root"], d["mode"], crop=d["crop"], flip=True, seed=cfg["seed"])
    images = get_images(d["train"], d["mode"], split="train")
    deg = Degradation(d["degradation"]["kind"], d["degradation"].get("params") or {})
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
    deg = Degradation(d["degradation"]["kind"], d["degradation"].get("params") or {})
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
    was_training = G.training
    G.eval()
    rows = []
    try:
        for name, x, y in pairs:
            out = restore(G, x, device, multiple)
            r = {"image": name, "psnr": psnr(out, y), "ssim": ssim(out, y), "psnr_input": psnr(x, y),
                 "ssim_input": ssim(x, y)}
            if y.ndim == 3:
                r.update(psnr_y=psnr(out, y, y_channel=True), ssim_y=ssim(out, y, y_channel=True),
                         psnr_y_input=psnr(x, y, y_channel=True))
            rows.append(r)
    finally:
        G.train(was_training)
    return rows


def sample_grid(G: torch.nn.Module, pairs, device: torch.device, multiple: int) -> np.ndarray:
    """Rows of input | output | target, uint8."""
    G.eval()
    rows = []
    for _, x, y in pairs[:4]:
        out = restore(G, x, device, multiple)
        rows.append(np.concatenate([np.clip(x, 0, 1), out, y], axis=1))
    G.train()
    w = max(r.shape[1] for r in rows)
    rows = [np.pad(r, [(0, 0), (0, w - r.shape[1])] + [(0, 0)] * (r.ndim - 2)) for r in rows]
    return (np.concatenate(rows, axis=0) * 255).round().astype(np.uint8)


# ------------------------------------------------------------------------------------ trainer
class Trainer:
    """Trains ``cfg`` into the run folder ``out``.

    Every ``train.diagnostics_every`` steps (0 = never) the built-in diagnostics monitor
    (:mod:`experiments.monitors`) and any extra ``callbacks`` are called with (trainer, step); they
    return tidy metric rows (dicts with step, split, metric, value[, layer, estimator, params]).
    """

    def __init__(self, cfg: dict[str, Any], out: str | Path, device: str = "auto", resume: bool = False,
                 deterministic: bool = False, progress: bool = True, callbacks: Sequence[Callback] = ()) -> None:
        self.cfg, self.run = cfg, RunFolder(out)
        self.device = resolve_device(device)
        self.resume, self.progress, self.callbacks = resume, progress, list(callbacks)
        if cfg["train"]["diagnostics_every"]:
            from .monitors import DiagnosticsMonitor

            self.callbacks.insert(0, DiagnosticsMonitor(cfg))
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        self.deterministic = deterministic
        self.multiple = 2 ** cfg["model"]["depth"]
        self.step = 0

    def _setup(self) -> None:
        cfg = self.cfg
        self.run.open(self.resume)
        torch.manual_seed(cfg["seed"])
        self.G, self.D = build_generator(cfg).to(self.device), build_discriminator(cfg).to(self.device)
        o = cfg["optim"]
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=o["lr_g"], betas=(o["beta1"], o["beta2"]))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=o["lr_d"], betas=(o["beta1"], o["beta2"]))
        lc = cfg["loss"]
        self.objective = GeneratorObjective(lc["adversarial"], lc["content"], lc["lambda_adv"], lc["lambda_content"])
        self.train_set = build_train_set(cfg)
        self.test_pairs = build_test_pairs(cfg)
        use_amp = cfg["train"]["amp"] and self.device.type == "cuda"
        self.autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext
        state = self.run.load_checkpoint(self.device) if self.resume else None
        if state is not None:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            torch.set_rng_state(state["rng_cpu"].cpu())
            if "rng_cuda" in state and self.device.type == "cuda":
                torch.cuda.set_rng_state(state["rng_cuda"].cpu())
            self.step = int(state["step"])
        self.run.load_metrics(self.step)
        self.run.write_config(cfg)
        self.run.write_manifest(str(self.device), cfg["seed"], {"resumed_from_step": self.step,
                                                                "deterministic": self.deterministic})

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of ``step``: a pure function of (seed, step), so resume sees the same data."""
        rng = np.random.default_rng([self.cfg["seed"], 1, step])
        idx = rng.integers(len(self.train_set), size=self.cfg["data"]["batch_size"])
        if isinstance(self.train_set, PairedFolder):
            self.train_set.epoch = step
        xs, ys = zip(*(self.train_set[int(i)] for i in idx))
        return torch.stack(xs).to(self.device), torch.stack(ys).to(self.device)

    def checkpoint(self) -> None:
        state = {"G": self.G.state_dict(), "D": self.D.state_dict(), "opt_g": self.opt_g.state_dict(),
                 "opt_d": self.opt_d.state_dict(), "step": self.step, "rng_cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state()
        self.run.save_checkpoint(state)

    def evaluate(self) -> dict[str, float]:
        rows = evaluate_pairs(self.G, self.test_pairs, self.device, self.multiple)
        means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "image"}
        for k, v in means.items():
            self.run.log(self.step, "test", k, v)
        return means

    def fit(self) -> dict[str, Any]:
        """Train to ``train.steps``; returns the final test means. Writes DONE last."""
        self._setup()
        t = self.cfg["train"]
        start, t0 = self.step, time.time()
        bar = tqdm(range(start + 1, t["steps"] + 1), initial=start, total=t["steps"], disable=not self.progress,
                   desc=self.cfg["name"], dynamic_ncols=True)
        for step in bar:
            x, y = self.batch(step)
            stats = gan_step(self.G, self.D, self.opt_g, self.opt_d, x, y, self.objective,
                             self.cfg["loss"]["gp_weight"], self.autocast)
            if not all(math.isfinite(v) for k, v in stats.items() if k != "d_real"):
                raise FloatingPointError(f"training diverged at step {step}: {stats}")
            self.step = step
            if step % t["log_every"] == 0 or step == t["steps"]:
                for k, v in stats.items():
                    if math.isfinite(v):
                        self.run.log(step, "train", k, v)
                bar.set_postfix({k: f"{stats[k]:.3f}" for k in ("loss_d", "loss_g_adv", "loss_g_content")})
            if t["diagnostics_every"] and step % t["diagnostics_every"] == 0:
                for cb in self.callbacks:
                    self.run.log_many(cb(self, step))
            if step % t["eval_every"] == 0 or step == t["steps"]:
                self.evaluate()
            if step % t["sample_every"] == 0 or step == t["steps"]:
                from skimage.io import imsave

                imsave(self.run.path / "samples" / f"step_{step:06d}.png",
                       sample_grid(self.G, self.test_pairs, self.device, self.multiple), check_contrast=False)
            if step % t["ckpt_every"] == 0 or step == t["steps"]:
                self.checkpoint()
        final = {r["metric"]: r["value"] for r in self.run.rows if r["split"] == "test" and r["step"] == self.step}
        summary = {"steps": self.step, "seconds_this_launch": time.time() - t0, "test": final}
        self.run.finish(summary)
        return summary
