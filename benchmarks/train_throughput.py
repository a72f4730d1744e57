"""Training throughput (images/s) of the pix2pix preset and the fixed models, with and without
diagnostics, on CPU or GPU; optional AMP, channels_last and torch.compile.

    python benchmarks/train_throughput.py [--device auto] [--steps 20] [--amp bf16] [--channels-last] [--compile]

Each configuration: a few warm-up steps, then ``--steps`` timed GAN steps on synthetic batches at
the preset's crop and batch size; "with diagnostics" adds the built-in monitor at its default
period (amortised per step).
"""
from __future__ import annotations

import argparse
import contextlib
import time
import warnings

import torch

from experiments.config import resolve_config
from experiments.train import build_discriminator, build_generator, gan_step, resolve_device
from infotheory.diagnostics import detail_loss, gradient_balance
from infotheory.infoplane import InformationPlane
from models import GeneratorObjective

PRESETS = ["pix2pix", "pix2pix-small", "fix-sampling", "fix-detail", "fixed"]


def bench(preset: str, device: torch.device, steps: int, amp: str | None, channels_last: bool, compile_: bool,
          diagnostics: bool) -> float:
    cfg = resolve_config({"preset": preset, "task": "derain"})
    torch.manual_seed(0)
    G, D = build_generator(cfg).to(device), build_discriminator(cfg).to(device)
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    Gt = torch.compile(G) if compile_ else G
    og = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    obj = GeneratorObjective(cfg["loss"]["adversarial"])
    b, c = cfg["data"]["batch_size"], cfg["data"]["crop"]
    x, y = torch.rand(b, 3, c, c, device=device) * 2 - 1, torch.rand(b, 3, c, c, device=device) * 2 - 1
    if channels_last:
        x, y = x.contiguous(memory_format=torch.channels_last), y.contiguous(memory_format=torch.channels_last)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp or "")
    ac = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    every = cfg["train"]["diagnostics_every"]
    layers = [f"enc{i}" for i in range(1, cfg["model"]["depth"] + 1)]
    plane = InformationPlane(layers)

    def step() -> None:
        gan_step(Gt, D, og, od, x, y, obj, autocast=ac, scaler=scaler)

    def diag() -> None:
        plane.measure(G, x, y)
        gradient_balance(G, D, obj, x, y, warn=False)
        with torch.no_grad():
            detail_loss(x, G(x), y, levels=2)

    for _ in range(3):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    per_step = (time.perf_counter() - t) / steps
    if diagnostics:
        t = time.perf_counter()
        diag()
        sync()
        per_step += (time.perf_counter() - t) / every
    return b / per_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--amp", choices=["bf16", "fp16"], default=None,
                    help="autocast dtype; full precision is measured too, interleaved, for the 'vs fp32' column")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--presets", nargs="+", default=PRESETS)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats; medians are printed")
    a = ap.parse_args()
    dev = resolve_device(a.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device {name}; amp={a.amp}, channels_last={a.channels_last}, compile={a.compile}; torch {torch.__version__}")
    vs = f"{'vs fp32':>9}" if a.amp else ""
    print(f"{'preset':<15}{'crop':>6}{'batch':>6}{'img/s':>10}{'img/s + diag':>14}{'ratio':>8}{vs}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in a.presets:
            cfg = resolve_config({"preset": p, "task": "derain"})
            steps = max(2, a.steps // 10) if p == "pix2pix" and dev.type == "cpu" else a.steps
            runs = [(bench(p, dev, steps, a.amp, a.channels_last, a.compile, False),
                     bench(p, dev, steps, a.amp, a.channels_last, a.compile, True),
                     bench(p, dev, steps, None, a.channels_last, a.compile, False) if a.amp else 0.0)
                    for _ in range(a.repeats)]
            plain, diag, fp32 = (sorted(r[i] for r in runs)[len(runs) // 2] for i in range(3))  # interleaved medians
            speedup = f"{plain / fp32:>8.2f}x" if a.amp else ""
            print(f"{p:<15}{cfg['data']['crop']:>6}{cfg['data']['batch_size']:>6}{plain:>10.2f}{diag:>14.2f}"
                  f"{plain / diag:>8.3f}{speedup}", flush=True)

if __name__ == "__main__":
    main()
