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


PORT_RACE = ("Address already in use", "EADDRINUSE", "RendezvousConnectionError", "failed to listen")


@pytest.mark.parametrize("loss,gather,amp", [("vanilla", "true", "false"), ("wgangp", "false", "fp16")])
def test_two_rank_gloo_training(tmp_path, loss, gather, amp):
    """The fp16 variant: each rank's GradScaler sees the same all-reduced gradients, so both skip
    the same overflowing steps and the replicas stay identical."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = Path(__file__).with_name("ddp_worker.py")
    for attempt in range(2):  # a second try only when the launcher lost a race for its local port
        out = tmp_path / f"try{attempt}"
        proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                               str(worker), str(out), loss, gather, amp], env=env, capture_output=True, text=True,
                               timeout=300)
        if proc.returncode == 0 or not any(m in proc.stderr for m in PORT_RACE):
            break
    assert proc.returncode == 0, proc.stderr[-3000:]
    tmp_path = out
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k  # DDP kept the replicas identical
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
