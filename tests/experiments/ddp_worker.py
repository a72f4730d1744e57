"""Launched by test_ddp.py under ``torchrun --nproc_per_node=2``: trains a tiny GAN with DDP (gloo)
and saves this rank's final generator weights next to (not inside) the run folder."""
import sys
from pathlib import Path

import torch

from experiments.config import resolve_config
from experiments.train import Trainer

out = Path(sys.argv[1])
torch.set_num_threads(1)
cfg = resolve_config({"task": "denoise"}, [
    "model.depth=2", "model.ngf=4", "disc.ndf=4", "disc.n_layers=2", "data.crop=16", "data.batch_size=2",
    "data.train_patches=32", "data.test_images=1", "data.test_crop=32", "train.steps=6", "train.log_every=1",
    "train.eval_every=3", "train.ckpt_every=3", "train.sample_every=6", "train.diagnostics_every=3",
    "loss.adversarial=" + (sys.argv[2] if len(sys.argv) > 2 else "vanilla"),
    "diagnostics.gather_ranks=" + (sys.argv[3] if len(sys.argv) > 3 else "false"), "diagnostics.probe_size=4",
    "diagnostics.n_per_image=4", "train.amp=" + (sys.argv[4] if len(sys.argv) > 4 else "false")])
tr = Trainer(cfg, out / "run", device="cpu", progress=False)
tr.fit()
torch.save(tr.G.state_dict(), out / f"rank{tr.rank}.pt")
