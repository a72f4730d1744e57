"""The Trainer on other people's objects: a user's G, D, training pairs and test pairs; callbacks
get a StepContext, not the trainer; bad objects are refused with errors that name the problem."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from infoflow.experiments.data import psnr, to_tensor
from infoflow.experiments.evaluate import evaluate_run
from infoflow.experiments.train import StepContext, Trainer
from infoflow.experiments.training import Callback

from .test_train import Crash, rows, tiny


class TinyRestorer(nn.Module):
    """Not a U-Net: a strided encoder, an up-sampling decoder and a residual output."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(1, 6, 3, stride=2, padding=1)
        self.mid = nn.Conv2d(6, 6, 3, padding=1)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(6, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x + self.up(torch.relu(self.mid(torch.relu(self.down(x))))))


class TinyCritic(nn.Module):
    """Called as D(degraded, image) like the PatchGAN."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(2, 4, 4, stride=2, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, y], 1))


class NoisyPatches(torch.utils.data.Dataset):
    """(noisy, clean) 16² grey patches in [-1, 1], fixed by the index."""

    def __init__(self, n: int = 24) -> None:
        g = torch.Generator().manual_seed(5)
        self.clean = torch.rand(n, 1, 16, 16, generator=g) * 1.6 - 0.8
        self.noisy = (self.clean + 0.2 * torch.randn(n, 1, 16, 16, generator=g)).clamp(-1, 1)

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, i: int):
        return self.noisy[i], self.clean[i]


def make_test_pairs():
    rng = np.random.default_rng(3)
    clean = [rng.random((20, 28)) for _ in range(2)]  # whole images, not a multiple of anything
    return [(f"img{i}", np.clip(c + rng.normal(0, 0.1, c.shape), 0, 1), c) for i, c in enumerate(clean)]


def cfg(*extra):
    return tiny("data.mode=grey", "train.diagnostics_every=2", "diagnostics.d_probe_steps=4", *extra)


def objects():
    torch.manual_seed(0)
    return {"G": TinyRestorer(), "D": TinyCritic(), "train_set": NoisyPatches(), "test_pairs": make_test_pairs()}


def test_a_users_models_and_data_are_trained_diagnosed_and_scored(tmp_path):
    obj = objects()
    before = [p.detach().clone() for p in obj["G"].parameters()]
    tr = Trainer(cfg(), tmp_path / "r", device="cpu", progress=False, **obj)
    tr.fit()
    assert tr.G is obj["G"] and tr.D is obj["D"]  # the objects passed in are the ones trained
    assert any(not torch.equal(a, b) for a, b in zip(before, obj["G"].parameters()))
    man = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert man["generator"].endswith("TinyRestorer") and man["discriminator"].endswith("TinyCritic")
    assert man["data"] == "user"
    r = rows(tmp_path / "r")
    # the information plane taps the user's model where its resolution changes (not U-Net names)
    assert {x["layer"] for x in r if x["split"] == "infoplane"} == {"down", "up"}
    assert any(x["metric"] == "grad_ratio_adv_content" for x in r if x["split"] == "gradients")
    # scored on the given whole images: the input's PSNR is that of the pairs themselves
    want = np.mean([psnr(x, y) for _, x, y in make_test_pairs()])
    got = [float(x["value"]) for x in r if x["split"] == "test_full" and x["metric"] == "psnr_input"]
    assert got == [pytest.approx(want, abs=1e-6)]
    with pytest.raises(ValueError, match="trained a generator passed to the Trainer .*TinyRestorer"):
        evaluate_run(tmp_path / "r")  # its config does not build this model: said, not a state-dict traceback


def test_a_run_with_user_objects_resumes_exactly(tmp_path):
    ref = Trainer(cfg("train.steps=6"), tmp_path / "a", device="cpu", progress=False, **objects())
    ref.fit()

    def crash(ctx):
        if ctx.step == 4:
            raise Crash()
        return []

    with pytest.raises(Crash):
        Trainer(cfg("train.steps=6"), tmp_path / "b", device="cpu", progress=False, callbacks=[crash],
                **objects()).fit()
    res = Trainer(cfg("train.steps=6"), tmp_path / "b", device="cpu", progress=False, resume=True, **objects())
    res.fit()
    for a, b in zip(ref.G.state_dict().values(), res.G.state_dict().values()):
        assert torch.equal(a, b)


def test_a_mismatched_module_on_resume_is_named(tmp_path):
    def crash(ctx):
        raise Crash()

    with pytest.raises(Crash):
        Trainer(cfg("train.ckpt_every=1"), tmp_path / "b", device="cpu", progress=False, callbacks=[crash],
                **objects()).fit()
    other = {**objects(), "G": nn.Sequential(nn.Conv2d(1, 1, 3, padding=1))}
    with pytest.raises(ValueError, match="was trained with .*TinyRestorer as G; resuming with .*Sequential"):
        Trainer(cfg(), tmp_path / "b", device="cpu", progress=False, resume=True, **other).fit()
    with pytest.raises(ValueError, match="TinyRestorer as G; resuming with the one its config builds"):
        Trainer(cfg(), tmp_path / "b", device="cpu", progress=False, resume=True).fit()
    wider = objects()
    wider["G"].mid = nn.Conv2d(6, 6, 5, padding=2)  # the same class, other weights' shapes
    with pytest.raises(RuntimeError, match="does not fit the generator or discriminator"):
        Trainer(cfg(), tmp_path / "b", device="cpu", progress=False, resume=True, **wider).fit()
    assert not (tmp_path / "b" / "DONE").exists()  # the crashed run is kept, not overwritten


MODEL_FILE = """
import torch
from torch import nn

