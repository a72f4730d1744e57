"""Taps, information plane and the diagnostics on cases whose answer is known by construction."""
import math
import warnings

import pytest
import torch
from torch import nn

from infoflow.infotheory import GlobalPool, InformationPlane, LayerTap, PatchSample, RandomProjection, estimate_mi
from infoflow.infotheory.bands import laplacian_bands
from infoflow.infotheory.diagnostics import (GradientImbalanceWarning, abstraction_profile, detail_loss, gradient_balance,
                                    information_sources)
from infoflow.models import GeneratorObjective, PatchDiscriminator, UNetGenerator


class CopyZero(nn.Module):
    def __init__(self):
        super().__init__()
        self.copy = nn.Conv2d(8, 8, 1, bias=False)
        self.zero = nn.Conv2d(8, 8, 1, bias=False)
        with torch.no_grad():
            self.copy.weight.copy_(torch.eye(8)[:, :, None, None])
        nn.init.zeros_(self.zero.weight)

    def forward(self, x):
        return self.copy(x) + self.zero(x)


def all_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def test_copy_layer_keeps_everything_zero_layer_nothing():
    torch.manual_seed(0)
    m, x = CopyZero(), torch.randn(200, 8, 4, 4)
    with LayerTap(m, ["copy", "zero"], reduce="flatten") as tap:
        m(x)
    a = tap.activations
    assert torch.equal(a["copy"], x.flatten(1)) and (a["zero"] == 0).all()
    e = estimate_mi(x.flatten(1), a["copy"], method="kde", noise_variance=1e-3)
    assert e.saturated and e.value == pytest.approx(math.log(200), abs=1e-3)  # copy: I(X;T) = H(X) -> log N
    rows = InformationPlane(["copy", "zero"], "kde", {"noise_variance": 1e-4}, n_per_image=1).measure(m, x, x)
    v = {(r["layer"], r["metric"]): r for r in rows}
    assert v[("copy", "I(X;T)")]["saturated"] and v[("copy", "I(X;T)")]["value"] > 0.99 * math.log(200)
    assert v[("zero", "I(X;T)")]["value"] == 0.0 and v[("zero", "I(T;Y)")]["value"] == 0.0


def test_activations_survive_inplace_ops_and_gradients_match():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(2, 1, 1))
    ref = nn.Sequential(net[0], nn.LeakyReLU(0.2, inplace=False), net[2])
    x = torch.randn(3, 1, 5, 5)
    with LayerTap(net, "0", grads=True) as tap:
        net(x).square().sum().backward()
    pre = net[0](x).detach()
    assert torch.equal(tap.activations["0"], pre.flatten(1))  # not the in-place LeakyReLU'd values
    h = ref[0](x)
    h.retain_grad()
    ref[2](ref[1](h)).square().sum().backward()
    assert torch.allclose(tap.gradients["0"], h.grad.flatten(1), atol=1e-6)


def test_no_hook_left_behind_even_when_forward_raises():
    net = UNetGenerator(1, 1, depth=2, ngf=4)
    before = all_hooks(net)
    with pytest.raises(ValueError, match="divisible by 4"):
        with LayerTap(net, ["enc1", "dec1", "skip1"], grads=True):
            net(torch.randn(1, 1, 6, 6))
    assert all_hooks(net) == before == 0
    with pytest.raises(ValueError, match="no layer 'enc9'"):
        LayerTap(net, ["enc9"])
    with LayerTap(net, ["enc1"]):
        net(torch.randn(1, 1, 8, 8))
    assert all_hooks(net) == 0


