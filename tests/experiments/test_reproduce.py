"""The tiny preset end to end: tables and figures exist and hold real values; a killed sweep resumes
without redoing finished runs; failures are recorded and the sweep goes on; shards partition the grid."""
import json
import math
import os

import pandas as pd
import pytest

from infoflow.experiments.cli import main
from infoflow.experiments.problems import PROBLEMS
from infoflow.experiments.reproduce import build_grid, parse_shard, reproduce


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    counts = reproduce("tiny", ["denoise"], list(PROBLEMS), out=out, device="cpu", progress=False)
    return out, counts


def test_grid_shares_the_baseline_and_shards_partition():
    grid, uses = build_grid("tiny", ["denoise", "derain"], list(PROBLEMS))
    keys = [s.key for s in grid]
    assert len(keys) == len(set(keys))
    assert sum(k.endswith("/baseline/seed0") for k in keys) == 2  # one baseline per task, shared by 3 problems
    assert {"baseline", "fix-sampling"} <= set(uses["abstraction"]["denoise"])
    parts = [grid[i::3] for i in range(3)]
    assert sorted(s.key for p in parts for s in p) == sorted(keys)
    assert parse_shard("1/3") == (1, 3)
    with pytest.raises(ValueError, match="i/N"):
        parse_shard("x")
    with pytest.raises(ValueError, match="0 <= i < N"):
        parse_shard("3/3")
    with pytest.raises(ValueError, match="unknown task"):
        build_grid("tiny", ["paint"], ["detail"])


def test_the_grid_runs_what_decides_a_verdict_first():
    """A sweep stopped part-way (a session's time, a cluster queue) has its verdicts: every run a
    pre-registered comparison needs comes before those only a control (or a secondary comparison)
    needs, and those before the context-only ones (the depths of the trend, the L1-only reference)."""
    grid, uses = build_grid("long", ["denoise", "derain", "dehaze"], list(PROBLEMS))
    decisive = {c for p in PROBLEMS.values() for comp in (p.present, p.fix) if comp for c in (comp.a, comp.b)}
    control = {c for p in PROBLEMS.values() for comp in (*p.controls, *p.secondary) for c in (comp.a, comp.b)}
    control -= decisive
    rank = [0 if s.config in decisive else 1 if s.config in control else 2 for s in grid]
    assert rank == sorted(rank) and set(rank) == {0, 1, 2}
    assert {s.config for s, r in zip(grid, rank) if r == 0} == {"baseline", "baseline+global-residual",
                                                                 "fix-sampling", "detail-branch", "lsgan"}
    assert {s.config for s, r in zip(grid, rank) if r == 1} == {"no-skip", "depth2", "depth2-wide", "hinge", "wgangp",
                                                                 "relativistic", "rebalanced"}  # controls, secondaries
    assert {s.config for s, r in zip(grid, rank) if r == 2} == {"depth3", "depth4", "l1-only"}
    # the confirmatory preset trains 5 seeds of what a primary compares, 3 of the rest
    seeds = {c: sum(1 for s in grid if s.config == c and s.task == "denoise") for c in {s.config for s in grid}}
    assert seeds["baseline"] == seeds["lsgan"] == 5 and seeds["no-skip"] == seeds["depth3"] == 3
    only_detail, _ = build_grid("long", ["denoise"], ["detail"])  # ranks follow the problems asked for
    assert [s.config for s in only_detail][-3:] == ["no-skip"] * 3


