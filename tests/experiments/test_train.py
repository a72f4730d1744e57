"""Trainer: run folder contents, no overwrite, crash + resume equality on CPU, clear config errors."""
import csv
import json

import pytest
import torch
import yaml

from infoflow.experiments.cli import main, parse_params
from infoflow.experiments.config import ConfigError, load_config, resolve_config
from infoflow.experiments.runfolder import RunExistsError
from infoflow.experiments.train import Trainer, resolve_amp

TINY = ["model.depth=2", "model.ngf=4", "disc.ndf=4", "disc.n_layers=2", "data.crop=16", "data.batch_size=2",
        "data.train_patches=32", "data.test_images=1", "data.test_crop=32", "train.steps=8",
        "train.log_every=1", "train.eval_every=4", "train.ckpt_every=3", "train.sample_every=4",
        "train.diagnostics_every=0"]


def tiny(*extra, task="denoise"):
    return resolve_config({"task": task}, [*TINY, *extra])


def rows(path):
    with open(path / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_run_folder_contents(tmp_path):
    out = tmp_path / "run"
    summary = Trainer(tiny(), out, device="cpu", progress=False).fit()
    for f in ("config.yaml", "manifest.json", "metrics.csv", "DONE", "checkpoints/last.pt", "samples/step_000008.png"):
        assert (out / f).exists(), f
    man = json.loads((out / "manifest.json").read_text())
    assert {"git_sha", "git_dirty", "argv", "versions", "device", "seed"} <= set(man)
    r = rows(out)
    assert list(r[0])[:4] == ["step", "split", "metric", "value"]
    assert {x["metric"] for x in r if x["split"] == "test"} >= {"psnr", "ssim", "psnr_input"}
    assert summary["test"]["psnr"] > 0
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["depth"] == 2
    state = torch.load(out / "checkpoints/last.pt", weights_only=True)
    assert state["step"] == 8
    with pytest.raises(RunExistsError, match="finished run"):
        Trainer(tiny(), out, device="cpu", progress=False).fit()


def test_unfinished_run_needs_resume(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.csv").write_text("step,split,metric,value\n")
    with pytest.raises(RunExistsError, match="--resume"):
        Trainer(tiny(), out, device="cpu", progress=False).fit()


def test_a_run_folder_another_live_process_trains_is_refused_and_left_as_it_is(tmp_path):
    import json
    import platform
    import subprocess
    import sys

    from infoflow.experiments.runfolder import LOCK_NAME, RunLockedError

    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (out / LOCK_NAME).write_text(json.dumps({"pid": holder.pid, "host": platform.node(), "since": "now"}))
        with pytest.raises(RunLockedError, match=f"in use by another process \\(pid {holder.pid}"):
            Trainer(tiny(), out, device="cpu", progress=False, resume=True).fit()
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written, the LOCK kept
    finally:
        holder.kill()
        holder.wait()
    Trainer(tiny("train.steps=2"), out, device="cpu", progress=False).fit()  # its holder gone: taken over
    assert (out / "DONE").exists() and not (out / LOCK_NAME).exists()


class Crash(Exception):
    pass


def test_crash_then_resume_equals_uninterrupted_run(tmp_path):
    """Diagnostics on (every 2 steps) in both runs: they must not perturb training either."""
    ref = Trainer(tiny("train.steps=10", "train.diagnostics_every=2"), tmp_path / "a", device="cpu", progress=False)
    ref.fit()

    def crash_at_7(ctx):
        if ctx.step == 8:
            raise Crash()
        return []

    cfg = tiny("train.steps=10", "train.diagnostics_every=1")
    cfg["train"]["diagnostics_every"] = 2
    with pytest.raises(Crash):
        Trainer(cfg, tmp_path / "b", device="cpu", progress=False, callbacks=[crash_at_7]).fit()
    assert not (tmp_path / "b" / "DONE").exists()
    res = Trainer(cfg, tmp_path / "b", device="cpu", progress=False, resume=True)
    res.fit()
    for k, v in ref.G.state_dict().items():
        assert torch.equal(v, res.G.state_dict()[k]), k
    for k, v in ref.D.state_dict().items():
        assert torch.equal(v, res.D.state_dict()[k]), k
    a, b = rows(tmp_path / "a"), rows(tmp_path / "b")
    assert any(r["split"] == "infoplane" for r in a) and any(r["split"] == "gradients" for r in a)
    key = lambda r: (r["step"], r["split"], r["metric"], r["layer"])  # noqa: E731
    assert sorted(map(key, a)) == sorted(map(key, b))  # no row lost or duplicated
    assert {key(r): r["value"] for r in a} == {key(r): r["value"] for r in b}


@pytest.mark.parametrize("adv", ["vanilla", "lsgan", "wgangp", "hinge", "relativistic", "saturating"])
def test_every_loss_trains(tmp_path, adv):
    s = Trainer(tiny("train.steps=2", f"loss.adversarial={adv}", "model.detail_branch=true",
                     "model.global_residual=true"), tmp_path / adv, device="cpu", progress=False).fit()
    assert s["steps"] == 2


@pytest.mark.parametrize("task", ["derain", "dehaze"])
def test_rgb_tasks_train(tmp_path, task):
    s = Trainer(tiny("train.steps=2", task=task), tmp_path / task, device="cpu", progress=False).fit()
    assert "psnr_y" in s["test"]


def test_bad_configs_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'model.dept'.*'depth'"):
        resolve_config({}, ["model.dept=3"])
    with pytest.raises(ConfigError, match="unknown config key 'trian'"):
        resolve_config({"trian": {}})
    with pytest.raises(ConfigError, match="data.crop=36 must be divisible"):
        resolve_config({}, ["data.crop=36", "model.depth=3"])
    with pytest.raises(ConfigError, match="too small for disc.n_layers=3"):
        resolve_config({}, ["data.crop=16", "model.depth=2"])
    with pytest.raises(ConfigError, match="loss.adversarial='wgan'"):
        resolve_config({}, ["loss.adversarial=wgan"])
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_config({"preset": "pix3pix"})
    p = tmp_path / "c.yaml"
    p.write_text("- just a list\n")
    assert main(["train", "--config", str(p)]) == 2
    assert main(["train", "--config", str(tmp_path / "nope.yaml")]) == 2
    p.write_text("train:\n  steps: [1, 2\n")  # a YAML syntax error: one line naming where, no parser traceback
    with pytest.raises(ConfigError, match=r"c.yaml is not valid YAML: expected ',' or '\]'.* at line 3, column 1"):
        load_config(p)
    with pytest.raises(ConfigError, match=r"--set 'train.steps=\[1,': the value is not valid YAML"):
        resolve_config({}, ["train.steps=[1,"])
    with pytest.raises(ValueError, match=r"--param 'k=\[1,': the value is not valid YAML"):
        parse_params(["k=[1,"])


def test_cli_train_and_evaluate(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--out", str(out), "--device", "cpu", "--no-progress", *sum([["--set", s] for s in TINY], []),
                 "--set", "train.steps=3"]) == 0
    assert (out / "DONE").exists()
    assert main(["evaluate", str(out), "--dataset", "embedded", "--limit", "2", "--crop", "32"]) == 0
    txt = capsys.readouterr().out
    assert "mean" in txt and (out / "eval_embedded.csv").exists()
    assert main(["train", "--out", str(out), *sum([["--set", s] for s in TINY], [])]) == 2  # finished: refused


def test_channels_last_trains_like_contiguous(tmp_path):
    a = Trainer(tiny("train.steps=3", "train.channels_last=false"), tmp_path / "a", device="cpu", progress=False)
    a.fit()
    b = Trainer(tiny("train.steps=3", "train.channels_last=true"), tmp_path / "b", device="cpu", progress=False)
    b.fit()
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["channels_last"] is False
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["channels_last"] is True
    assert b.G.enc2[1].weight.is_contiguous(memory_format=torch.channels_last)
    assert not a.G.enc2[1].weight.is_contiguous(memory_format=torch.channels_last)
    for k, v in a.G.state_dict().items():
        assert torch.allclose(v.float(), b.G.state_dict()[k].float(), atol=1e-4), k


def test_channels_last_auto_is_on_for_cpu_only(tmp_path):
    from infoflow.experiments.builders import resolve_channels_last

    assert resolve_channels_last("auto", torch.device("cpu")) is True
    assert resolve_channels_last("auto", torch.device("cuda")) is False
    assert resolve_channels_last(False, torch.device("cpu")) is False
    assert Trainer(tiny(), tmp_path / "x", device="cpu", progress=False).channels_last is True  # the default
    assert resolve_channels_last("auto", torch.device("cpu"), own_modules=False) is False

    class Flat(torch.nn.Module):  # a user's G whose .view needs contiguous NCHW activations
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)

        def forward(self, x):
            h = self.conv(x).view(x.shape[0], -1)
            return torch.tanh(h.view(x.shape[0], 4, *x.shape[2:]).mean(1, keepdim=True))

    nhwc = torch.randn(2, 1, 16, 16).contiguous(memory_format=torch.channels_last)
    with pytest.raises(RuntimeError, match="view size"):  # what NHWC would do to it
        Flat().to(memory_format=torch.channels_last)(nhwc)
    t = Trainer(tiny("train.steps=2"), tmp_path / "user", device="cpu", progress=False, G=Flat())
    assert t.channels_last is False
    assert t.fit()["steps"] == 2
    with pytest.raises(ConfigError, match="train.channels_last must be true, false or auto"):
        tiny("train.channels_last=sometimes")


