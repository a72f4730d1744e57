"""Shapes for every switch combination; each loss's gradient sign/behaviour on toy inputs."""
import itertools

import pytest
import torch

from infoflow.models import ADVERSARIAL_LOSSES, GeneratorObjective, PatchDiscriminator, UNetGenerator, get_adversarial
from infoflow.models import get_preset, gradient_penalty

COMBOS = list(itertools.product([1, 3], [2, 4], [True, False], [0, 2], [False, True], [False, True],
                                ["batch", "instance", "none"]))


@pytest.mark.parametrize("ch,depth,skips,res,detail,resid,norm", COMBOS)
def test_generator_shapes_every_switch(ch, depth, skips, res, detail, resid, norm):
    g = UNetGenerator(ch, ch, depth=depth, ngf=4, norm=norm, skips=skips, res_blocks=res, detail_branch=detail,
                      detail_ch=4, global_residual=resid)
    x = torch.randn(2, ch, 32, 32)
    y = g(x)
    assert y.shape == x.shape
    if not resid:
        assert y.abs().max() <= 1.0  # Tanh output
    y.mean().backward()
    assert all(p.grad is not None for p in g.parameters() if p.requires_grad)


def test_pix2pix_preset_matches_the_paper():
    p = get_preset("pix2pix")
    g = UNetGenerator(3, 3, **p["model"])
    assert sum(q.numel() for q in g.parameters()) == pytest.approx(54.41e6, rel=1e-3)  # pix2pix U-Net-256
    assert g(torch.randn(1, 3, 256, 256)).shape == (1, 3, 256, 256)
    assert sum(isinstance(m, torch.nn.Dropout) for m in g.modules()) == 3
    assert (p["optim"]["lr_g"], p["optim"]["beta1"], p["loss"]["lambda_content"]) == (2e-4, 0.5, 100.0)
    d = PatchDiscriminator(3, 3, **p["disc"])
    assert d(torch.randn(1, 3, 256, 256), torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    assert PatchDiscriminator.receptive_field(3) == 70


def test_skips_off_removes_the_skip_path():
    torch.manual_seed(0)
    g = UNetGenerator(1, 1, depth=3, ngf=4, norm="none", skips=False, dropout=0)
    assert g.dec2[1].in_channels == g.channels[1]  # no concatenated encoder channels
    g2 = UNetGenerator(1, 1, depth=3, ngf=4, norm="none", skips=True, dropout=0)
    assert g2.dec2[1].in_channels == 2 * g2.channels[1]


def test_global_residual_with_zero_last_layer_is_identity():
    g = UNetGenerator(3, 3, depth=2, ngf=4, norm="none", global_residual=True, detail_branch=True, detail_ch=4)
    torch.nn.init.zeros_(g.dec1[1].weight)
    torch.nn.init.zeros_(g.dec1[1].bias)
    for m in g.detail.inject:
        torch.nn.init.zeros_(m.weight)
        torch.nn.init.zeros_(m.bias)
    x = torch.randn(1, 3, 16, 16)
    assert torch.allclose(g(x), x)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="divisible by 16"):
        UNetGenerator(1, 1, depth=4, ngf=4)(torch.randn(1, 1, 24, 24))
    with pytest.raises(ValueError, match="norm='group'"):
        UNetGenerator(1, 1, depth=2, norm="group")
    with pytest.raises(ValueError, match="global_residual needs in_ch == out_ch"):
        UNetGenerator(1, 3, global_residual=True)


@pytest.mark.parametrize("name", sorted(ADVERSARIAL_LOSSES))
def test_discriminator_loss_pushes_real_up_and_fake_down(name):
    loss = get_adversarial(name)
    real = torch.full((4, 1, 3, 3), 0.5, requires_grad=True)
    fake = torch.full((4, 1, 3, 3), 0.5, requires_grad=True)
    loss.d_loss(real, fake).backward()
    assert (real.grad < 0).all()  # descending the loss raises D(real)
    assert (fake.grad > 0).all()  # ... and lowers D(fake)


@pytest.mark.parametrize("name", sorted(ADVERSARIAL_LOSSES))
def test_generator_loss_pushes_fake_up(name):
    loss = get_adversarial(name)
    fake = torch.zeros(4, 1, 3, 3, requires_grad=True)
    loss.g_loss(fake, torch.ones(4, 1, 3, 3)).backward()
    assert (fake.grad < 0).all()