def test_tiny_sweep_writes_real_tables_and_figures(sweep):
    out, counts = sweep
    n = len(build_grid("tiny", ["denoise"], list(PROBLEMS))[0])
    assert counts["failed"] == 0 and counts["trained"] == counts["total"] == n
    rep = out / "report"
    html = (rep / "report.html").read_text()
    assert "Over-invested abstraction" in html and "data:image/png;base64" in html
    assert html.count("data:image/png;base64") >= 6 and "gradients_d_probe" in html
    for fig in ("abstraction_psnr_vs_depth", "detail_bands", "gradients_ratio_and_saturation",
                "abstraction_information_plane", "gradients_d_probe"):
        assert (rep / "figures" / f"{fig}.png").stat().st_size > 5000
        assert (rep / "figures" / f"{fig}.pdf").exists()
    runs = pd.read_csv(rep / "tables" / "runs.csv")
    assert len(runs) == n and runs.final_psnr.between(5, 60).all()
    summ = pd.read_csv(rep / "tables" / "summary.csv")
    assert {"final_psnr_mean", "final_psnr_std", "n_seeds"} <= set(summ.columns)
    ana = pd.read_csv(rep / "tables" / "analysis.csv")
    assert {"abstraction", "detail", "sources", "d_probe"} <= set(ana.split)
    probe = ana[ana.split == "d_probe"]
    assert set(probe[probe.config == "baseline"].layer) == {"vanilla", "saturating"}  # BCE D serves both forms
    assert set(probe[probe.config == "lsgan"].layer) == {"lsgan"}
    assert ana[ana.metric == "I(T;Y)"].estimator.eq("gaussian").all()  # every MI number states its estimator
    met = pd.read_csv(rep / "tables" / "metrics.csv", low_memory=False)
    ip = met[met.split == "infoplane"]
    assert len(ip) and ip.estimator.eq("kde").all() and ip.ceiling.notna().all()
    assert ip.params.str.contains("noise_variance").all()
    vs = json.loads((rep / "verdicts.json").read_text())
    assert {v["problem"] for v in vs} == {"abstraction", "detail", "gradients"}
    assert not any("verdict failed" in v["text"] for v in vs)
    # one seed of a 4-step run: every verdict is an inconclusive illustration, with its numbers shown
    assert all(v["verdict"] == "inconclusive" and v["illustration"] and "fewer than 3" in v["text"] for v in vs)
    assert all(v["decision"]["n_seeds"] == 1 and v["present_rule"].startswith("yes when") for v in vs)
    grad = next(v for v in vs if v["problem"] == "gradients")
    minimax = next(c for c in grad["controls"] if "minimax" in c["question"])
    assert 0 <= minimax["mean"] <= 1 and {e["question"][:40] for e in grad["effects"]}
    assert "illustrations, not evidence" in html and "class='grid'" in html and html.count("<details") >= 4
    assert {"verdict", "fix", "decision_mean"} - set(pd.read_csv(rep / "tables" / "verdicts.csv").columns) == {"decision_mean"}
    # whole-image scores, realism and convergence per run; classical references beside them
    assert runs.scored_on.eq("whole images").all() and runs.final_swd.gt(0).all() and "converged" in runs
    cl = pd.read_csv(rep / "tables" / "classical.csv")
    assert set(cl.method) >= {"nlm", "wavelet", "bm3d"} and cl[cl.status == "scored"].final_psnr.gt(20).all()
    nlm = cl[cl.method == "nlm"].iloc[0]
    assert nlm.final_psnr_input == pytest.approx(runs.final_psnr_input.iloc[0])  # the very same degraded inputs
    assert "classical: nlm" in html and (rep / "figures" / "perception_distortion.png").stat().st_size > 5000


def test_report_page_is_well_formed_and_publishes(sweep, tmp_path):
    from .test_diagnose import check_page

    out, _ = sweep
    page = check_page((out / "report" / "report.html").read_text())
    assert len(page.imgs) >= 8 and {"abstraction-denoise", "detail-denoise", "gradients-denoise"} <= page.ids
    assert "sample_crops (figures/sample_crops.png" in (out / "report" / "report.html").read_text()
    assert main(["report", str(out), "--publish", str(tmp_path / "pub")]) == 0
    pub = tmp_path / "pub"
    assert (pub / "verdicts.json").exists() and "path" not in pd.read_csv(pub / "runs.csv").columns
    assert 1 <= len(list((pub / "figures").glob("*.png"))) <= 12 and not list(pub.rglob("*.pt"))
    md = (pub / "tables.md").read_text()
    assert md.count("| abstraction | denoise | **inconclusive** |") == 1 and "| degraded input |" in md
    (grad,) = [v for v in json.loads((pub / "verdicts.json").read_text()) if v["problem"] == "gradients"]
    effect = grad["effects"][0]  # the L1-only control's reading, in the published Markdown beside the verdicts
    assert (f"| gradients | denoise | effect: {effect['question']} | psnr: {effect['mean']:+.3g} [—], n = 1 | — |"
            in md)
    # the primaries are information quantities, published with the Holm-adjusted decision beside them
    vs = json.loads((pub / "verdicts.json").read_text())
    assert {v["decision"]["quantity"] for v in vs} == {"deep_info_share", "band0_retention", "probe_jsd"}
    assert all("verdict_holm" in v and "secondary" in v for v in vs)
    ana = pd.read_csv(out / "denoise" / "baseline" / "seed0" / "analysis.csv")
    info = ana[ana.split == "information"]
    assert {"retention", "I_y_yhat", "I_y_x", "deep_share", "deep_param_share"} <= set(info.metric)
    assert md.count("| detail | denoise | control: positive control: without skips") == 1


def test_jobs_run_the_same_sweep_as_processes(sweep, tmp_path):
    out, _ = sweep
    counts = reproduce("tiny", ["denoise"], ["detail"], out=tmp_path, device="cpu", progress=False, jobs=2,
                       classical=False, report=False)
    assert counts["trained"] == 4 and counts["failed"] == 0
    for cfg in ("baseline", "baseline+global-residual", "no-skip", "detail-branch"):
        a = json.loads((tmp_path / "denoise" / cfg / "seed0" / "DONE").read_text())["test_full"]
        b = json.loads((out / "denoise" / cfg / "seed0" / "DONE").read_text())["test_full"]
        assert a["psnr"] == pytest.approx(b["psnr"], abs=1e-3)  # same seeds, same batches, other thread count
    with pytest.raises(ValueError, match="--jobs"):
        reproduce("tiny", ["denoise"], ["detail"], out=tmp_path, jobs=0)