def test_fused_adam_takes_the_default_steps():
    """build_optimizers' fused kernel (CPU too) takes the steps of torch's default Adam."""
    from infoflow.experiments.builders import adam

    torch.manual_seed(0)
    w0 = [torch.randn(17, 5), torch.randn(3)]
    a, b = ([w.clone().requires_grad_() for w in w0] for _ in range(2))
    fused, plain = adam(a, 1e-2, (0.5, 0.999)), torch.optim.Adam(b, lr=1e-2, betas=(0.5, 0.999))
    assert fused.defaults["fused"] is True
    for step in range(20):
        for opt, ps in ((fused, a), (plain, b)):
            loss = sum(((p - step) ** 2).sum() for p in ps)
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p, q, w in zip(a, b, w0):
        assert torch.allclose(p, q, atol=1e-5)
        assert (p - w).abs().max() > 0.1  # both moved: the comparison is not vacuous


def test_amp_setting_is_validated(tmp_path):
    with pytest.raises(ValueError, match="train.amp='fp8'"):
        Trainer(tiny("train.amp=fp8"), tmp_path / "x", device="cpu", progress=False).fit()


@pytest.mark.parametrize("native,emulated,expect", [(True, True, "bf16"), (False, True, "fp16"), (False, False, "fp16")])
def test_amp_true_picks_a_dtype_the_gpu_has(monkeypatch, native, emulated, expect):
    """Pre-Ampere GPUs (T4, V100): bf16 autocast would raise inside torch, so `true` picks fp16."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True:
                        native or (emulated and including_emulation))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Tesla T4")
    cuda = torch.device("cuda")
    assert resolve_amp(True, cuda) == expect
    assert resolve_amp(True, torch.device("cpu")) is None
    assert resolve_amp("fp16", torch.device("cpu")) == "fp16"
    assert resolve_amp(False, cuda) is None
    if emulated:
        assert resolve_amp("bf16", cuda) == "bf16"  # asked for explicitly and possible (if emulated)
    else:
        with pytest.raises(ValueError, match="Tesla T4 has no bfloat16 support"):
            resolve_amp("bf16", cuda)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_trains_and_resumes_exactly(tmp_path, amp):
    """The AMP path (autocast + fp16 GradScaler, scaled WGAN-GP) on CPU: finite losses, the scaler
    state checkpointed, and crash + resume equal to an uninterrupted run."""
    cfg = tiny("train.steps=12", f"train.amp={amp}", "loss.adversarial=wgangp", "train.diagnostics_every=1")
    ref = Trainer(cfg, tmp_path / "a", device="cpu", progress=False)
    ref.fit()
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["amp"] == amp
    state = torch.load(tmp_path / "a" / "checkpoints/last.pt", weights_only=True)
    assert ("scaler" in state) == (amp == "fp16")
    logged = rows(tmp_path / "a")
    assert all(float(r["value"]) == float(r["value"]) for r in logged)  # no NaN logged
    if amp == "fp16":  # fp16 overflows in WGAN-GP's double backward at first: skipped, then the scale drops
        skipped = [float(r["value"]) for r in logged if r["metric"] == "amp_skipped"]
        assert len(skipped) == 12 and skipped[0] == 1.0 and 0.0 in skipped, skipped
        assert ref.scaler.get_scale() < 2.0**16

    def crash(ctx):
        if ctx.step == 11:
            raise Crash()
        return []

    with pytest.raises(Crash):
        Trainer(cfg, tmp_path / "b", device="cpu", progress=False, callbacks=[crash]).fit()
    if amp == "fp16":  # a scale the resumed run must pick up, not reset to the default 2**16
        state = torch.load(tmp_path / "b" / "checkpoints/last.pt", weights_only=True)
        at_10 = [float(r["value"]) for r in logged if r["metric"] == "amp_scale" and r["step"] == "10"]
        assert state["step"] == 9 and [state["scaler"]["scale"]] == at_10 and at_10[0] < 2.0**16
    res = Trainer(cfg, tmp_path / "b", device="cpu", progress=False, resume=True)
    res.fit()
    for k, v in ref.G.state_dict().items():
        assert torch.equal(v, res.G.state_dict()[k]), k
    if amp == "fp16":
        assert res.scaler.state_dict() == ref.scaler.state_dict()


def test_endless_fp16_skipping_is_reported_as_divergence(tmp_path, monkeypatch):
    import infoflow.experiments.training.step as step_mod
    import infoflow.experiments.training.trainer as train_mod

    nan = float("nan")
    monkeypatch.setattr(step_mod, "MAX_SKIPPED_STEPS", 3)
    monkeypatch.setattr(train_mod, "gan_step", lambda *a, **k: {"loss_d": nan, "loss_g": nan, "loss_g_adv": nan,
                        "loss_g_content": nan, "d_real": nan, "d_fake": nan, "amp_scale": 1.0, "amp_skipped": 1.0})
    with pytest.raises(FloatingPointError, match="skipped 4 steps in a row"):
        Trainer(tiny("train.amp=fp16"), tmp_path / "x", device="cpu", progress=False).fit()


@pytest.mark.slow
def test_torch_compile_switch_trains(tmp_path):
    """torch.compile on CPU needs a C++ toolchain and ~1 min: run with `make test-slow`."""
    s = Trainer(tiny("train.steps=3", "train.compile=true"), tmp_path / "c", device="cpu", progress=False).fit()
    assert s["steps"] == 3
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["compile"] is True


def test_cli_analyse_merges_analyses(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--device", "cpu", "--no-progress", *sum([["--set", s] for s in TINY], []),
                 "--set", "train.steps=2", "--set", "diagnostics.d_probe_steps=4"]) == 0
    assert main(["analyse", str(out), "--what", "detail", "--device", "cpu"]) == 0
    with open(out / "analysis.csv", newline="") as f:
        detail = [r for r in csv.DictReader(f)]
    assert {r["split"] for r in detail} == {"detail"}
    assert main(["analyse", str(out), "--what", "d_probe", "detail", "--device", "cpu"]) == 0
    with open(out / "analysis.csv", newline="") as f:
        both = list(csv.DictReader(f))
    assert {r["split"] for r in both} == {"detail", "d_probe"}
    assert sum(r["split"] == "detail" for r in both) == len(detail)  # recomputed, not duplicated
    assert {r["layer"] for r in both if r["split"] == "d_probe"} == {"vanilla", "saturating"}
    txt = capsys.readouterr().out
    assert "[d_probe]" in txt and "retained" in txt and "[detail]" in txt
    assert main(["analyse", str(out), "--what", "probe"]) == 2
    assert "unknown analysis ['probe']" in capsys.readouterr().err
    # the run folder after a multi-value --what is still the run folder, and a,b lists work
    assert main(["analyse", "--what", "detail,d_probe", str(out), "--device", "cpu"]) == 0
    assert main(["analyse", "--what", "detail", "probe", "--device", "cpu"]) == 2
    assert "name the run folder" in capsys.readouterr().err


def test_config_values_are_read_as_meant_and_type_checked():
    cfg = resolve_config({}, ["optim.lr_g=1e-3", "loss.lambda_content=10"])
    assert cfg["optim"]["lr_g"] == 0.001 and isinstance(cfg["loss"]["lambda_content"], float)
    cfg = resolve_config({"optim": {"lr_d": "5e-4"}})  # a YAML file's 5e-4 is a string to YAML 1.1
    assert cfg["optim"]["lr_d"] == 0.0005
    with pytest.raises(ConfigError, match=r"model.ngf must be an integer, got 'abc'"):
        resolve_config({}, ["model.ngf=abc"])
    with pytest.raises(ConfigError, match=r"optim.beta1 must be a number, got 'fast'"):
        resolve_config({}, ["optim.beta1=fast"])
    with pytest.raises(ConfigError, match=r"model.skips must be true/false"):
        resolve_config({}, ["model.skips=3"])
    with pytest.raises(ConfigError, match=r"train must be a mapping"):
        resolve_config({"train": 5})


def test_wgangp_gets_a_critic_without_batch_coupling():
    assert resolve_config({}, ["loss.adversarial=wgangp"])["disc"]["norm"] == "layer"
    assert resolve_config({}, [])["disc"]["norm"] == "batch"  # pix2pix's PatchGAN otherwise
    assert resolve_config({}, ["loss.adversarial=wgangp", "disc.norm=instance"])["disc"]["norm"] == "instance"
    with pytest.raises(ConfigError, match="per sample"):
        resolve_config({}, ["loss.adversarial=wgangp", "disc.norm=batch"])
    from infoflow.experiments.builders import build_discriminator

    D = build_discriminator(resolve_config({}, ["loss.adversarial=wgangp"]))
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())


def test_cli_set_takes_several_pairs(tmp_path):
    out = tmp_path / "cli"
    assert main(["train", "--out", str(out), "--device", "cpu", "--no-progress", "--set", *TINY,
                 "--set", "train.steps=2", "optim.lr_g=1e-3"]) == 0
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["train"]["steps"] == 2 and cfg["optim"]["lr_g"] == 0.001 and cfg["model"]["depth"] == 2


def test_failed_setup_leaves_no_half_made_run_folder(tmp_path):
    data = tmp_path / "pairs"
    for sub in ("input", "target"):
        (data / sub).mkdir(parents=True)
        (data / sub / "a.png").write_bytes(b"not a png")  # corrupt
    out = tmp_path / "run"
    with pytest.raises(Exception, match="a.png"):
        Trainer(tiny(f"data.paired_root={data}"), out, device="cpu", progress=False).fit()
    assert not out.exists()
    out.mkdir()  # an empty folder the user made stays, empty
    with pytest.raises(Exception, match="a.png"):
        Trainer(tiny(f"data.paired_root={data}"), out, device="cpu", progress=False).fit()
    assert out.is_dir() and not any(out.iterdir())
