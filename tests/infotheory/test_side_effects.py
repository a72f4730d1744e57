"""Every public diagnostic leaves any nn.Module exactly as it found it: weights, buffers, train/eval
mode of every submodule, RNG, module and tensor hooks, requires_grad flags and stored gradients."""
from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from infoflow.experiments.probe import d_optimality_probe
from infoflow.infotheory import InformationPlane
from infoflow.infotheory.diagnostics import (abstraction_profile, detail_loss, gradient_balance, information_sources,
                                    isolated, layer_costs, model_state)
from infoflow.models import GeneratorObjective, PatchDiscriminator

from .third_party_models import DnCNN, TupleGenerator, concat_patchgan, resnet_generator

GENERATORS = {  # name -> (factory, layers to tap, ablation paths)
    "resnet": (resnet_generator, ["4", "7", "10"], {"blocks": ["11"]}),
    "dncnn": (DnCNN, ["dncnn.0", "dncnn.5", "dncnn.11"], {"middle": ["dncnn.5"]}),
    "tuple": (TupleGenerator, ["head", "down"], {"down": ["down"]}),
}


def _dirty(model: nn.Module, channels: int = 1) -> list[int]:
    """Put a model in the awkward state users' models are in: training mode with one submodule in
    eval, a frozen parameter, stored gradients, a forward hook and a tensor hook of the user's own."""
    torch.manual_seed(3)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if bns:
        bns[0].eval()  # a frozen BN, as in fine-tuning
    params = list(model.parameters())
    params[0].requires_grad_(False)
    x = torch.rand(2, channels, 32, 32)
    out = model(x) if not isinstance(model, PatchDiscriminator) else model(x[:, :1], x[:, 1:])
    out.float().pow(2).mean().backward()  # .grad populated on the trainable parameters
    calls: list[int] = []
    model.register_forward_hook(lambda m, a, o: calls.append(1))
    params[-1].register_hook(lambda g: g)
    return calls


def assert_same(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for k, v in before.items():
        w = after[k]
        if isinstance(v, torch.Tensor):
            assert isinstance(w, torch.Tensor) and torch.equal(v, w), f"{k} changed"
        else:
            assert v == w, f"{k}: {v!r} -> {w!r}"


def _batch(n: int = 8, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.rand(n, 1, size, size, generator=g) * 2 - 1
    return y + 0.2 * torch.randn(y.shape, generator=g), y


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_information_plane_and_abstraction_leave_model_untouched(name):
    factory, layers, _ = GENERATORS[name]
    model = factory()
    _dirty(model)
    x, y = _batch()
    before = model_state(model)
    rows = InformationPlane(layers, "kde", n_per_image=4).measure(model, x, y)
    assert {r["layer"] for r in rows} == set(layers)
    assert all(math.isfinite(r["value"]) for r in rows)
    assert_same(before, model_state(model))
    prof = abstraction_profile(model, x, y, layers=layers, measure="local", n_per_image=4)
    flops = {r["layer"]: r["value"] for r in prof if r["metric"] == "flops"}
    assert all(v > 0 for v in flops.values()), flops
    assert_same(before, model_state(model))


def test_abstraction_profile_used_to_move_batchnorm_statistics():
    """The regression: the FLOP pass ran in the model's own (train) mode and moved BN running stats."""
    model = resnet_generator()
    model.train()
    x, y = _batch()
    before = model_state(model)
    abstraction_profile(model, x, y, layers=["4", "7"], measure="local", n_per_image=4)
    assert_same(before, model_state(model))
    model(x)  # a train-mode forward does move them: the check above can fail
    assert not torch.equal(before["0:2.running_mean"], model[2].running_mean)


def test_layer_costs_count_every_operator():
    """FLOPs known by construction: a 3×3 conv, a linear layer and a bare matmul inside a module
    (which a conv/linear-only counter misses)."""
    class MatMul(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(16, 16))

        def forward(self, x):
            return x @ self.w

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(2), MatMul(), nn.Flatten(1), nn.Linear(64, 5))
    x = torch.rand(2, 3, 4, 4)
    costs = layer_costs(model, x, ["0", "2", "4"])
    assert costs["0"]["flops"] == 2 * 16 * 4 * 3 * 9  # H·W·out·in·k², 2 FLOPs per multiply-add
    assert costs["2"]["flops"] == 2 * 4 * 16 * 16  # (4×16) @ (16×16)
    assert costs["4"]["flops"] == 2 * 64 * 5
    assert costs["4"]["params"] == 64 * 5 + 5
    with pytest.raises(ValueError, match="no layer 'nope'"):
        layer_costs(model, x, ["nope"])


@pytest.mark.parametrize("d_kind", ["concat", "pair"])
def test_gradient_balance_any_discriminator_and_objective(d_kind):
    G = resnet_generator()
    D = concat_patchgan() if d_kind == "concat" else PatchDiscriminator(1, 1, ndf=8, n_layers=2)
    _dirty(G)
    _dirty(D, channels=2)
    x, y = _batch()
    before = model_state(G, D)

    def objective(d_fake, d_real, fake, target):  # separable: (adversarial, content)
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake)), 100 * F.l1_loss(fake, target)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = gradient_balance(G, D, objective, x, y)  # d_input="auto" finds concat vs pair
        std = gradient_balance(G, D, GeneratorObjective("vanilla"), x, y)
    assert_same(before, model_state(G, D))
    get = lambda rs, m: next(r["value"] for r in rs if r["metric"] == m and r["layer"] == "")  # noqa: E731
    # the callable objective is the vanilla objective written out: the same gradients
    assert get(rows, "grad_norm_adv") == pytest.approx(get(std, "grad_norm_adv"), rel=1e-5)
    assert get(rows, "grad_norm_content") == pytest.approx(get(std, "grad_norm_content"), rel=1e-5)
    assert not any(r["metric"] == "d_saturated_fraction" for r in rows)  # a bare callable does not say what it is
    assert 0 <= get(std, "d_saturated_fraction") <= 1
    # the frozen first parameter gets no gradient, every trainable group does
    assert get(std, "grad_norm_adv") > 0