def test_killed_sweep_resumes_without_redoing_finished_runs(sweep, tmp_path):
    out, _ = sweep
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/*/seed*/DONE")}
    victim = out / "denoise" / "hinge" / "seed0"
    (victim / "DONE").unlink()  # as if the sweep was killed while training this run
    (victim / "analysis.csv").unlink()
    counts = reproduce("tiny", ["denoise"], list(PROBLEMS), out=out, device="cpu", progress=False, report=False)
    assert counts["trained"] == 1 and counts["skipped"] == counts["total"] - 1
    after = {p: p.stat().st_mtime_ns for p in out.glob("*/*/seed*/DONE")}
    assert all(after[p] == t for p, t in before.items() if p.parent != victim)
    assert (victim / "DONE").exists()


def test_failed_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    import infoflow.experiments.train as train_mod

    real_fit = train_mod.Trainer.fit

    def flaky(self):
        if self.cfg["name"] == "no-skip":
            raise RuntimeError("simulated crash")
        return real_fit(self)

    monkeypatch.setattr(train_mod.Trainer, "fit", flaky)
    counts = reproduce("tiny", ["denoise"], ["detail"], out=tmp_path, device="cpu", progress=False)
    assert counts["failed"] == 1 and counts["trained"] == 3
    err = json.loads((tmp_path / "denoise" / "no-skip" / "seed0" / "FAILED").read_text())
    assert "simulated crash" in err["error"]
    assert "simulated crash" in (tmp_path / "report" / "report.html").read_text()
    assert main(["report", str(tmp_path)]) == 0
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_submitit_local_shards_then_report(tmp_path, capsys):
    pytest.importorskip("submitit")
    out = tmp_path / "sub"
    assert main(["reproduce", "--preset", "tiny", "--tasks", "denoise", "--problems", "detail", "--device", "cpu",
                 "--out", str(out), "--submit", "2", "--cluster", "local", "--timeout-min", "10", "--wait"]) == 0
    assert "submitted 2 jobs" in capsys.readouterr().out
    assert len(list(out.glob("denoise/*/seed0/DONE"))) == 4  # baseline(+global-residual), no-skip, detail-branch
    assert (out / "report" / "report.html").exists()


def test_a_problem_added_to_a_sweep_folder_analyses_the_shared_baseline(tmp_path):
    """Cells added over several sessions: the baseline trained for the detail problem is not
    retrained when the gradients problem joins the folder, but it does get the probe it needs."""
    from infoflow.experiments.analysis import analysed

    reproduce("tiny", ["denoise"], ["detail"], out=tmp_path, device="cpu", progress=False, report=False,
              classical=False)
    base = tmp_path / "denoise" / "baseline" / "seed0"
    metrics, done = (base / "metrics.csv").read_bytes(), (base / "DONE").read_bytes()
    detail_rows = pd.read_csv(base / "analysis.csv")
    detail_rows.loc[0, "value"] = 123.0  # as if an older version had computed it: it must stay as it is
    detail_rows.to_csv(base / "analysis.csv", index=False)
    assert analysed(base) == {"information", "detail", "sources"}
    (base / "analyses.json").unlink()  # a run analysed before the record existed: read off its rows
    assert analysed(base) == {"information", "detail", "sources"}
    counts = reproduce("tiny", ["denoise"], ["detail", "gradients"], out=tmp_path, device="cpu", progress=False,
                       report=False, classical=False)
    # trained: the gradients problem's own configurations; analysed: the shared baseline (given its probe)
    n_new = len(PROBLEMS["gradients"].configs("tiny")) - 1
    n_detail = len(PROBLEMS["detail"].configs("tiny"))
    assert (counts["trained"], counts["analysed"], counts["skipped"]) == (n_new, 1, n_detail - 1), counts
    assert (base / "metrics.csv").read_bytes() == metrics and (base / "DONE").read_bytes() == done  # not retrained
    assert analysed(base) == {"information", "detail", "sources", "d_probe"}
    ana = pd.read_csv(base / "analysis.csv")
    assert {"information", "detail", "sources", "d_probe"} <= set(ana.split)  # the new analysis added ...
    pd.testing.assert_frame_equal(ana[ana.split != "d_probe"].reset_index(drop=True), detail_rows)  # ... the old kept
    l1 = tmp_path / "denoise" / "l1-only" / "seed0"
    assert "d_probe" in analysed(l1) and "d_probe" not in set(pd.read_csv(l1 / "analysis.csv").split)
    again = reproduce("tiny", ["denoise"], ["detail", "gradients"], out=tmp_path, device="cpu", progress=False,
                      report=False, classical=False)
    assert again["skipped"] == again["total"]  # the L1-only control's n/a probe does not repeat either


