"""Training options the field expects: pix2pix's linear decay, an EMA of G for evaluation, the
L1-only control, whole-image final scoring with realism, and the convergence rule per run."""
import copy
import math

import numpy as np
import pytest
import torch

from infoflow.experiments.config import ConfigError
from infoflow.experiments.convergence import plateau
from infoflow.experiments.evaluate import generator_weights, load_run_generator
from infoflow.experiments.data import build_test_pairs
from infoflow.experiments.train import Trainer

from .test_train import Crash, rows, tiny


# ------------------------------------------------------------------------------ the plateau rule
def test_plateau_rule_on_known_curves():
    steps = np.arange(100, 2001, 100)
    rising = 20 + 0.002 * steps  # +1 dB over the last quarter
    r = plateau(steps, rising, total=2000)
    assert r["converged"] is False and r["gain_db"] == pytest.approx(1.0) and r["n_points"] == 6
    assert r["status"] == "climbing"
    flat = 25 + 0.1 * np.tile([1.0, -1.0, -1.0, 1.0], 5)  # noisy (±0.1 dB) but level
    assert plateau(steps, flat, total=2000)["status"] == "converged"
    falling = 30 - 0.001 * steps  # -0.5 dB over the last quarter: not a plateau either (two-sided rule)
    r = plateau(steps, falling, total=2000)
    assert r["converged"] is False and r["status"] == "unstable" and r["gain_db"] == pytest.approx(-0.5)
    slight = 30 - 0.00002 * steps  # -0.01 dB: within the tolerance
    assert plateau(steps, slight, total=2000)["converged"] is True
    # judged under model selection (the best validation model): past the peak is converged, climbing is not
    assert plateau(steps, falling, total=2000, selected=True)["converged"] is True
    assert plateau(steps, falling, total=2000, selected=True)["status"] == "unstable"
    assert plateau(steps, rising, total=2000, selected=True)["converged"] is False
    # a climb that ends below the kept evaluation (a recovery from a dip) has passed its peak; one at it has not
    assert plateau(steps, rising, total=2000, selected=True, best=25.0)["converged"] is True  # line ends at 24
    assert plateau(steps, rising, total=2000, selected=True, best=25.0)["below_peak_db"] == pytest.approx(1.0)
    assert plateau(steps, rising, total=2000, selected=True, best=24.0)["converged"] is False
    assert plateau(steps, rising, total=2000, best=25.0)["converged"] is False  # without selection: two-sided
    few = plateau([1000, 2000], [20.0, 21.0], total=2000)
    assert few["converged"] is None and few["status"] is None and math.isnan(few["gain_db"])
    with pytest.raises(ValueError, match="NaN"):
        plateau([1, 2, 3], [1.0, float("nan"), 2.0])
    with pytest.raises(ValueError, match="same length"):
        plateau([1, 2, 3], [1.0, 2.0])


def test_every_run_records_its_convergence_on_the_validation_split(tmp_path):
    from infoflow.experiments.data import build_test_pairs, build_val_pairs, train_val_images

    out = tmp_path / "run"
    cfg = tiny("train.steps=12", "train.eval_every=1")
    s = Trainer(cfg, out, device="cpu", progress=False).fit()
    conv = {r["metric"]: float(r["value"]) for r in rows(out) if r["split"] == "convergence"}
    curve = [(int(r["step"]), float(r["value"])) for r in rows(out) if r["split"] == "val" and r["metric"] == "psnr"]
    ref = plateau([c[0] for c in curve], [c[1] for c in curve], total=12)
    assert len(curve) == 12 and s["convergence"]["n_points"] == 4  # steps 9..12: the last quarter
    assert conv["gain_db"] == pytest.approx(ref["gain_db"]) and math.isfinite(conv["gain_db"])
    assert conv["converged"] == float(ref["converged"]) and conv["on_validation"] == 1.0
    assert conv["unstable"] == float(ref["status"] == "unstable")
    # the validation images come from the training images, are not trained on, and are not the test images
    train, val = train_val_images(cfg)
    test = {name for name, _, _ in build_test_pairs(cfg)}
    assert len(val) == cfg["data"]["val_images"] and not {n for n, _ in val} & ({n for n, _ in train} | test)
    assert [n for n, _, _ in build_val_pairs(cfg)] == [n for n, _ in val]
    # the test images are scored once, at the end, at three sizes: test crops, the training crop, whole
    final = {r["split"] for r in rows(out) if int(r["step"]) == 12}
    assert {"test", "test_crop", "test_full"} <= final
    assert [r for r in rows(out) if r["split"] == "test" and int(r["step"]) < 12] == []