class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(4, 1, 3, padding=1))

    def forward(self, x):
        return torch.tanh(x + self.up(torch.relu(self.down(x))))

def make():
    return Residual()
"""


def test_cli_trains_a_generator_from_a_file(tmp_path, capsys):
    from infoflow.experiments.cli import main
    from infoflow.experiments.evaluate import evaluate_run

    from .test_train import TINY

    (tmp_path / "mymodel.py").write_text(MODEL_FILE)
    out = tmp_path / "run"
    sets = sum([["--set", s] for s in [*TINY, "data.mode=grey", "train.steps=3"]], [])
    assert main(["train", "--out", str(out), "--device", "cpu", "--no-progress", "--generator",
                 f"{tmp_path / 'mymodel.py'}:make", *sets]) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["generator"].endswith("Residual") and man["discriminator"] == "config"
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert set(state["G"]) == {"down.weight", "down.bias", "up.1.weight", "up.1.bias"}  # the file's model trained
    with pytest.raises(ValueError, match="passed to the Trainer"):
        evaluate_run(out)
    assert main(["train", "--out", str(tmp_path / "x"), "--generator", f"{tmp_path / 'mymodel.py'}:nope",
                 *sets]) == 2
    assert "no factory 'nope'" in capsys.readouterr().err


def test_callbacks_get_a_small_context(tmp_path):
    seen = []

    def spy(ctx):
        assert isinstance(ctx, StepContext)
        seen.append((ctx.step, ctx.G, ctx.G_eval, ctx.run_dir, ctx.is_main, ctx.cfg["seed"]))
        return [{"step": ctx.step, "split": "spy", "metric": "n", "value": float(len(seen))}]

    tr = Trainer(cfg("train.ema=0.9"), tmp_path / "r", device="cpu", progress=False, callbacks=[spy], **objects())
    tr.fit()
    assert [s[0] for s in seen] == [2, 4, 6, 8]
    assert all(s[1] is tr.G and s[2] is tr.G_ema.module and s[3] == tr.run.path and s[4] for s in seen)
    assert [float(x["value"]) for x in rows(tmp_path / "r") if x["split"] == "spy"] == [1, 2, 3, 4]
    assert not hasattr(seen[0], "opt_g")  # no optimisers, no run folder writer: nothing to train with


def test_an_old_style_callback_is_refused_by_name(tmp_path):
    def old(trainer, step):
        return []

    with pytest.raises(TypeError, match="one argument, a StepContext"):
        Trainer(cfg(), tmp_path / "r", device="cpu", progress=False, callbacks=[old])
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("bad, match", [
    ({"G": lambda x: x}, "G must be a torch.nn.Module"),
    ({"train_set": [torch.zeros(1, 16, 16)]}, "must be \\(degraded, clean\\) tensor pairs"),
    ({"train_set": [(torch.zeros(1, 16, 16), torch.zeros(1, 8, 8))]}, "one shape"),
    ({"train_set": [(torch.full((1, 16, 16), 255.0), torch.zeros(1, 16, 16))]}, "must be in \\[-1, 1\\]"),
    ({"train_set": [(torch.full((1, 16, 16), float("nan")), torch.zeros(1, 16, 16))]}, "NaN"),
    ({"train_set": []}, "train_set is empty"),
    ({"test_pairs": [("a", np.zeros((8, 8)), np.zeros((8, 9)))]}, "must be one"),
    ({"test_pairs": [("a", np.full((8, 8), 255.0), np.zeros((8, 8)))]}, "must be in \\[0, 1\\]"),
    ({"test_pairs": []}, "test_pairs is empty"),
])
def test_bad_objects_are_refused_with_the_problem_named(tmp_path, bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        Trainer(cfg(), tmp_path / "r", device="cpu", progress=False, **{**objects(), **bad})


def test_a_config_generator_refuses_training_pairs_of_the_wrong_channels(tmp_path):
    rgb = [(torch.zeros(3, 16, 16), torch.zeros(3, 16, 16))]
    with pytest.raises(ValueError, match="3 channels; the config's data.mode gives 1"):
        Trainer(cfg(), tmp_path / "r", device="cpu", progress=False, train_set=rgb)


def test_a_generator_that_changes_the_shape_is_named(tmp_path):
    shrink = nn.Conv2d(1, 1, 3)  # valid convolution: 16² -> 14²
    with pytest.raises(ValueError, match=r"maps a \(1, 1, 16, 16\) batch to \(1, 1, 14, 14\)"):
        Trainer(cfg(), tmp_path / "r", device="cpu", progress=False, **{**objects(), "G": shrink}).fit()
    assert not (tmp_path / "r").exists()  # a failed set-up leaves no half-made run folder


def test_to_tensor_pairs_are_accepted(tmp_path):
    """The documented way to build items: experiments.data.to_tensor of [0, 1] images."""
    img = np.random.default_rng(0).random((16, 16))
    pairs = [(to_tensor(img), to_tensor(img))] * 4
    Trainer(cfg("train.steps=2", "train.diagnostics_every=0"), tmp_path / "r", device="cpu", progress=False,
            **{**objects(), "train_set": pairs}).fit()
    assert (tmp_path / "r" / "DONE").exists()


# ------------------------------------------------------------------------------ hook objects
class CountSteps(Callback):
    """A user's hook: counts steps, keeps the count across a resume (in the checkpoint)."""

    def __init__(self):
        self.seen, self.started, self.ended, self.steps = 0, 0, 0, []

    def on_fit_start(self, trainer):
        self.started += 1

    def on_step_end(self, trainer, step, stats):
        self.seen += 1
        self.steps.append(step)
        assert {"loss_d", "loss_g"} <= set(stats) and trainer.step == step

    def on_fit_end(self, trainer, summary):
        self.ended += 1

    def state_dict(self):
        return {"count_steps_seen": self.seen}

    def load_state_dict(self, state):
        self.seen = int(state.get("count_steps_seen", 0))