def test_the_long_preset_is_the_standard_grid_at_a_longer_schedule():
    from infoflow.experiments.reproduce import build_grid

    std, _ = build_grid("standard", ["denoise", "derain", "dehaze"], ["abstraction", "detail", "gradients"])
    long, _ = build_grid("long", ["denoise", "derain", "dehaze"], ["abstraction", "detail", "gradients"])
    assert len(std) == 135 and len(long) == 165  # long: seeds 3 and 4 of the 5 primary configurations per task
    extra = {s.key for s in long} - {s.key for s in std}
    assert {k.rsplit("/", 1)[1] for k in extra} == {"seed3", "seed4"} and len(extra) == 3 * 5 * 2
    by_key = {s.key: s for s in long}
    long = [by_key[s.key] for s in std]
    schedule = {"train.steps", "train.log_every", "train.eval_every", "train.ckpt_every", "train.sample_every",
                "train.diagnostics_every", "diagnostics.d_probe_steps",  # the probe's D gets time to win
                "data.train_patches", "train.select"}  # fresh pairs at every step; the best validation model
    assert dict(by_key["denoise/baseline/seed0"].overrides)["data.train_patches"] == 8000 * 16
    for a, b in zip(std, long):
        da, db = dict(a.overrides), dict(b.overrides)
        assert {k for k in da.keys() | db.keys() if da.get(k) != db.get(k)} == schedule, a.key
        assert db["train.steps"] == 8000 and db["train.steps"] // db["train.eval_every"] == 40
        assert db["train.steps"] // db["train.diagnostics_every"] == da["train.steps"] // da["train.diagnostics_every"]
        assert db["diagnostics.d_probe_steps"] == 2048


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_run_folder_lock_keeps_a_second_process_out_and_is_taken_over_when_its_holder_died(tmp_path):
    import os
    import platform
    import subprocess
    import sys

    from infoflow.experiments.runfolder import LOCK_NAME, RunFolder, RunLockedError

    run = RunFolder(tmp_path / "r")
    lock = run.path / LOCK_NAME
    with run.locked():
        assert lock.exists()
    assert not run.path.exists()  # a folder only the lock made goes with it
    run.path.mkdir()
    with run.locked():
        assert run.lock_holder()["pid"] == os.getpid()
        with RunFolder(run.path).locked():  # re-entrant in one process (a sweep's run around its Trainer)
            pass
        assert run.lock_holder()["pid"] == os.getpid()  # the inner block did not release it
    assert not lock.exists()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        lock.write_text(json.dumps({"pid": holder.pid, "host": platform.node(), "since": "now"}))
        with pytest.raises(RunLockedError, match=f"in use by another process \\(pid {holder.pid}"):
            with run.locked():
                pass
        assert json.loads(lock.read_text())["pid"] == holder.pid  # the refused attempt left its LOCK alone
    finally:
        holder.kill()
        holder.wait()
    lock.unlink()
    with pytest.raises(ZeroDivisionError):
        with run.locked():
            1 / 0
    assert not lock.exists()  # released on error too
    here = platform.node()
    lock.write_text(json.dumps({"pid": _dead_pid(), "host": here, "since": "earlier"}))
    with run.locked():  # its process is gone: taken over
        assert run.lock_holder()["pid"] == os.getpid()
    lock.write_text(json.dumps({"pid": _dead_pid(), "host": here + "-elsewhere", "since": "earlier"}))
    with pytest.raises(RunLockedError, match="elsewhere"):  # another machine's process cannot be checked
        with run.locked():
            pass
    lock.write_text("")  # a LOCK whose writer died before filling it: stale only once it is old
    with pytest.raises(RunLockedError, match="unreadable"):
        with run.locked():
            pass
    os.utime(lock, (lock.stat().st_atime - 600, lock.stat().st_mtime - 600))
    with run.locked():
        pass
    assert not lock.exists()


def test_a_run_another_process_holds_is_left_to_it_and_trained_once_that_process_is_gone(tmp_path):
    """Several reproduce processes on one sweep folder: a run whose LOCK a live process holds is
    counted busy (not failed, not trained twice); once that process is gone, the run is trained."""
    import platform
    import subprocess
    import sys

    from infoflow.experiments.runfolder import LOCK_NAME

    held = tmp_path / "denoise" / "no-skip" / "seed0"
    held.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (held / LOCK_NAME).write_text(json.dumps({"pid": holder.pid, "host": platform.node(), "since": "now"}))
        kw = dict(out=tmp_path, device="cpu", progress=False, report=False, classical=False)
        counts = reproduce("tiny", ["denoise"], ["detail"], **kw)
        assert (counts["trained"], counts["busy"], counts["failed"]) == (3, 1, 0), counts
        assert not (held / "DONE").exists() and not (held / "FAILED").exists()
        assert json.loads((held / LOCK_NAME).read_text())["pid"] == holder.pid  # still the holder's
    finally:
        holder.kill()
        holder.wait()
    again = reproduce("tiny", ["denoise"], ["detail"], **kw)
    assert (again["trained"], again["skipped"], again["busy"]) == (1, 3, 0), again
    assert (held / "DONE").exists() and not (held / LOCK_NAME).exists()