def test_saturating_loss_vanishes_where_vanilla_does_not():
    """D confidently rejects fakes (logit -10): minimax G gradient ~ 0, non-saturating stays ~ 1."""
    g = {}
    for name in ("saturating", "vanilla"):
        fake = torch.full((1, 1, 4, 4), -10.0, requires_grad=True)
        get_adversarial(name).g_loss(fake).backward()
        g[name] = fake.grad.abs().sum().item()
    assert g["saturating"] < 1e-3 * g["vanilla"]


def test_lsgan_gradient_grows_with_distance_from_target():
    a = torch.tensor([0.5], requires_grad=True)
    b = torch.tensor([-5.0], requires_grad=True)
    get_adversarial("lsgan").g_loss(a).backward()
    get_adversarial("lsgan").g_loss(b).backward()
    assert abs(b.grad.item()) > abs(a.grad.item())  # no saturation far from the decision boundary


def test_gradient_penalty_zero_for_unit_gradient_critic():
    class Lin(torch.nn.Module):  # D(x, y) = sum(w·y) with ||w|| = 1 -> ||∇|| = 1 everywhere
        def forward(self, x, y):
            w = torch.ones_like(y) / y[0].numel() ** 0.5
            return (w * y).flatten(1).sum(1)

    real, fake = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    assert gradient_penalty(Lin(), real, real, fake).item() == pytest.approx(0.0, abs=1e-10)

    class Steep(Lin):
        def forward(self, x, y):
            return 3 * super().forward(x, y)

    assert gradient_penalty(Steep(), real, real, fake, weight=1.0).item() == pytest.approx(4.0, rel=1e-5)


def test_relativistic_generator_needs_real_logits():
    with pytest.raises(ValueError, match="real images"):
        get_adversarial("relativistic").g_loss(torch.zeros(2))


def test_objective_terms_weighted():
    obj = GeneratorObjective("vanilla", "l1", lambda_adv=2.0, lambda_content=100.0)
    t = obj.terms(torch.zeros(1, 1, 2, 2), None, torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))
    assert t["content"].item() == pytest.approx(100.0)
    assert t["adversarial"].item() == pytest.approx(2.0 * 0.6931, rel=1e-3)
    with pytest.raises(ValueError, match="unknown GAN loss"):
        GeneratorObjective("wgan")


def test_input_gradient_under_fp16_scaler_does_not_underflow():
    """A critic whose input gradients (~1e-9) underflow in fp16: the scaled gradient matches fp32."""
    from infoflow.models.losses import input_gradient

    torch.manual_seed(0)
    critic = torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, 3, padding=1, bias=False) for _ in range(3)])
    with torch.no_grad():
        for c in critic:
            c.weight.fill_(1e-4)  # representable in fp16; the product of three is not
    mix = torch.randn(2, 1, 8, 8).requires_grad_(True)
    ref = input_gradient(critic(mix), mix)

    def half(scaler):
        with torch.autocast("cpu", dtype=torch.float16):
            d = critic(mix).float()
        return input_gradient(d, mix, scaler)

    assert ref.abs().min() > 0
    assert half(None).abs().max() == 0  # plain fp16: the input gradient underflowed to zero
    scaled = half(torch.amp.GradScaler("cpu", init_scale=2.0**14))
    assert torch.allclose(scaled, ref, rtol=0.05, atol=0)


def test_a_loss_declares_what_it_needs():
    """The trainer and the config read what a loss needs from the loss itself, not from its name."""
    from infoflow.experiments.config import ConfigError, resolve_config
    from infoflow.models.losses import ADVERSARIAL_LOSSES, AdversarialLoss, get_adversarial

    assert {n for n in ADVERSARIAL_LOSSES if get_adversarial(n).needs_real_logits} == {"relativistic"}
    assert {n for n in ADVERSARIAL_LOSSES if get_adversarial(n).needs_gp} == {"wgangp"}
    assert resolve_config({}, ["loss.adversarial=wgangp"])["disc"]["norm"] == "layer"
    assert resolve_config({}, ["loss.adversarial=hinge"])["disc"]["norm"] == "batch"
    import pytest

    with pytest.raises(ConfigError, match="gradient penalty is per sample.*instance, layer, none"):
        resolve_config({}, ["loss.adversarial=wgangp", "disc.norm=batch"])
    assert AdversarialLoss.d_norm is None and AdversarialLoss.d_norm_refused == ()
