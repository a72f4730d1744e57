"""The monitor in a user's own training loop: three lines, tidy rows, and a run that trains
exactly as it would without it."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch.nn import functional as F

from infoflow.infotheory.monitor import Monitor, resolution_layers
from infoflow.models import UNetGenerator

from .third_party_models import DnCNN, concat_patchgan, resnet_generator


def _train(monitor_on: bool, steps: int = 6):
    torch.manual_seed(0)
    G, D = resnet_generator(), concat_patchgan()
    og, od = torch.optim.Adam(G.parameters(), 1e-3), torch.optim.Adam(D.parameters(), 1e-3)
    g = torch.Generator().manual_seed(1)
    probe_y = torch.rand(4, 1, 32, 32, generator=g) * 2 - 1
    probe = (probe_y + 0.2 * torch.randn(probe_y.shape, generator=g), probe_y)

    def objective(d_fake, d_real, fake, y):
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake)), 100 * F.l1_loss(fake, y)

    monitor = Monitor(G, probe, D=D, objective=objective, every=2) if monitor_on else None
    for step in range(steps):
        y = torch.rand(4, 1, 32, 32) * 2 - 1  # global RNG: a monitor that touched it would change these
        x = y + 0.2 * torch.randn_like(y)
        fake = G(x)
        real, fk = D(torch.cat([x, y], 1)), D(torch.cat([x, fake.detach()], 1))
        d_loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + \
            F.binary_cross_entropy_with_logits(fk, torch.zeros_like(fk))
        od.zero_grad()
        d_loss.backward()
        od.step()
        adv, content = objective(D(torch.cat([x, fake], 1)), None, fake, y)
        og.zero_grad()
        (adv + content).backward()
        og.step()
        if monitor is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                monitor(step)
    return G, D, monitor


def test_monitor_in_a_plain_loop_is_side_effect_free():
    G0, D0, _ = _train(False)
    G1, D1, mon = _train(True)
    for a, b in ((G0, G1), (D0, D1)):
        for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(v, w), k  # weights and BN statistics exactly as without the monitor
    tab = mon.table()
    assert set(tab.step) == {0, 2, 4}
    assert {"infoplane", "gradients", "detail"} <= set(tab.split)
    assert set(tab[tab.split == "infoplane"].layer) == set(mon.layers) == {"4", "7", "12", "15"}


def test_resolution_layers_finds_the_sampling_stages():
    G = UNetGenerator(1, 1, depth=3, ngf=4)
    names = resolution_layers(G, torch.rand(1, 1, 32, 32))
    assert names == ["enc1", "enc2", "enc3", "dec3", "dec2", "dec1"]
    assert resolution_layers(DnCNN(), torch.rand(1, 1, 16, 16)) == []  # full resolution throughout


def test_monitor_input_errors_are_named():
    G = DnCNN()
    with pytest.raises(ValueError, match="probe"):
        Monitor(G, (torch.rand(2, 1, 8, 8), torch.rand(2, 1, 4, 4)))
    with pytest.raises(ValueError, match="both D and objective"):
        Monitor(G, (torch.rand(2, 1, 8, 8),) * 2, D=concat_patchgan())
    # said at construction, not at the first measurement hundreds of steps later
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(TypeError, match=r"a \(degraded, clean\) pair"):
        Monitor(G, x)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="degraded batch has NaN"):
        Monitor(G, (bad, x))
    with pytest.raises(ValueError, match="no layer 'enc9'"):
        Monitor(G, (x, x), layers=["enc9"])
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        Monitor(G, (x, x), estimator="nope")
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['bins'\]"):
        Monitor(G, (x, x), estimator="binning", estimator_params={"bins": 8})
    with pytest.raises(ValueError, match="unknown method 'gauss'"):
        Monitor(G, (x, x), detail_estimator="gauss")