def test_an_analysis_run_with_other_settings_than_the_sweeps_is_redone_with_the_sweeps(sweep, tmp_path):
    """A baseline trained (and probed) under an older preset gets the probe the sweep's preset asks
    for now — the analysis only; its training record and its other analyses stay as they are."""
    import shutil

    import yaml

    from infoflow.experiments.analysis import analyse_run, analysis_settings
    from infoflow.experiments.reproduce import _lacking

    out, _ = sweep
    run = tmp_path / "seed0"
    shutil.copytree(out / "denoise" / "baseline" / "seed0", run)
    key = "diagnostics.d_probe_steps"
    config = (run / "config.yaml").read_text()
    trained_with = yaml.safe_load(config)["diagnostics"]["d_probe_steps"]
    assert analysis_settings(run)["d_probe"] == {key: trained_with}
    record = json.loads((run / "analyses.json").read_text())
    assert set(record["seconds"]) == set(record["done"]) and all(v > 0 for v in record["seconds"].values())
    (run / "analyses.json").write_text(json.dumps({"done": record["done"]}))  # a record from before settings
    assert analysis_settings(run)["d_probe"] == {key: trained_with}  # read off the run's config then
    assert _lacking(run, ["detail", "d_probe"], {key: trained_with}) == []
    assert _lacking(run, ["detail", "d_probe"], {key: trained_with + 2}) == ["d_probe"]
    before = pd.read_csv(run / "analysis.csv")
    assert before[before.split == "d_probe"].step.max() == trained_with
    analyse_run(run, ["d_probe"], device="cpu", settings={key: trained_with + 2})
    after = pd.read_csv(run / "analysis.csv")
    assert after[after.split == "d_probe"].step.max() == trained_with + 2  # the probe ran as long as asked
    pd.testing.assert_frame_equal(after[after.split != "d_probe"].reset_index(drop=True),
                                  before[before.split != "d_probe"].reset_index(drop=True))
    assert analysis_settings(run)["d_probe"] == {key: trained_with + 2}
    assert list(json.loads((run / "analyses.json").read_text())["seconds"]) == ["d_probe"]  # the one timed now
    assert _lacking(run, ["detail", "d_probe"], {key: trained_with + 2}) == []
    assert (run / "config.yaml").read_text() == config  # how it was trained is not rewritten
    with pytest.raises(ValueError, match="unknown analysis setting"):
        analyse_run(run, ["d_probe"], device="cpu", settings={"optim.lr_g": 1.0})


def test_configs_trains_only_the_named_configurations_and_the_report_names_the_rest(tmp_path, capsys):
    """``--configs baseline l1-only``: a control trained on its own (the gradients problem's L1-only
    reference beside its baseline) — only those runs, the grid's order kept; the report knows the
    rest of the grid: the fix it cannot compare is 'not run', the effect of the adversarial term is
    measured; an unknown name is refused with the names the grid has."""
    from infoflow.experiments.reproduce import select_configs

    grid, _ = build_grid("long", ["denoise", "derain"], ["gradients"])
    two = select_configs(grid, ["l1-only", "baseline"])
    # the confirmatory preset: 5 seeds of the baseline (a primary compares it), 3 of the L1-only control
    assert [s.key for s in two] == [s.key for s in grid if s.config in ("baseline", "l1-only")] and len(two) == 16
    assert select_configs(grid, None) == grid
    with pytest.raises(ValueError, match=r"\['lsgann'\] not in this sweep's grid; its configurations are .*'lsgan'"):
        select_configs(grid, ["lsgan", "lsgann"])
    assert main(["reproduce", "--preset", "tiny", "--tasks", "denoise", "--problems", "gradients", "--configs",
                 "baseline", "l1-only", "--seeds", "2", "--out", str(tmp_path), "--no-progress",
                 "--no-classical", "--device", "cpu"]) == 0
    assert "4 trained" in capsys.readouterr().out
    trained = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("*/*/seed*") if (p / "DONE").exists())
    assert trained == [f"denoise/{c}/seed{k}" for c in ("baseline", "l1-only") for k in range(2)]
    assert json.loads((tmp_path / "sweep.json").read_text())["configs"] == ["baseline", "l1-only"]
    (v,) = _standard_json(tmp_path / "report" / "verdicts.json")
    assert v["fix"] == "inconclusive (not run)" and "lsgan" in v["missing_runs"]
    assert v["fix_decision"]["n_seeds"] == 0 and v["fix_decision"]["mean"] is None  # not run: null, not NaN
    psnr, swd = v["effects"]
    assert psnr["n_seeds"] == 2 and math.isfinite(psnr["mean"]) and math.isfinite(swd["mean"])
    assert main(["report", str(tmp_path), "--publish", str(tmp_path / "pub")]) == 0
    assert _standard_json(tmp_path / "pub" / "verdicts.json") == [v]
    md = (tmp_path / "pub" / "tables.md").read_text()  # a control not run says which runs it lacks
    assert ("| gradients | denoise | control: does hinge raise the gradient ratio over the baseline's? "
            "| missing runs for ['hinge'] | inconclusive (not run) |") in md


