"""The Monitor as a Lightning callback: measures at the right steps, logs to the trainer's logger,
and leaves the training run exactly as it is without it."""
import warnings

import pytest
import torch
from torch import nn

pl = pytest.importorskip("pytorch_lightning")

from infoflow.infotheory.lightning import monitor_callback  # noqa: E402


class Restorer(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.G = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1),
                               nn.ReLU(), nn.Upsample(scale_factor=2), nn.Conv2d(4, 1, 3, padding=1))

    def training_step(self, batch, i):
        x, y = batch
        return nn.functional.l1_loss(self.G(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), 1e-3)


class Store(pl.loggers.logger.Logger if hasattr(pl.loggers, "logger") else object):
    def __init__(self):
        super().__init__()
        self.logged = []

    name, version, experiment = "store", 0, None

    def log_metrics(self, metrics, step=None):
        self.logged.append((step, dict(metrics)))

    def log_hyperparams(self, *a, **k):
        pass


def fit(callbacks, logger=False):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    y = torch.rand(32, 1, 16, 16, generator=g)
    data = torch.utils.data.TensorDataset(y + 0.1 * torch.randn(y.shape, generator=g), y)
    model = Restorer()
    trainer = pl.Trainer(max_steps=6, accelerator="cpu", logger=logger, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, torch.utils.data.DataLoader(data, batch_size=4))
    return model


def test_callback_measures_every_n_steps_and_changes_nothing():
    probe = (torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16))
    cb = monitor_callback(probe, generator="G", every=2, layers=["1", "3"])
    logger = Store()
    with_cb = fit([cb], logger)
    without = fit([])
    table = cb.monitor.table()
    assert set(table.step) == {2, 4, 6}
    assert {"infoplane", "detail"} <= set(table.split)
    for k, v in without.state_dict().items():
        assert torch.equal(v, with_cb.state_dict()[k]), k
    ours = [(s, m) for s, m in logger.logged if any(t.startswith("infoflow/") for t in m)]
    assert [s for s, _ in ours] == [2, 4, 6] and any(t.startswith("infoflow/infoplane/") for t in ours[0][1])


def test_callback_names_a_missing_module():
    cb = monitor_callback((torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16)), generator="netG")
    with pytest.raises(AttributeError, match="netG.*'G'"):
        fit([cb])
    with pytest.raises(ValueError, match="both discriminator and objective"):
        monitor_callback((torch.rand(2, 1, 8, 8),) * 2, generator="G", discriminator="D")
