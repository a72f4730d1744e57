"""Two CPU processes under torchrun (gloo): identical weights on both ranks, run folder written once."""
import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


WORKER = Path(__file__).with_name("ddp_worker.py")


def _launch(out: Path, *args: str) -> None:
    """torchrun with two CPU ranks; no retry: a failure is a failure."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(WORKER), str(out), *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("loss,gather,amp", [("vanilla", "true", "false"), ("wgangp", "false", "fp16")])
def test_two_rank_gloo_training(tmp_path, loss, gather, amp):
    """The fp16 variant: each rank's GradScaler sees the same all-reduced gradients, so both skip
    the same overflowing steps and the replicas stay identical."""
    out = tmp_path / "ddp"
    _launch(out, loss, gather, amp)
    tmp_path = out
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for net in ("G", "D"):  # D is synchronised by explicit gradient averaging, G by DDP
        assert w0[net].keys() == w1[net].keys()
        for k in w0[net]:
            assert torch.equal(w0[net][k], w1[net][k]), (net, k)  # the replicas stayed identical
    run = tmp_path / "run"
    man = json.loads((run / "manifest.json").read_text())
    assert man["world_size"] == 2 and (run / "DONE").exists() and str(man["amp"]).lower() == amp
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    keys = [(r["step"], r["split"], r["metric"], r["layer"]) for r in rows]
    assert len(keys) == len(set(keys))  # written once: no row from a second writer
    assert {r["split"] for r in rows} >= {"train", "test", "infoplane", "gradients"}
    assert any(r["metric"] == "amp_skipped" for r in rows) == (amp == "fp16")
    ip = [r for r in rows if r["split"] == "infoplane" and r["metric"] == "I(X;T)" and r["layer"] == "enc1"]
    n_samples = 4 * 4 * (2 if gather == "true" else 1)  # probe images × patches, from each rank if gathered
    assert all(abs(float(r["ceiling"]) - math.log(n_samples)) < 1e-9 for r in ip), ip
    assert all(("gathered_across_ranks" in r["params"]) == (gather == "true") for r in ip)
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert len(ckpt["rng_cpu_ranks"]) == 2 and not torch.equal(*ckpt["rng_cpu_ranks"])  # rank-seeded


def test_two_ranks_on_the_same_data_equal_one_process(tmp_path):
    """The DDP step is the single-process algorithm with averaged gradients: when both ranks see the
    same batches (and dropout is off), G and D end exactly where one process ends — BatchNorm in D
    sees real and fake batches separately on both paths."""
    from infoflow.experiments.train import Trainer

    from .ddp_config import tiny_config

    _launch(tmp_path / "ddp", "vanilla", "false", "false", "same")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the ranks: the same reduction order
    try:
        tr = Trainer(tiny_config(same=True), tmp_path / "single", device="cpu", progress=False)
        tr.fit()
    finally:
        torch.set_num_threads(threads)
    w = torch.load(tmp_path / "ddp" / "rank0.pt", weights_only=True)
    for net, model in (("G", tr.G), ("D", tr.D)):
        for k, v in model.state_dict().items():
            assert torch.allclose(w[net][k].float(), v.float(), rtol=1e-5, atol=1e-6), (net, k)