def test_a_folder_filled_by_several_calls_is_reported_over_all_of_them(tmp_path):
    """``reproduce --tasks denoise derain --configs baseline l1-only`` then ``--tasks dehaze
    --configs hinge`` into one folder: sweep.json (which the report reads) keeps every task and
    problem of both calls, the grid's configurations for each, and the union of the selections; a
    call over the whole grid records 'all'; a folder of another preset is refused by name."""
    from infoflow.experiments.reproduce import merge_sweep

    def record(tasks, problems, configs, preset="long"):
        return {"preset": preset, "tasks": tasks, "problems": problems, "seeds": 3,
                "uses": build_grid(preset, tasks, problems)[1], "configs": configs}

    path = tmp_path / "sweep.json"
    first = merge_sweep(path, record(["denoise", "derain"], ["gradients"], ["baseline", "l1-only"]))
    assert first == record(["denoise", "derain"], ["gradients"], ["baseline", "l1-only"])  # nothing to join yet
    path.write_text(json.dumps(first))
    both = merge_sweep(path, record(["dehaze"], ["gradients"], ["hinge"]))
    assert both["tasks"] == ["denoise", "derain", "dehaze"] and both["problems"] == ["gradients"]
    assert set(both["uses"]["gradients"]) == {"denoise", "derain", "dehaze"}
    assert both["uses"]["gradients"]["dehaze"] == build_grid("long", ["dehaze"], ["gradients"])[1]["gradients"]["dehaze"]
    assert both["configs"] == ["baseline", "hinge", "l1-only"]
    path.write_text(json.dumps(both))
    wider = merge_sweep(path, record(["denoise"], ["detail"], None))
    assert wider["configs"] is None and set(wider["uses"]) == {"gradients", "detail"}
    assert set(wider["uses"]["detail"]) == {"denoise", "derain", "dehaze"}  # the union of tasks, every problem
    with pytest.raises(ValueError, match=r"holds a 'long' sweep; a 'tiny' sweep needs another --out folder"):
        merge_sweep(path, record(["denoise"], ["detail"], None, preset="tiny"))


def _standard_json(path):
    """Parse ``path`` as standard JSON: a NaN or Infinity token (which a browser's JSON.parse refuses) fails."""
    def refuse(token):
        raise AssertionError(f"{path.name} holds the non-standard JSON token {token}")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_sweep_options_name_a_bad_setting_before_anything_runs(tmp_path):
    from infoflow.experiments.sweep_options import SweepOptions

    for kw, match in (({"preset": "huge"}, "unknown preset 'huge'"), ({"tasks": ["denoize"]}, r"unknown task \['denoize'\]"),
                      ({"problems": ["speed"]}, r"unknown problem \['speed'\]"), ({"jobs": 0}, "--jobs"),
                      ({"seeds": 0}, "--seeds"), ({"shard": "3/2"}, "--shard 3/2")):
        with pytest.raises(ValueError, match=match):
            SweepOptions(**{"preset": "tiny", "out": tmp_path, **kw})
    opts = SweepOptions("tiny", "denoise", ["detail"], out=str(tmp_path))
    assert opts.tasks == ("denoise",) and opts.out == tmp_path and opts.configs is None
    shard = opts.but(shard="1/4", report=False)
    assert (shard.shard, shard.report, shard.tasks, opts.shard) == ("1/4", False, ("denoise",), None)
    assert not list(tmp_path.iterdir())  # nothing was written by making them
    with pytest.raises(TypeError, match="not both"):
        reproduce(opts, jobs=2)


def test_the_primaries_extra_seeds_stay_in_the_recorded_grid(tmp_path):
    """A ``long`` sweep trains 5 seeds of what a primary compares and 3 of the rest. sweep.json
    (which ``infoflow status`` rebuilds the grid from) must keep that: a call without --seeds is
    recorded as the preset's counts, not as 3 for every configuration; an earlier version's single
    int 3 reads the same; a later ``--seeds 4`` call adds seed 3 to the controls only."""
    from infoflow.experiments.reproduce import merge_sweep, sweep_seeds

    tasks, problems = ["denoise"], ["detail"]
    default, _ = build_grid("long", tasks, problems)
    seeds_of = lambda grid, cfg: sorted(s.seed for s in grid if s.config == cfg)  # noqa: E731
    assert seeds_of(default, "baseline") == [0, 1, 2, 3, 4] and seeds_of(default, "no-skip") == [0, 1, 2]
    legacy = {"preset": "long", "tasks": tasks, "problems": problems, "seeds": 3}
    assert sweep_seeds(legacy) == [None]
    assert build_grid("long", tasks, problems, sweep_seeds(legacy))[0] == default
    assert sweep_seeds({**legacy, "seeds": 2}) == [2]  # an explicit --seeds 2 of an earlier version
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({**legacy, "uses": {}, "configs": None}))
    merged = merge_sweep(path, {**legacy, "seeds": [4], "uses": {}, "configs": None})
    assert merged["seeds"] == [None, 4]
    union, _ = build_grid("long", tasks, problems, merged["seeds"])
    assert seeds_of(union, "baseline") == [0, 1, 2, 3, 4] and seeds_of(union, "no-skip") == [0, 1, 2, 3]
    assert build_grid("long", tasks, problems, [2])[0] == build_grid("long", tasks, problems, 2)[0]


