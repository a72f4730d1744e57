"""Launched by test_ddp.py under ``torchrun --nproc_per_node=2``: trains a tiny GAN with DDP (gloo)
and saves this rank's final generator and discriminator weights next to (not inside) the run folder.

argv: out loss gather amp [same]. ``same``: every rank trains on rank 0's batches with dropout off,
so two ranks must give exactly the single-process result (the equivalence test)."""
import sys
from pathlib import Path

import torch

from infoflow.experiments.data import StepBatches
from infoflow.experiments.train import Trainer

sys.path.insert(0, str(Path(__file__).parent))
from ddp_config import tiny_config  # noqa: E402

out = Path(sys.argv[1])
torch.set_num_threads(1)
same = len(sys.argv) > 5 and sys.argv[5] == "same"
cfg = tiny_config(*sys.argv[2:5], same=same)


class SameData(Trainer):
    def batches(self):  # the single-process run's batches on every rank
        return StepBatches(self.train_set, self.cfg["data"]["batch_size"], self.cfg["seed"], rank=None)


tr = (SameData if same else Trainer)(cfg, out / "run", device="cpu", progress=False)
tr.fit()
torch.save({"G": tr.G.state_dict(), "D": tr.D.state_dict()}, out / f"rank{tr.rank}.pt")
