"""Cost of training-time diagnostics: a training step with all diagnostics (information plane,
gradient balance, detail loss) at the default period vs a step without, measured side by side.

    python benchmarks/overhead.py [--steps 200] [--preset pix2pix-small] [--device auto]

Target: ≤ 1.10× (printed as a ratio, not asserted).
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings

from infoflow.experiments.config import DEFAULTS, resolve_config
from infoflow.experiments.train import Trainer


def run(preset: str, steps: int, every: int, device: str) -> float:
    sets = [f"train.steps={steps}", f"train.diagnostics_every={every}", f"train.eval_every={10**9}",
            f"train.ckpt_every={10**9}", f"train.sample_every={10**9}", f"train.log_every={10**9}",
            "data.test_images=1"]
    cfg = resolve_config({"preset": preset, "task": "denoise"}, sets)
    out = tempfile.mkdtemp(prefix="infoflow-overhead-")
    try:
        tr = Trainer(cfg, out, device=device, progress=False)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tr.fit()
        return time.perf_counter() - t
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--preset", default="pix2pix-small")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--every", type=int, default=DEFAULTS["train"]["diagnostics_every"])
    a = ap.parse_args()
    run(a.preset, 5, 0, a.device)  # warm-up
    base, diag = [], []
    for _ in range(3):  # interleaved, so drifts in machine load hit both sides alike
        base.append(run(a.preset, a.steps, 0, a.device))
        diag.append(run(a.preset, a.steps, a.every, a.device))
    base, diag = sorted(base)[1], sorted(diag)[1]  # medians
    print(f"{a.preset}, {a.steps} steps, diagnostics every {a.every} steps on {a.device}:")
    print(f"  without diagnostics {base:.2f} s ({base / a.steps * 1e3:.1f} ms/step)")
    print(f"  with diagnostics    {diag:.2f} s ({diag / a.steps * 1e3:.1f} ms/step)")
    print(f"  overhead ratio      {diag / base:.3f}×  (target ≤ 1.10×)")


if __name__ == "__main__":
    main()