def test_reproduce_records_a_default_call_as_the_presets_counts(tmp_path):
    """The record a call writes: [None] without --seeds, so status lists all 5 seeds of a primary."""
    from infoflow.experiments.sweep_options import SweepOptions
    from infoflow.experiments.sweep_status import sweep_status

    reproduce(SweepOptions("long", ["denoise"], ["detail"], out=tmp_path, configs=["baseline", "no-skip"],
                           report=False, progress=False, classical=False, shard="999/1000"))  # trains nothing
    assert json.loads((tmp_path / "sweep.json").read_text())["seeds"] == [None]
    table = sweep_status(tmp_path)
    assert sorted(table.seed[table.config == "baseline"]) == [0, 1, 2, 3, 4]
    assert sorted(table.seed[table.config == "no-skip"]) == [0, 1, 2]


def test_a_jobs_worker_keeps_every_thread_pool_to_its_share():
    """``--jobs N`` splits the cores; a worker's BLAS/OpenMP pools (loaded before and after the
    split), torch's and the KSG queries' must all keep to its share, or N workers each take every
    core. Checked in a fresh interpreter, as a spawned worker is."""
    import subprocess
    import sys

    code = ("from infoflow.experiments.reproduce import _init_worker\n"
            "import numpy\n"
            "_init_worker(1)\n"
            "import scipy.linalg, sklearn.neighbors, torch, json\n"
            "from threadpoolctl import threadpool_info\n"
            "from infoflow.infotheory.estimators.ksg import _n_threads\n"
            "print(json.dumps([[p['internal_api'], p['num_threads']] for p in threadpool_info()]"
            " + [['torch', torch.get_num_threads()], ['ksg', _n_threads(-1)]]))\n")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    pools = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(pools) >= 3 and all(n == 1 for _, n in pools), pools


def test_report_joins_a_published_sweep_of_another_task(sweep, tmp_path):
    """`report --holm-with PUBLISHED`: the other sweep's verdicts (re-adjusted in one Holm family) and
    its run tables join this report's; a sweep of the same task is refused."""
    import shutil

    out = tmp_path / "sweep"
    shutil.copytree(sweep[0], out, ignore=shutil.ignore_patterns("*.pt"))  # the fixture's report stays as it is
    assert main(["report", str(out), "--publish", str(tmp_path / "pub")]) == 0
    other = tmp_path / "other"  # the same tables, as if from a derain sweep
    other.mkdir()
    rows = json.loads((tmp_path / "pub" / "verdicts.json").read_text())
    (other / "verdicts.json").write_text(json.dumps([{**v, "task": "derain"} for v in rows]))
    pd.read_csv(tmp_path / "pub" / "runs.csv").assign(task="derain").to_csv(other / "runs.csv", index=False)
    assert main(["report", str(out), "--holm-with", str(other), "--publish", str(tmp_path / "joint")]) == 0
    vs = json.loads((tmp_path / "joint" / "verdicts.json").read_text())
    assert sorted((v["task"], v.get("source")) for v in vs) == [("denoise", None)] * 3 + [("derain", str(other))] * 3
    assert len({v["holm_family"] for v in vs}) == 1
    runs = pd.read_csv(tmp_path / "joint" / "runs.csv")
    assert set(runs.task) == {"denoise", "derain"} and set(runs.source.dropna()) == {str(other)}
    md = (tmp_path / "joint" / "tables.md").read_text()
    header = next(line for line in md.splitlines() if line.startswith("| configuration"))
    assert "| detail | derain |" in md and "derain" in header  # the verdicts and the headline table
    before = (out / "report" / "tables" / "runs.csv").read_text()
    assert main(["report", str(out), "--holm-with", str(tmp_path / "pub")]) != 0  # denoise twice: refused,
    assert (out / "report" / "tables" / "runs.csv").read_text() == before  # and the report left as it was


