"""TensorBoard view of the tidy rows: what the event files hold equals the table, for the Monitor
in a user's loop and for the trainer (samples, information-plane figure, resume without duplicates)."""
import csv

import pytest
import torch

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from infoflow.experiments.train import Trainer  # noqa: E402
from infoflow.infotheory import Monitor, TensorBoardLog  # noqa: E402
from infoflow.infotheory.tensorboard import scalar_tag  # noqa: E402
from tests.experiments.test_train import Crash, tiny  # noqa: E402


def events(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_monitor_writes_its_table_to_tensorboard(tmp_path):
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                            torch.nn.Conv2d(4, 4, 3, stride=2, padding=1), torch.nn.ReLU(),
                            torch.nn.Upsample(scale_factor=2), torch.nn.Conv2d(4, 1, 3, padding=1))
    y = torch.rand(4, 1, 16, 16)
    x = y + 0.1 * torch.randn_like(y)
    mon = Monitor(G, (x, y), every=2, tensorboard=tmp_path / "tb")
    for step in range(5):
        mon(step)
    mon.tensorboard.close()
    acc = events(tmp_path / "tb")
    table = mon.table()
    assert set(table.step) == {0, 2, 4}
    for r in table.to_dict("records"):
        got = {e.step: e.value for e in acc.Scalars(scalar_tag(r))}
        assert got[r["step"]] == pytest.approx(r["value"], rel=1e-6, abs=1e-6), scalar_tag(r)
    assert any(t.startswith("infoplane/I(X;T)/") for t in acc.Tags()["scalars"])
    assert "infoplane/figure" in acc.Tags()["images"]


def test_trainer_logs_scalars_samples_and_resumes_without_duplicates(tmp_path):
    cfg = tiny("train.steps=8", "train.tensorboard=true", "train.diagnostics_every=2")

    def crash(ctx):
        if ctx.step == 8:
            raise Crash()
        return []

    with pytest.raises(Crash):
        Trainer(cfg, tmp_path / "r", device="cpu", progress=False, callbacks=[crash]).fit()
    Trainer(cfg, tmp_path / "r", device="cpu", progress=False, resume=True).fit()
    acc = events(tmp_path / "r" / "tensorboard")
    with open(tmp_path / "r" / "metrics.csv", newline="") as f:
        table = list(csv.DictReader(f))
    for tag, split, metric in [("train/loss_d", "train", "loss_d"), ("test/psnr", "test", "psnr")]:
        want = {int(r["step"]): float(r["value"]) for r in table if r["split"] == split and r["metric"] == metric}
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert sorted(s for s, _ in got) == sorted(want), (tag, got)  # every step once: the crashed launch purged
        for s, v in got:
            assert v == pytest.approx(want[s], rel=1e-6), (tag, s)
    assert any(t.startswith("gradients/") for t in acc.Tags()["scalars"])
    assert any(t.startswith("samples") for t in acc.Tags()["images"])
    assert "infoplane/figure" in acc.Tags()["images"]


def test_tensorboard_required_but_missing_is_a_clear_error(tmp_path, monkeypatch):
    import infoflow.infotheory.tensorboard as tbmod

    monkeypatch.setattr(tbmod, "tensorboard_available", lambda: False)
    assert TensorBoardLog.maybe("auto", tmp_path) is None and TensorBoardLog.maybe(False, tmp_path) is None
    with pytest.raises(ImportError, match="pip install tensorboard"):
        Trainer(tiny("train.steps=1", "train.tensorboard=true"), tmp_path / "x", device="cpu", progress=False).fit()