def test_without_a_validation_split_the_curve_reads_test_crops(tmp_path):
    out = tmp_path / "run"
    Trainer(tiny("train.steps=8", "train.eval_every=2", "data.val_images=0"), out, device="cpu", progress=False).fit()
    conv = {r["metric"]: float(r["value"]) for r in rows(out) if r["split"] == "convergence"}
    assert conv["on_validation"] == 0.0 and not any(r["split"] == "val" for r in rows(out))
    assert len([r for r in rows(out) if r["split"] == "test" and r["metric"] == "psnr"]) == 4


# ------------------------------------------------------------------------------ model selection
SELECT = ("train.steps=12", "train.eval_every=1", "optim.lr_g=0.3", "train.ema=0.5")  # a curve that peaks early


def _weights(path):
    return load_run_generator(path, "cpu")[1].state_dict()


def test_best_validation_model_is_selected_scored_and_analysed(tmp_path):
    out = tmp_path / "sel"
    Trainer(tiny(*SELECT, "train.select=best_val"), out, device="cpu", progress=False).fit()
    curve = [(int(r["step"]), float(r["value"])) for r in rows(out) if r["split"] == "val" and r["metric"] == "psnr"]
    best_step, best_psnr = max(curve, key=lambda c: c[1])
    sel = {r["metric"]: float(r["value"]) for r in rows(out) if r["split"] == "selection"}
    assert sel["step"] == best_step < 12 and sel["val_psnr"] == pytest.approx(best_psnr)
    conv = {r["metric"]: float(r["value"]) for r in rows(out) if r["split"] == "convergence"}
    ref_rule = plateau([c[0] for c in curve], [c[1] for c in curve], total=12, selected=True, best=best_psnr)
    assert conv["converged"] == float(ref_rule["converged"])
    assert conv["below_peak_db"] == pytest.approx(ref_rule["below_peak_db"])
    # the kept model is the one a run stopped at the best step ends with: loaded for analyses, scored at the end
    ref = tmp_path / "ref"
    Trainer(tiny(*SELECT[1:], f"train.steps={best_step}"), ref, device="cpu", progress=False).fit()
    mine, theirs = _weights(out), _weights(ref)
    for k, v in theirs.items():
        assert torch.allclose(mine[k].float(), v.float(), atol=1e-6), k
    final = lambda p, split: {r["metric"]: float(r["value"]) for r in rows(p)  # noqa: E731
                              if r["split"] == split and int(r["step"]) == max(int(q["step"]) for q in rows(p))}
    assert final(out, "test_full")["psnr"] == pytest.approx(final(ref, "test_full")["psnr"], abs=1e-4)
    # without selection the last model is judged
    last = tmp_path / "last"
    Trainer(tiny(*SELECT), last, device="cpu", progress=False).fit()
    assert not any(r["split"] == "selection" for r in rows(last))
    assert final(last, "test_full")["psnr"] != pytest.approx(final(out, "test_full")["psnr"], abs=1e-3)


def test_selection_survives_a_crash_and_needs_a_validation_split(tmp_path):
    ref = tmp_path / "ref"
    cfg = tiny(*SELECT, "train.select=best_val")
    cfg["train"]["diagnostics_every"] = 2
    Trainer(cfg, ref, device="cpu", progress=False, callbacks=[lambda ctx: []]).fit()

    def crash(ctx):
        if ctx.step == 10:
            raise Crash()
        return []

    cfg = tiny(*SELECT, "train.select=best_val")
    cfg["train"]["diagnostics_every"] = 2  # the callback's steps
    out = tmp_path / "crashed"
    with pytest.raises(Crash):
        Trainer(cfg, out, device="cpu", progress=False, callbacks=[crash]).fit()
    Trainer(cfg, out, device="cpu", progress=False, resume=True).fit()
    sel = lambda p: {r["metric"]: float(r["value"]) for r in rows(p) if r["split"] == "selection"}  # noqa: E731
    assert sel(out) == pytest.approx(sel(ref))
    for k, v in _weights(ref).items():
        assert torch.equal(_weights(out)[k], v), k
    with pytest.raises(ValueError, match="validation split"):
        Trainer(tiny("train.select=best_val", "data.val_images=0"), tmp_path / "noval", device="cpu",
                progress=False).fit()
    with pytest.raises(ConfigError, match="train.select"):
        tiny("train.select=best")