def test_report_of_some_tasks_publishes_a_finished_task_that_joins_the_rest(sweep, tmp_path, capsys):
    """`report --tasks T`: only T's runs, references and verdicts (a finished task published while the
    sweep's others run); the rest of the sweep then joins it with --holm-with, which is refused
    without --tasks (T would be in both); an unknown task is named."""
    import shutil

    out = tmp_path / "sweep"
    shutil.copytree(sweep[0], out, ignore=shutil.ignore_patterns("*.pt", "report"))
    shutil.copytree(out / "denoise", out / "derain")  # the same runs, as if derain had run too
    meta = json.loads((out / "sweep.json").read_text())
    meta["tasks"] = ["denoise", "derain"]
    meta["uses"] = {p: {**by, "derain": by["denoise"]} for p, by in meta["uses"].items()}
    (out / "sweep.json").write_text(json.dumps(meta))
    assert main(["report", str(out), "--tasks", "derain", "--publish", str(tmp_path / "derain")]) == 0
    vs = json.loads((tmp_path / "derain" / "verdicts.json").read_text())
    assert sorted(v["task"] for v in vs) == ["derain"] * 3
    assert set(pd.read_csv(tmp_path / "derain" / "runs.csv").task) == {"derain"}
    assert main(["report", str(out), "--holm-with", str(tmp_path / "derain")]) != 0  # derain twice: refused
    assert main(["report", str(out), "--tasks", "denoise", "--holm-with", str(tmp_path / "derain"),
                 "--publish", str(tmp_path / "joint")]) == 0
    joint = json.loads((tmp_path / "joint" / "verdicts.json").read_text())
    assert sorted((v["task"], v.get("source")) for v in joint) == \
        [("denoise", None)] * 3 + [("derain", str(tmp_path / "derain"))] * 3
    assert len({v["holm_family"] for v in joint}) == 1
    capsys.readouterr()
    assert main(["report", str(out), "--tasks", "deblur"]) != 0
    assert "no task ['deblur']" in capsys.readouterr().err


def _three_tasks(data):
    """The tiny sweep's tables as if three tasks had run (every figure gets one column per task)."""
    tasks = ("deblur", "dehaze", "denoise")
    many = lambda df: pd.concat([df.assign(task=t) for t in tasks], ignore_index=True) if len(df) else df  # noqa: E731
    uses = {p: dict.fromkeys(tasks, by["denoise"]) for p, by in data.uses.items()}  # the tiny sweep ran denoise
    return many(data.runs), many(data.metrics), many(data.analysis), uses, many(data.classical)


def _legibility_faults(fig) -> list[str]:
    """What in ``fig`` runs into something else once drawn: two panels (with their titles, axis labels,
    tick labels and legends) that overlap, or the suptitle / a figure legend over a panel."""
    import matplotlib.text

    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    boxes = [ax.get_tightbbox(r) for ax in axes]
    faults = [f"panels {axes[i].get_title()!r} and {axes[j].get_title()!r} overlap"
              for i in range(len(axes)) for j in range(i + 1, len(axes)) if boxes[i].overlaps(boxes[j])]
    sup = [t for t in fig.findobj(matplotlib.text.Text) if fig.get_suptitle() and t.get_text() == fig.get_suptitle()]
    over = [("suptitle", t.get_window_extent(r)) for t in sup] + [("figure legend", lg.get_window_extent(r))
                                                                   for lg in fig.legends]
    faults += [f"the {what} overlaps panel {ax.get_title()!r}" for what, box in over
               for ax, b in zip(axes, boxes) if box.overlaps(b)]
    return faults


def test_every_report_figure_is_legible_with_three_tasks(sweep):
    """Every figure the report draws (the primaries and the crops too), from the tiny sweep's real
    tables as three tasks: no panel's names, labels or legend run into another panel, and neither the
    suptitle nor a figure legend lies over a panel (the suptitle sat on the panel titles of some)."""
    import matplotlib.pyplot as plt

    from infoflow.experiments.report.collect import collect
    from infoflow.experiments.report.crops import sample_crops
    from infoflow.experiments.report.figures import FIGURES, WITH_CLASSICAL
    from infoflow.experiments.report.primaries import primaries_figure

    runs, metrics, analysis, uses, classical = _three_tasks(collect(sweep[0]))
    decided = json.loads((sweep[0] / "report" / "verdicts.json").read_text())
    makers = {name: (lambda fn=fn, name=name: fn(runs, metrics, analysis, uses,
                                                 **({"classical": classical} if name in WITH_CLASSICAL else {})))
              for name, fn in FIGURES.items()}
    makers["primaries"] = lambda: primaries_figure([v | {"task": t} for t in ("deblur", "dehaze") for v in decided])
    makers["sample_crops"] = lambda: sample_crops(runs[runs.task == "denoise"])
    drawn, faults = [], {}
    for name, make in makers.items():
        fig = make()
        if fig is None:
            continue
        drawn.append(name)
        if bad := _legibility_faults(fig):
            faults[name] = bad
        plt.close(fig)
    assert len(drawn) >= 12 and {"primaries", "sample_crops"} <= set(drawn), drawn
    assert not faults, faults
