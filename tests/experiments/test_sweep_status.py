"""``infoflow status``: each run state of a sweep folder, made by hand where the answer is known."""
import json
import os
import platform
import subprocess
import sys

import pandas as pd
import pytest

from infoflow.experiments.cli import main
from infoflow.experiments.reproduce import build_grid
from infoflow.experiments.sweep_status import format_status, remaining_runs, sweep_status

CONFIGS = ["baseline", "hinge", "l1-only", "lsgan", "relativistic", "wgangp"]  # rebalanced not selected


@pytest.fixture
def folder(tmp_path):
    uses = build_grid("tiny", ["denoise"], ["gradients"], 1)[1]
    (tmp_path / "sweep.json").write_text(json.dumps({"preset": "tiny", "tasks": ["denoise"], "problems": ["gradients"],
                                                     "seeds": 1, "uses": uses, "configs": CONFIGS}))
    run = {c: tmp_path / "denoise" / c / "seed0" for c in CONFIGS}
    for c in ("baseline", "lsgan", "hinge", "l1-only", "wgangp"):
        run[c].mkdir(parents=True)
    for c in ("baseline", "lsgan"):  # finished; only the baseline has the probe its problem needs
        (run[c] / "DONE").write_text(json.dumps({"steps": 4, "seconds_this_launch": 120.0}))
    # the baseline's last launch resumed at step 2: 60 s for half the schedule is 120 s for a run
    (run["baseline"] / "DONE").write_text(json.dumps({"steps": 4, "seconds_this_launch": 60.0}))
    (run["baseline"] / "manifest.json").write_text(json.dumps({"resumed_from_step": 2}))
    (run["baseline"] / "analysis.csv").write_text("step,split,metric,value\n4,d_probe,x,1\n")
    (run["baseline"] / "analyses.json").write_text(json.dumps(
        {"done": ["d_probe"], "settings": {"d_probe": {"diagnostics.d_probe_steps": 4}}, "seconds": {"d_probe": 60.0}}))
    # training now: a live process (this one) holds the LOCK, three steps logged
    (run["hinge"] / "LOCK").write_text(json.dumps({"pid": os.getpid(), "host": platform.node(), "since": "t"}))
    (run["hinge"] / "metrics.csv").write_text("step,split,metric,value\n" + "".join(
        f"{k},train,loss,0.5\n" for k in range(1, 4)))
    # interrupted: its process is gone, its checkpoint and metrics stay
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (run["l1-only"] / "LOCK").write_text(json.dumps({"pid": gone.pid, "host": platform.node(), "since": "t"}))
    (run["l1-only"] / "metrics.csv").write_text("step,split,metric,value\n2,train,loss,0.5\n")
    (run["wgangp"] / "FAILED").write_text(json.dumps({"error": "ValueError: boom"}))
    return tmp_path


def test_status_names_each_run_state(folder):
    t = sweep_status(folder).set_index("config")
    grid = build_grid("tiny", ["denoise"], ["gradients"], 1)[0]
    assert list(t.index) == [s.config for s in grid if s.config in CONFIGS]  # the grid's order, the unselected not listed
    assert t.state.to_dict() == {"baseline": "done", "lsgan": "done, analyses pending", "hinge": "running",
                                 "l1-only": "interrupted", "wgangp": "failed", "relativistic": "not started"}
    assert t.loc["lsgan", "detail"] == "d_probe" and t.loc["wgangp", "detail"] == "ValueError: boom"
    assert t.loc["hinge", "step"] == 3 and t.loc["l1-only", "step"] == 2 and t.loc["baseline", "step"] == 4
    assert (t.steps == 4).all() and t.loc["baseline", "seconds"] == 120.0  # the tiny preset's schedule, whole
    assert t.loc["baseline", "analysis_seconds"] == 60.0 and pd.isna(t.loc["lsgan", "analysis_seconds"])
    assert f"pid {os.getpid()}" in t.loc["hinge", "detail"]