# ------------------------------------------------------------------------------ learning-rate decay
def test_linear_decay_schedule_and_resume(tmp_path):
    cfg = tiny("train.steps=10", "optim.decay_start=0.5", "optim.lr_g=1e-3", "optim.lr_d=2e-3")
    t = Trainer(cfg, tmp_path / "a", device="cpu", progress=False)
    f = [t.lr_factor(s) for s in range(1, 11)]
    assert f[:5] == [1.0] * 5 and all(a > b > 0 for a, b in zip(f[4:], f[5:]))
    assert f[-1] == pytest.approx(1 / 6)
    t.fit()
    assert t.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 / 6)
    assert t.opt_d.param_groups[0]["lr"] == pytest.approx(2e-3 / 6)

    def crash(ctx):
        if ctx.step == 8:
            raise Crash()
        return []

    cfg2 = tiny("train.steps=10", "optim.decay_start=0.5", "optim.lr_g=1e-3", "optim.lr_d=2e-3",
                "train.diagnostics_every=2")
    cfg2["train"]["diagnostics_every"] = 2
    with pytest.raises(Crash):
        Trainer(cfg2, tmp_path / "b", device="cpu", progress=False, callbacks=[crash]).fit()
    res = Trainer(cfg2, tmp_path / "b", device="cpu", progress=False, resume=True)
    res.fit()
    for k, v in t.G.state_dict().items():
        assert torch.equal(v, res.G.state_dict()[k]), k  # the schedule is a function of the step
    with pytest.raises(ConfigError, match="decay_start"):
        tiny("optim.decay_start=1.5")


# ------------------------------------------------------------------------------ EMA of G
def test_ema_is_evaluated_checkpointed_and_resumed(tmp_path):
    cfg = tiny("train.steps=10", "train.ema=0.9")
    ref = Trainer(cfg, tmp_path / "a", device="cpu", progress=False)
    ref.fit()
    assert ref.G_eval is not ref.G
    live, avg = dict(ref.G.named_parameters()), dict(ref.G_eval.named_parameters())
    assert any(not torch.equal(live[k], avg[k]) for k in live)  # an average, not a copy
    assert any(not torch.equal(b_live, b_avg) for (_, b_live), (_, b_avg)
               in zip(ref.G.named_buffers(), ref.G_eval.named_buffers()))  # its own BN statistics
    state = torch.load(tmp_path / "a" / "checkpoints" / "last.pt", weights_only=True)
    _, G, _, _ = load_run_generator(tmp_path / "a", "cpu")
    for k, v in G.state_dict().items():
        assert torch.equal(v, ref.G_eval.state_dict()[k]), k  # evaluation and analyses use the EMA
    assert generator_weights({"G": state["G"]}) is state["G"]

    def crash(ctx):
        if ctx.step == 6:
            raise Crash()
        return []

    cfg2 = tiny("train.steps=10", "train.ema=0.9", "train.diagnostics_every=2")
    cfg2["train"]["diagnostics_every"] = 2
    with pytest.raises(Crash):
        Trainer(cfg2, tmp_path / "b", device="cpu", progress=False, callbacks=[crash]).fit()
    res = Trainer(cfg2, tmp_path / "b", device="cpu", progress=False, resume=True)
    res.fit()
    for k, v in ref.G_eval.state_dict().items():
        assert torch.equal(v, res.G_eval.state_dict()[k]), k
    with pytest.raises(ConfigError, match="train.ema"):
        tiny("train.ema=1.0")


def test_ema_batchnorm_statistics_belong_to_the_averaged_weights(tmp_path):
    from torch.optim.swa_utils import update_bn

    t = Trainer(tiny("train.steps=6", "train.ema=0.9", "train.ema_bn_batches=3"), tmp_path / "a", device="cpu",
                progress=False)
    t.fit()
    G = t.G_eval
    bn = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn and len(t.ema_bn_inputs()) == 3
    expect = copy.deepcopy(G)
    torch.manual_seed(t.cfg["seed"])
    update_bn(t.ema_bn_inputs(), expect)  # a cumulative average over the fixed batches, EMA weights
    for (k, a), b in zip(G.named_buffers(), expect.buffers()):
        assert torch.allclose(a, b, atol=1e-6), k
    before = {k: v.clone() for k, v in G.state_dict().items()}
    # the live model trains on (and its BN statistics follow) other batches; the evaluated model
    # depends on the averaged weights alone, and refreshing it leaves the global RNG as it was
    t.G.train()
    with torch.no_grad():
        t.G(torch.randn_like(t.ema_bn_inputs()[0]) * 3 + 1)
    rng = torch.get_rng_state()
    t.step += 1  # stale: the next use re-estimates
    after = t.G_eval.state_dict()
    assert torch.equal(rng, torch.get_rng_state())
    for k, v in before.items():
        assert torch.equal(v, after[k]), k

    old = Trainer(tiny("train.steps=6", "train.ema=0.9", "train.ema_bn_batches=0"), tmp_path / "b", device="cpu",
                  progress=False)
    old.fit()
    for (k, b_live), (_, b_avg) in zip(old.G.named_buffers(), old.G_eval.named_buffers()):
        assert torch.equal(b_live, b_avg), k  # 0: the live model's statistics, copied
    with pytest.raises(ConfigError, match="ema_bn_batches"):
        tiny("train.ema_bn_batches=-1")