def test_a_users_hook_object_sees_every_step_and_survives_a_resume(tmp_path):
    plain = CountSteps()
    Trainer(tiny("train.steps=10"), tmp_path / "plain", device="cpu", progress=False, callbacks=[plain]).fit()
    assert (plain.seen, plain.started, plain.ended, plain.steps) == (10, 1, 1, list(range(1, 11)))
    assert torch.load(tmp_path / "plain" / "checkpoints" / "last.pt", weights_only=True)["count_steps_seen"] == 10

    def crash(ctx):
        if ctx.step == 8:
            raise Crash()
        return []

    cfg = tiny("train.steps=10")
    cfg["train"]["diagnostics_every"] = 2
    first = CountSteps()
    with pytest.raises(Crash):
        Trainer(cfg, tmp_path / "b", device="cpu", progress=False, callbacks=[first, crash]).fit()
    assert first.seen == 7  # the crash is in the diagnostics hook of step 8, before this hook's turn
    again = CountSteps()
    Trainer(cfg, tmp_path / "b", device="cpu", progress=False, callbacks=[again], resume=True).fit()
    # the last checkpoint was step 6 (ckpt_every 3): the count comes back from it, then steps 7..10
    assert again.steps == [7, 8, 9, 10] and again.seen == 10 and again.ended == 1