def test_gradient_balance_bad_objective_is_named():
    G, D = DnCNN(), concat_patchgan()
    x, y = _batch(4)
    with pytest.raises(ValueError, match="adversarial term, content term"):
        gradient_balance(G, D, lambda *a: torch.zeros(()), x, y)
    with pytest.raises(ValueError, match="d_input"):
        gradient_balance(G, D, GeneratorObjective(), x, y, d_input="sideways")


def test_saturation_is_defined_per_loss_family():
    from infoflow.models.losses import get_adversarial

    real, fake = torch.tensor([5.0, 0.5, 2.0]), torch.tensor([-5.0, -0.5, -2.0])
    assert get_adversarial("vanilla").saturated_fraction(real, fake) == pytest.approx(2 / 6)
    assert get_adversarial("hinge").saturated_fraction(real, fake) == pytest.approx(4 / 6)  # beyond the ±1 margin
    # relative logits: real - mean(fake) = [7.5, 3, 4.5], fake - mean(real) = [-7.5, -3, -4.5]
    assert get_adversarial("relativistic").saturated_fraction(real, fake) == pytest.approx(4 / 6)
    for name in ("wgangp", "lsgan"):
        assert math.isnan(get_adversarial(name).saturated_fraction(real, fake))


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_detail_and_sources_leave_model_untouched(name):
    factory, _, paths = GENERATORS[name]
    model = factory()
    _dirty(model)
    x, y = _batch(4)
    before = model_state(model)
    with torch.no_grad(), isolated(model):
        y_hat = model(x)
    assert_same(before, model_state(model))
    detail_loss(x, y_hat, y, levels=2, n_per_image=16)
    assert_same(before, model_state(model))
    rows = information_sources(model, x, y, paths=paths, n_steps=4)
    assert any(r["metric"] == "attribution" for r in rows)
    assert_same(before, model_state(model))
    inplace = [m.inplace for m in model.modules() if hasattr(m, "inplace")]
    assert all(inplace) or name != "dncnn"


def test_probe_leaves_generator_untouched_with_concat_discriminator():
    G = DnCNN()
    _dirty(G)
    x, y = _batch(8)
    before = model_state(G)
    rows = d_optimality_probe(G, concat_patchgan, ["vanilla", "saturating"], (x, y), (x[:4], y[:4]), steps=4,
                              batch_size=4)
    assert {r["layer"] for r in rows} == {"vanilla", "saturating"}
    assert_same(before, model_state(G))


def test_isolated_restores_after_an_error_and_removes_forgotten_hooks():
    model = DnCNN()
    before = model_state(model)
    with pytest.raises(RuntimeError, match="boom"):
        with isolated(model):
            model.dncnn[1].register_forward_hook(lambda *a: None)  # a hook a diagnostic forgot
            model.dncnn[0].weight.register_hook(lambda g: g)
            model.train()
            model(torch.rand(2, 1, 8, 8))  # moves BN statistics
            torch.rand(3)
            raise RuntimeError("boom")
    assert_same(before, model_state(model))


def test_unknown_layer_lists_valid_names():
    model = resnet_generator()
    x, y = _batch(4)
    with pytest.raises(ValueError, match="available"):
        InformationPlane(["enc1"]).measure(model, x, y)
