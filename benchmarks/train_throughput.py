"""Training throughput (images/s): infoflow's GAN step against a textbook pix2pix step on the same
modules, measured in the same run, and what the built-in diagnostics cost.

    python benchmarks/train_throughput.py [--device auto] [--steps 30] [--modes fp32 bf16 bf16+cl bf16+cl+compile]

What each side computes (equal work: same G and D weights at the start, same batch, same loss):

* **textbook** — the step of the pix2pix reference code, written plainly: G(x); D on the fake pair
  (detached) and the real pair, BCE, backward, ``Adam.step``; D on the fake pair again, BCE +
  100·L1, backward, ``Adam.step`` — three D forwards, two Adam steps, fp32, contiguous tensors,
  eager, ``torch.optim.Adam`` with its defaults, no diagnostics.
* **infoflow** — :func:`experiments.train.gan_step` with the trainer's own set-up for the mode:
  :func:`~experiments.builders.build_optimizers` (fused Adam), autocast (``bf16``),
  channels_last (``+cl``), :func:`~experiments.train.compile_modules` (``+compile``). The same three
  D forwards and two Adam steps, plus the logged statistics (one device sync per step).
  Both sides use the vanilla (BCE) adversarial loss + 100·L1 whatever the preset's own loss is.
* **+ diag** — infoflow's step plus the trainer's diagnostics monitor (information plane, gradient
  balance, detail loss on the probe batch) amortised over ``diagnostics_every`` steps (50).

Columns: images/s of each side (median of ``--repeats`` interleaved repeats), their ratio
(``speed-up``: infoflow ÷ textbook) and the diagnostics' cost in % of the step time. Threads: all of
the process's (``torch.get_num_threads()``, printed); on a GPU the CPU only launches kernels.
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from infoflow.experiments.builders import build_discriminator, build_generator, build_optimizers, resolve_device
from infoflow.experiments.config import resolve_config
from infoflow.experiments.monitors import DiagnosticsMonitor
from infoflow.experiments.train import StepContext, compile_modules, gan_step
from infoflow.models import GeneratorObjective

PRESETS = ["pix2pix", "pix2pix-small", "fix-sampling", "fix-detail", "fixed"]
MODES = {"fp32": (None, False, False), "fp32+cl": (None, True, False), "bf16": ("bf16", False, False),
         "bf16+cl": ("bf16", True, False), "bf16+cl+compile": ("bf16", True, True)}
EQUAL_LOSS = ["loss.adversarial=vanilla", "loss.content=l1", "loss.lambda_adv=1", "loss.lambda_content=100"]


def textbook_step(G: torch.nn.Module, D: torch.nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                  x: torch.Tensor, y: torch.Tensor) -> None:
    """pix2pix's update as its reference code writes it (BCE + 100·L1, D then G)."""
    fake = G(x)
    pred_fake, pred_real = D(x, fake.detach()), D(x, y)
    loss_d = 0.5 * (F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake))
                    + F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real)))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    pred_fake = D(x, fake)
    loss_g = F.binary_cross_entropy_with_logits(pred_fake, torch.ones_like(pred_fake)) + 100.0 * F.l1_loss(fake, y)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()


def _setup(preset: str, device: torch.device) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor]:
    cfg = resolve_config({"preset": preset, "task": "derain"}, EQUAL_LOSS)
    b, c = cfg["data"]["batch_size"], cfg["data"]["crop"]
    g = torch.Generator().manual_seed(1)
    x, y = (torch.rand(2, b, 3, c, c, generator=g) * 2 - 1).to(device)
    return cfg, x, y


def make_textbook(preset: str, device: torch.device) -> Callable[[], None]:
    cfg, x, y = _setup(preset, device)
    torch.manual_seed(0)
    G, D = build_generator(cfg).to(device), build_discriminator(cfg).to(device)
    o = cfg["optim"]
    opt_g = torch.optim.Adam(G.parameters(), lr=o["lr_g"], betas=(o["beta1"], o["beta2"]))
    opt_d = torch.optim.Adam(D.parameters(), lr=o["lr_d"], betas=(o["beta1"], o["beta2"]))
    return lambda: textbook_step(G, D, opt_g, opt_d, x, y)