def test_ema_warmup_does_not_drag_the_initialisation():
    from infoflow.experiments.train import ema_warmup

    ema, cur = [torch.zeros(3)], [torch.ones(3)]
    upd = ema_warmup(0.999)
    upd(ema, cur, torch.tensor(1))  # decay (1+1)/(10+1) = 0.18: mostly the current weights
    assert ema[0][0].item() == pytest.approx(1 - 2 / 11)


# ------------------------------------------------------------------------------ L1-only control
def test_l1_only_control_leaves_d_untouched(tmp_path):
    t = Trainer(tiny("train.steps=4", "loss.lambda_adv=0", "train.diagnostics_every=2"), tmp_path / "l1",
                device="cpu", progress=False)
    torch.manual_seed(0)
    t.fit()
    fresh = Trainer(tiny("train.steps=4"), tmp_path / "other", device="cpu", progress=False)
    fresh._setup()  # the same seed builds the same initial D
    for k, v in fresh.D.state_dict().items():
        assert torch.equal(v, t.D.state_dict()[k]), k
    r = rows(tmp_path / "l1")
    assert not any(x["metric"] == "loss_d" for x in r)
    assert not any(x["split"] == "gradients" for x in r)  # no adversarial term: no balance to measure
    assert any(x["split"] == "infoplane" for x in r)
    with pytest.raises(ConfigError, match="lambda_adv"):
        tiny("loss.lambda_adv=-1")


# ------------------------------------------------------------------------------ whole-image scores
def test_final_scores_are_on_whole_test_images(tmp_path):
    cfg = tiny("data.test_images=2")
    s = Trainer(cfg, tmp_path / "run", device="cpu", progress=False).fit()
    full = build_test_pairs(cfg, crop=None)
    crops = build_test_pairs(cfg)
    assert full[0][2].shape[0] > crops[0][2].shape[0]  # the crops are only for the convergence curve
    assert {"psnr", "ssim", "swd"} <= set(s["test_full"]) and s["test_full"]["swd"] > 0
    assert s["test_full"]["psnr_input"] == pytest.approx(
        np.mean([_psnr(x, y) for _, x, y in full]), abs=1e-6)


def _psnr(x, y):
    from infoflow.experiments.data import psnr

    return psnr(x, y)


def test_worker_processes_give_the_same_training_as_the_main_thread(tmp_path):
    """data.workers=2 builds batches in two processes ahead of the step; every batch is a pure
    function of (seed, step), so the trained weights equal the synchronous run's exactly — also
    across a crash and resume with workers on."""
    from infoflow.experiments.data import StepBatches, batch_loader

    sync = Trainer(tiny("train.steps=6", "data.workers=0", "train.diagnostics_every=1"), tmp_path / "a", device="cpu", progress=False)
    sync.fit()

    def crash(ctx):
        if ctx.step == 5:
            raise RuntimeError("crash")
        return []

    cfg = tiny("train.steps=6", "data.workers=2", "train.ckpt_every=2", "train.diagnostics_every=1")
    with pytest.raises(RuntimeError, match="crash"):
        Trainer(cfg, tmp_path / "b", device="cpu", progress=False, callbacks=[crash]).fit()
    res = Trainer(cfg, tmp_path / "b", device="cpu", progress=False, resume=True)
    res.fit()
    for k, v in sync.G.state_dict().items():
        assert torch.equal(v, res.G.state_dict()[k]), k
    # the loader serves the steps in order, identical to indexing on the main thread
    b = StepBatches(sync.train_set, 2, seed=0)
    for (x, y), s in zip(batch_loader(b, 3, 6, workers=2), range(3, 7)):
        assert torch.equal(x, b[s][0]) and torch.equal(y, b[s][1])
    assert not torch.equal(b[3][0], b[4][0])  # different steps draw different batches


def test_workers_setting_is_validated(tmp_path):
    with pytest.raises(ConfigError, match="data.workers"):
        tiny("data.workers=-1")