def test_train_state_round_trips_and_names_a_checkpoint_that_does_not_fit(tmp_path):
    from infoflow.experiments.training import TrainState

    def make(width: int, seed: int) -> TrainState:
        torch.manual_seed(seed)
        G, D = nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(2, width, 3)
        return TrainState(G, D, torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3))

    a = make(1, 0)
    a.G(torch.randn(1, 1, 8, 8)).sum().backward()
    a.opt_g.step()  # optimiser moments to carry over
    a.step = 7
    b = make(1, 1)
    b.load_state_dict(a.state_dict())
    assert b.step == 7
    assert all(torch.equal(p, q) for p, q in zip(a.G.parameters(), b.G.parameters()))
    assert torch.equal(a.opt_g.state_dict()["state"][0]["exp_avg"], b.opt_g.state_dict()["state"][0]["exp_avg"])
    with pytest.raises(RuntimeError, match="ckpt.pt: the checkpoint does not fit"):
        make(2, 0).load_state_dict(a.state_dict(), "ckpt.pt")
    with pytest.raises(KeyError, match="not a training checkpoint"):
        b.load_state_dict({"G": {}}, "x.pt")


class Slow(Callback):
    """A hook that takes a known time: 20 ms a step."""

    def on_step_end(self, trainer, step, stats):
        import time

        time.sleep(0.02)


def test_done_says_where_the_time_went(tmp_path):
    """seconds_by_part names every built-in hook, a user's hooks (numbered when they share a class)
    and the update; a hook known to sleep 20 ms a step is charged at least that, and no more than
    the launch took; the parts add up to no more than fit()'s wall time (the hooks' ends and the
    final scores come after ``seconds_this_launch`` is taken, so that is not the bound)."""
    import time

    trainer = Trainer(tiny("train.steps=6"), tmp_path / "r", device="cpu", progress=False, callbacks=[Slow(), Slow()])
    t0 = time.perf_counter()
    trainer.fit()
    wall = time.perf_counter() - t0
    done = json.loads((tmp_path / "r" / "DONE").read_text())
    parts = done["seconds_by_part"]
    assert list(parts) == ["batches", "update", "LogTrainStats", "Diagnostics", "Evaluate", "Samples",
                           "Slow 1", "Slow 2", "Checkpoint", "final scores"]
    assert parts["Slow 1"] >= 6 * 0.02 and parts["Slow 2"] >= 6 * 0.02
    assert parts["update"] > 0 and parts["final scores"] > 0
    assert sum(parts.values()) <= wall + len(parts) * 5e-4  # each part is rounded to the ms


def test_a_hook_named_like_a_part_of_the_trainer_keeps_its_own_time():
    """A callback class called ``update`` gets its own entry, not the update's."""
    from infoflow.experiments.training.trainer import _part_names

    update = type("update", (Callback,), {})
    assert _part_names([update(), Slow(), update()]) == ["hook update 1", "Slow", "hook update 2"]
    assert _part_names([type("final scores", (Callback,), {})()]) == ["hook final scores"]