def make_infoflow(preset: str, device: torch.device, mode: str) -> tuple[Callable[[], None], Callable[[], None], int]:
    """(step, diagnostics call, diagnostics period) with the trainer's set-up for ``mode``."""
    amp, channels_last, compile_ = MODES[mode]
    cfg, x, y = _setup(preset, device)
    torch.manual_seed(0)
    G, D = build_generator(cfg).to(device), build_discriminator(cfg).to(device)
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        x, y = x.contiguous(memory_format=torch.channels_last), y.contiguous(memory_format=torch.channels_last)
    opt_g, opt_d = build_optimizers(G, D, cfg["optim"], device)
    obj = GeneratorObjective(cfg["loss"]["adversarial"], cfg["loss"]["content"], cfg["loss"]["lambda_adv"],
                             cfg["loss"]["lambda_content"])
    Gt, Dt = compile_modules(G, D, obj.adv.needs_gp) if compile_ else (G, D)
    ac = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    monitor = DiagnosticsMonitor(cfg)
    ctx = StepContext(step=0, G=G, D=D, objective=obj, train_set=list(zip(x.float().cpu(), y.float().cpu())) * 4,
                      device=device, cfg=cfg, run_dir=Path("."))

    def step() -> None:
        gan_step(Gt, Dt, opt_g, opt_d, x, y, obj, autocast=ac)

    return step, lambda: monitor(ctx), cfg["train"]["diagnostics_every"]


def per_call(fn: Callable[[], None], calls: int, sync: Callable[[], None]) -> float:
    """Seconds per call of ``fn`` over ``calls`` calls (after the caller's warm-up)."""
    sync()
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return (time.perf_counter() - t) / calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per repeat (pix2pix on CPU: a tenth)")
    ap.add_argument("--modes", nargs="+", choices=list(MODES), default=None,
                    help="default: all on CUDA; fp32 and fp32+cl on CPU (channels_last is the trainer's CPU default)")
    ap.add_argument("--presets", nargs="+", default=PRESETS)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are printed")
    a = ap.parse_args()
    dev = resolve_device(a.device)
    modes = a.modes or (list(MODES) if dev.type == "cuda" else ["fp32", "fp32+cl"])
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"device {name}; {torch.get_num_threads()} CPU threads; torch {torch.__version__}; "
          f"loss BCE + 100·L1 on both sides; {a.repeats} interleaved repeats (medians)")
    print(f"{'preset':<15}{'crop':>5}{'batch':>6}  {'mode':<17}{'textbook img/s':>15}{'infoflow img/s':>15}"
          f"{'speed-up':>9}{'diag cost':>10}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in a.presets:
            cfg = resolve_config({"preset": p, "task": "derain"})
            b = cfg["data"]["batch_size"]
            steps = max(2, a.steps // 10) if p == "pix2pix" and dev.type == "cpu" else a.steps
            text = make_textbook(p, dev)
            ours = {m: make_infoflow(p, dev, m) for m in modes}
            for fn in [text, *(o[0] for o in ours.values())]:  # warm-up (compilation, cuDNN autotuning)
                for _ in range(3):
                    fn()
            for o in ours.values():
                o[1]()
            t_text: list[float] = []
            t_ours: dict[str, list[float]] = {m: [] for m in modes}
            t_diag: dict[str, list[float]] = {m: [] for m in modes}
            for _ in range(a.repeats):  # interleaved: drifts in clock or load hit every column alike
                t_text.append(per_call(text, steps, sync))
                for m, (step, diag, every) in ours.items():
                    t_ours[m].append(per_call(step, steps, sync))
                    t_diag[m].append(per_call(diag, 1, sync) / every)
            tt = statistics.median(t_text)
            for m in modes:
                to, td = statistics.median(t_ours[m]), statistics.median(t_diag[m])
                print(f"{p:<15}{cfg['data']['crop']:>5}{b:>6}  {m:<17}{b / tt:>15.1f}{b / to:>15.1f}"
                      f"{tt / to:>8.2f}x{100 * td / to:>9.1f}%", flush=True)


if __name__ == "__main__":
    main()
