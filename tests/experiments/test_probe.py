"""D-optimality probe: the minimax BCE gradient vanishes as D wins, the other losses keep theirs."""
import pytest
import torch

from infoflow.experiments.config import resolve_config
from infoflow.experiments.probe import d_family, d_optimality_probe, probe_summary
from infoflow.experiments.builders import build_discriminator, build_generator
from infoflow.experiments.data import build_train_set

CFG = ["model.depth=2", "model.ngf=8", "disc.ndf=8", "disc.n_layers=2", "data.crop=16", "data.train_patches=64"]


@pytest.fixture(scope="module")
def setup():
    cfg = resolve_config({"task": "denoise"}, CFG)
    torch.manual_seed(0)
    G = build_generator(cfg)
    ts = build_train_set(cfg)
    pairs = [ts[i] for i in range(64)]
    pool = torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
    return cfg, G, pool


def test_saturating_gradient_vanishes_when_d_wins(setup):
    cfg, G, pool = setup
    before = {k: v.clone() for k, v in G.state_dict().items()}
    G.train()
    rng = torch.get_rng_state()
    rows = d_optimality_probe(G, lambda: build_discriminator(cfg), ["vanilla", "saturating", "lsgan", "hinge"],
                              pool, (pool[0][:8], pool[1][:8]), steps=128, lr=2e-3)
    s = probe_summary(rows)
    # known by construction: d/dθ log(1 - D(G)) ∝ D(G) -> 0 once D rejects every fake
    assert s["saturating"]["saturated"] > 0.9
    assert s["saturating"]["retained"] < 0.05, s["saturating"]
    # same discriminator trajectory, non-saturating form: the gradient survives
    assert s["vanilla"]["saturated"] == s["saturating"]["saturated"]
    assert s["vanilla"]["retained"] > 0.3, s["vanilla"]
    for name in ("lsgan", "hinge"):
        assert s[name]["retained"] > 0.3, (name, s[name])
    # the probe leaves the generator as it found it
    assert G.training and all(torch.equal(v, G.state_dict()[k]) for k, v in before.items())
    assert all(p.grad is None for p in G.parameters())
    assert torch.equal(torch.get_rng_state(), rng)
    steps = sorted({r["step"] for r in rows if r["layer"] == "hinge"})
    assert steps[0] == 0 and steps[-1] == 128


def test_probe_inputs_are_checked(setup):
    cfg, G, pool = setup
    make_d = lambda: build_discriminator(cfg)  # noqa: E731
    with pytest.raises(ValueError, match="at least one generator loss"):
        d_optimality_probe(G, make_d, [], pool, pool)
    with pytest.raises(ValueError, match="steps=0"):
        d_optimality_probe(G, make_d, ["vanilla"], pool, pool, steps=0)
    with pytest.raises(ValueError, match="pool"):
        d_optimality_probe(G, make_d, ["vanilla"], (pool[0][:1], pool[1][:1]), pool)
    with pytest.raises(ValueError, match="NaN or Inf"):
        d_optimality_probe(G, make_d, ["vanilla"], pool, (pool[0] * float("nan"), pool[1]))
    with pytest.raises(ValueError, match="unknown adversarial loss|wgan"):
        d_optimality_probe(G, make_d, ["wgan"], pool, pool)


def test_loss_families():
    assert d_family("saturating") == "vanilla" and d_family("vanilla") == "vanilla"
    assert d_family("wgangp") == "wgangp"