def test_reductions_shapes_memory_bound_and_alignment():
    t = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    assert GlobalPool()(t).shape == (2, 3)
    ps = PatchSample(n_per_image=5, patch=2, seed=1)
    assert ps(t).shape == (10, 12)
    assert RandomProjection(4, seed=0)(t.flatten(1)).shape == (2, 4)
    assert torch.equal(RandomProjection(4, 0)(t.flatten(1)), RandomProjection(4, 0)(t.flatten(1)))
    # aligned: cells of a 4×4 feature map = the 2×2 patches under them in the 8×8 image
    y4, x4 = PatchSample(6, 1, 3).positions(4, 4)
    y8, x8 = PatchSample(6, 2, 3, stride=2).positions(8, 8)
    assert torch.equal(y8, 2 * y4) and torch.equal(x8, 2 * x4)
    assert len(set(zip(y4.tolist(), x4.tolist()))) == 6  # distinct positions
    assert PatchSample(50, 1, 0)(torch.zeros(2, 3, 2, 2)).shape == (8, 3)  # small map: all 4 cells, no repeats
    feat = torch.arange(16.0).reshape(1, 1, 4, 4)
    img = feat.repeat_interleave(2, -1).repeat_interleave(2, -2)  # each feature is its 2×2 input patch
    f = PatchSample(5, 1, 9)(feat)
    i = PatchSample(5, 2, 9, stride=2)(img)
    assert torch.equal(i, f.repeat(1, 4))
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1))
    with LayerTap(net, [net[0]], reduce=ps, max_samples=7) as tap:  # a module given by object
        net(torch.randn(4, 1, 8, 8))
        net(torch.randn(4, 1, 8, 8))
    assert tap.activations["0"].shape == (7, 4 * 4)  # 2 calls × 4 images × 5 patches, capped at 7
    assert tap.reductions and "patch_sample" in str(tap.reductions)


def test_low_pass_network_loses_the_high_band_identity_keeps_it():
    torch.manual_seed(0)
    y = torch.rand(8, 1, 32, 32) * 2 - 1
    x = y + 0.1 * torch.randn_like(y)
    blur = lambda t: laplacian_bands(t, 1)[1].repeat_interleave(2, -1).repeat_interleave(2, -2)  # noqa: E731
    low = {(r["layer"], r["metric"]): r["value"] for r in detail_loss(x, blur(x), y, levels=2)}
    ident = {(r["layer"], r["metric"]): r["value"] for r in detail_loss(x, y.clone(), y, levels=2)}
    assert low[("band0 (1/1)", "energy_retention")] < 0.2
    assert low[("band0 (1/1)", "detail_residual")] > 0.8
    assert ident[("band0 (1/1)", "energy_retention")] == pytest.approx(1.0)
    assert ident[("band0 (1/1)", "detail_residual")] == pytest.approx(0.0, abs=1e-10)
    assert low[("band0 (1/1)", "I(Y_b;Yhat_b)")] < low[("band0 (1/1)", "I(Y_b;X_b)")]
    noisy = {(r["layer"], r["metric"]): r["value"] for r in detail_loss(x, x + 0.3 * torch.randn_like(x), y)}
    assert noisy[("full", "dpi_holds")] == 1.0  # further noise cannot add information about Y


class ConstD(nn.Module):
    """A discriminator that confidently rejects everything: logits = bias + mean(y)."""

    def __init__(self, bias):
        super().__init__()
        self.bias = bias

    def forward(self, x, y):
        return self.bias + y.mean(dim=(1, 2, 3), keepdim=True)


def test_saturated_discriminator_gives_vanishing_adversarial_gradient():
    torch.manual_seed(0)
    G = UNetGenerator(1, 1, depth=2, ngf=4, norm="none", dropout=0)
    x, y = torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16)
    with pytest.warns(GradientImbalanceWarning, match="vanishing"):
        sat = gradient_balance(G, ConstD(-15.0), GeneratorObjective("saturating"), x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # non-saturating loss on the same D: no warning
        ns = gradient_balance(G, ConstD(-15.0), GeneratorObjective("vanilla", lambda_content=1.0), x, y)
    r = lambda rows, k: next(v["value"] for v in rows if v["metric"] == k and v["layer"] == "")  # noqa: E731
    assert r(sat, "d_saturated_fraction") == 1.0
    assert r(sat, "grad_ratio_adv_content") < 1e-5 < r(ns, "grad_ratio_adv_content")
    assert r(sat, "D(fake)") < 1e-5


def test_gradient_balance_has_no_side_effects():
    torch.manual_seed(0)
    G, D = UNetGenerator(1, 1, depth=2, ngf=4), PatchDiscriminator(1, 1, ndf=4, n_layers=1)
    x, y = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16)
    bufs = {k: v.clone() for k, v in G.state_dict().items()}
    torch.manual_seed(5)
    gradient_balance(G, D, GeneratorObjective(), x, y, warn=False)
    after = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(1))  # RNG stream untouched
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in bufs.items())  # BN stats untouched
    assert all(p.grad is None for p in G.parameters())