def test_status_command_prints_what_is_not_done_and_fails_on_a_failed_run(folder, capsys):
    assert main(["status", str(folder)]) == 1  # a failed run: non-zero, for scripts
    text = capsys.readouterr().out
    assert "denoise/hinge/seed0: running at step 3/4" in text and "denoise/baseline/seed0" not in text
    assert "denoise/l1-only/seed0: interrupted at step 2/4" in text
    # left: relativistic (1) + a quarter of hinge + half of l1-only = 1.75 runs of 2 + 1 min, one at once
    assert text.strip().endswith("6 runs: 1 done, 1 done, analyses pending, 1 running, 1 interrupted, 1 failed, "
                                 "1 not started; a finished run took 3.0 min (median: 2.0 training + 1.0 analyses); "
                                 "about 5 min left at this pace (1.8 runs of work, 1 at once), not counting 1 failed "
                                 "run")
    assert remaining_runs(sweep_status(folder)) == pytest.approx(1.75)
    (folder / "denoise" / "wgangp" / "seed0" / "FAILED").unlink()
    assert main(["status", str(folder), "--csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "task,config,seed,decides,state,step,steps,seconds,analysis_seconds,detail"
    assert main(["status", str(folder / "denoise")]) == 2
    assert "holds no sweep.json" in capsys.readouterr().err


def test_status_groups_a_configurations_waiting_seeds_and_counts_per_task(tmp_path):
    """A sweep of two tasks, two seeds: a configuration whose seeds have not started is one line
    naming them; one started seed leaves the other on its own line; the finished runs per task, and
    of the runs a verdict compares (baseline and LSGAN for the gradients problem)."""
    tasks = ["denoise", "derain"]
    grid, uses = build_grid("tiny", tasks, ["gradients"], 2)
    (tmp_path / "sweep.json").write_text(json.dumps({"preset": "tiny", "tasks": tasks, "problems": ["gradients"],
                                                     "seeds": [2], "uses": uses, "configs": None}))
    done = tmp_path / "denoise" / "lsgan" / "seed0"
    done.mkdir(parents=True)
    (done / "DONE").write_text(json.dumps({"steps": 4, "seconds_this_launch": 60.0}))
    (done / "analysis.csv").write_text("step,split,metric,value\n4,d_probe,x,1\n")
    (done / "analyses.json").write_text(json.dumps(
        {"done": ["d_probe"], "settings": {"d_probe": {"diagnostics.d_probe_steps": 4}}}))
    text = format_status(sweep_status(tmp_path))
    assert "  denoise/hinge: not started (seeds 0, 1)" in text.splitlines()
    assert "  denoise/lsgan/seed1: not started" in text.splitlines()  # its seed 0 is done
    assert "denoise/lsgan/seed0" not in text
    per_task = len(grid) // 2
    compared = [sp for sp in grid if sp.config in ("baseline", "lsgan")]  # what the gradients verdicts compare
    assert f"  the runs a verdict compares: 1/{len(compared)} done" in text.splitlines()
    assert f"  done per task: denoise 1/{per_task}, derain 0/{per_task}" in text.splitlines()
    assert text.splitlines()[-1].startswith(f"{len(grid)} runs: 1 done, {len(grid) - 1} not started")
    assert "verdicts ready" not in text  # denoise's baseline and lsgan seed 1 still to run
    for sp in compared:
        if sp.key.startswith("denoise/"):
            d = tmp_path / sp.key
            d.mkdir(parents=True, exist_ok=True)
            for name in ("DONE", "analysis.csv", "analyses.json"):
                (d / name).write_text((done / name).read_text())
    text = format_status(sweep_status(tmp_path))
    assert "  verdicts ready: denoise (infoflow report RUNS --tasks denoise --publish DIR)" in text.splitlines()


def test_status_into_a_closed_pipe_ends_quietly(folder):
    """`infoflow status runs | head -1`: the reader is gone before status writes. The command ends
    with 141 (128 + SIGPIPE, as a shell says) and no traceback."""
    import os
    import subprocess
    import sys

    r, w = os.pipe()
    os.close(r)  # the reader has gone: every write raises EPIPE
    try:
        p = subprocess.run([sys.executable, "-m", "infoflow.experiments.cli", "status", str(folder)], stdout=w,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert p.returncode == 141, p.stderr[-2000:]
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr
