"""A GAN loss of a user's own, from one module outside the package: registered, trained with, and
measured by the D-optimality probe like the built-in ones."""
import json
import sys
import textwrap

import pytest
import torch

from infoflow.experiments.cli import main
from infoflow.experiments.probe import d_optimality_probe
from infoflow.models import ADVERSARIAL_LOSSES, AdversarialLoss, PatchDiscriminator, UNetGenerator, get_adversarial
from infoflow.models import register_adversarial

from .test_train import TINY

PLUGIN = textwrap.dedent('''
    """Least squares with targets -1 / +1 and G's target 0 (Mao et al. 2017, the Pearson chi2 case)."""
    from infoflow.models import AdversarialLoss, register_adversarial


    @register_adversarial
    class PearsonLSGAN(AdversarialLoss):
        name = "lsgan-chi2"

        def d_loss(self, real, fake):
            return 0.5 * (((real - 1) ** 2).mean() + ((fake + 1) ** 2).mean())

        def g_loss(self, fake, real=None):
            return 0.5 * (fake ** 2).mean()
''')


@pytest.fixture
def user_loss(tmp_path):
    plugin = tmp_path / "my_loss.py"
    plugin.write_text(PLUGIN)
    yield plugin
    ADVERSARIAL_LOSSES.pop("lsgan-chi2", None)
    sys.modules.pop("my_loss", None)


def test_a_loss_from_a_user_module_trains_and_is_probed(tmp_path, user_loss):
    out = tmp_path / "run"
    assert main(["--plugin", str(user_loss), "train", "--out", str(out), "--device", "cpu", "--no-progress",
                 "--set", "loss.adversarial=lsgan-chi2", *TINY, "train.steps=4", "train.diagnostics_every=2"]) == 0
    assert json.loads((out / "DONE").read_text())["steps"] == 4
    loss = get_adversarial("lsgan-chi2")
    real, fake = torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 0.0])
    assert float(loss.d_loss(real, fake)) == pytest.approx(0.25)  # the user's formula, not a built-in's
    torch.manual_seed(0)
    G = UNetGenerator(1, 1, ngf=4, depth=2)
    x = torch.rand(8, 1, 16, 16) * 2 - 1
    rows = d_optimality_probe(G, lambda: PatchDiscriminator(1, 1, ndf=4, n_layers=2), ["lsgan-chi2"], (x, x), (x[:2], x[:2]),
                              steps=4, batch_size=4)
    assert {r["layer"] for r in rows} == {"lsgan-chi2"} and {r["split"] for r in rows} == {"d_probe"}
    jsd = [r["value"] for r in rows if r["metric"] == "jsd_lower_bound"]
    assert jsd and all(abs(v) < 10 for v in jsd)  # finite nats


def test_register_adversarial_refuses_what_it_cannot_use():
    class Nameless(AdversarialLoss):
        pass

    class Taken(AdversarialLoss):
        name = "lsgan"

    with pytest.raises(ValueError, match="needs its own `name`"):
        register_adversarial(Nameless)
    with pytest.raises(ValueError, match="a different GAN loss named 'lsgan'"):
        register_adversarial(Taken)
    with pytest.raises(TypeError, match="subclass of AdversarialLoss"):
        register_adversarial(object)
    assert register_adversarial(ADVERSARIAL_LOSSES["hinge"]) is ADVERSARIAL_LOSSES["hinge"]  # the same: a no-op


def test_running_a_loss_definition_again_replaces_it(user_loss):
    namespace = {"__name__": "my_loss"}
    exec(compile(PLUGIN, "my_loss.py", "exec"), namespace)
    first = ADVERSARIAL_LOSSES["lsgan-chi2"]
    exec(compile(PLUGIN.replace("0.5 * (fake ** 2)", "(fake ** 2)"), "my_loss.py", "exec"), namespace)
    assert ADVERSARIAL_LOSSES["lsgan-chi2"] is not first
    assert float(get_adversarial("lsgan-chi2").g_loss(torch.ones(2))) == pytest.approx(1.0)