def test_abstraction_profile_costs_and_information():
    torch.manual_seed(0)
    G = UNetGenerator(1, 1, depth=3, ngf=4)
    x = torch.randn(256, 1, 32, 32)
    rows = abstraction_profile(G, x, x + 0.5 * torch.randn_like(x), estimator="gaussian", bootstrap=4)
    assert all(r["n"] == 256 for r in rows if r["metric"] in ("I(X;T)", "I(T;Y)"))
    with pytest.raises(ValueError, match="at least 200"):
        abstraction_profile(G, x[:16], x[:16])  # one sample per crop: 16 crops are refused
    by = {(r["layer"], r["metric"]): r["value"] for r in rows}
    assert [k for k in ("enc1", "enc2", "enc3") if (k, "I(T;Y)") in by] == ["enc1", "enc2", "enc3"]
    assert by[("enc1", "flops")] == 2 * 16 * 16 * 4 * 1 * 16  # 16×16 outputs × 4 ch × (1 in × 4×4 kernel) × 2
    assert by[("enc3", "cum_params")] > by[("enc2", "cum_params")] > 0
    assert math.isnan(by[("enc1", "delta_I(T;Y)")]) and not math.isnan(by[("enc2", "delta_I(T;Y)")])


def test_sources_identity_model_takes_nothing_from_any_path():
    G = UNetGenerator(1, 1, depth=2, ngf=4, norm="none", detail_branch=True, detail_ch=4, global_residual=True)
    with torch.no_grad():
        G.dec1[1].weight.zero_()
        G.dec1[1].bias.zero_()
        for m in G.detail.inject:
            m.weight.zero_()
            m.bias.zero_()
    torch.manual_seed(0)
    y = torch.rand(8, 1, 16, 16) * 2 - 1
    x = (y + 0.2 * torch.randn_like(y)).clamp(-1, 1)
    rows = information_sources(G, x, y, n_steps=4)
    by = {(r["layer"], r["metric"]): r["value"] for r in rows}
    for p in ("deep", "skips", "detail"):
        assert by[(p, "information_from_path")] == pytest.approx(0.0, abs=1e-9)
        assert by[(p, "attribution")] == pytest.approx(0.0, abs=1e-9)
    assert by[("external", "external_psnr_gain")] == pytest.approx(0.0, abs=1e-9)


def test_sources_attribution_runs_one_integration_step_at_a_time_by_default():
    """captum's integration in chunks of B (memory of one forward/backward of x, not B × n_steps): the
    largest batch the model sees stays B, and the attributions equal the all-at-once ones."""
    torch.manual_seed(0)
    G = UNetGenerator(1, 1, depth=2, ngf=4, norm="none", detail_branch=True, detail_ch=4, global_residual=True)
    y = torch.rand(6, 1, 16, 16) * 2 - 1
    x = (y + 0.2 * torch.randn_like(y)).clamp(-1, 1)
    seen: list[int] = []
    handle = G.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape[0]))
    try:
        chunked = information_sources(G, x, y, n_steps=5)
        biggest_chunked = max(seen)
        seen.clear()
        at_once = information_sources(G, x, y, n_steps=5, internal_batch_size=6 * 5)
    finally:
        handle.remove()
    assert biggest_chunked == 6 and max(seen) == 30
    a = {(r["layer"], r["metric"]): r["value"] for r in chunked if r["metric"] == "attribution"}
    b = {(r["layer"], r["metric"]): r["value"] for r in at_once if r["metric"] == "attribution"}
    assert a.keys() == b.keys() and len(a) >= 3
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), k
