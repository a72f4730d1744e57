"""The depth measurement: fixed X and Y at every layer, enough samples, the DPI checked on chains
whose per-layer MI is known in closed form, and on a trained U-Net."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infoflow.infotheory import chain_information, information_along_depth


def _logdet(m: np.ndarray) -> float:
    return float(np.linalg.slogdet(m)[1])


def linear_gaussian_chain(n: int, d: int = 3, depth: int = 4, seed: int = 0):
    """Y ~ N(0, I); X = Y + s0·Z; T_l = A_l T_{l−1} + s_l·Z_l. Returns samples and the exact
    I(X;T_l), I(T_l;Y) in nats (all jointly Gaussian)."""
    rng = np.random.default_rng(seed)
    s0, s = 0.7, [0.4, 0.6, 0.5, 0.8][:depth]
    A = [rng.standard_normal((d, d)) / math.sqrt(d) + 0.8 * np.eye(d) for _ in range(depth)]
    y = rng.standard_normal((n, d))
    x = y + s0 * rng.standard_normal((n, d))
    M, N = np.eye(d), s0**2 * np.eye(d)  # T = M·Y + noise(N)
    B, Nx = np.eye(d), np.zeros((d, d))  # T = B·X + noise(Nx)
    cov_x = (1 + s0**2) * np.eye(d)
    t, layers, truth = x, [], []
    for a, sl in zip(A, s):
        t = t @ a.T + sl * rng.standard_normal((n, d))
        M, N = a @ M, a @ N @ a.T + sl**2 * np.eye(d)
        B, Nx = a @ B, a @ Nx @ a.T + sl**2 * np.eye(d)
        ity = 0.5 * (_logdet(M @ M.T + N) - _logdet(N))
        ixt = 0.5 * (_logdet(B @ cov_x @ B.T + Nx) - _logdet(Nx))
        layers.append((f"T{len(layers) + 1}", t))
        truth.append((ixt, ity))
    ixy = 0.5 * d * math.log(1 + 1 / s0**2)
    return x, y, layers, truth, ixy


def _get(rows, metric, layer):
    return next(r for r in rows if r["metric"] == metric and r["layer"] == layer)


def test_linear_gaussian_chain_follows_the_closed_form_and_never_grows():
    x, y, layers, truth, ixy = linear_gaussian_chain(4000)
    rows = chain_information(x, y, layers, "gaussian", bootstrap=10)
    assert _get(rows, "I(X;Y)", "input")["value"] == pytest.approx(ixy, abs=0.05)
    prev = ixy
    for (name, _), (ixt, ity) in zip(layers, truth):
        assert ity < prev  # the truth itself obeys the DPI
        prev = ity
        got_xt, got_ty = _get(rows, "I(X;T)", name), _get(rows, "I(T;Y)", name)
        assert got_ty["value"] == pytest.approx(ity, abs=max(0.05, 3 * got_ty["std"])), name
        assert got_xt["value"] == pytest.approx(ixt, abs=max(0.05, 3 * got_xt["std"])), name
        assert got_ty["n"] == 4000
    assert all(r["value"] == 0 for r in rows if r["metric"] == "dpi_violation")


def test_deterministic_lossy_chain():
    """T_l keeps fewer coordinates of X each layer: I(T_l;Y) = k_l · ½ log(1 + 1/σ²) exactly."""
    rng = np.random.default_rng(1)
    y = rng.standard_normal((3000, 6))
    x = y + 0.5 * rng.standard_normal(y.shape)
    keep = [4, 2, 1]
    layers = [(f"keep{k}", x[:, :k]) for k in keep]
    rows = chain_information(x, y, layers, "gaussian", bootstrap=10, ixt=False)
    per = 0.5 * math.log(1 + 1 / 0.25)
    vals = [_get(rows, "I(T;Y)", f"keep{k}")["value"] for k in keep]
    for k, v in zip(keep, vals):
        assert v == pytest.approx(k * per, abs=0.06)
    assert vals == sorted(vals, reverse=True)
    assert all(r["value"] == 0 for r in rows if r["metric"] == "dpi_violation")
    assert not any(r["metric"] == "I(X;T)" for r in rows)  # infinite for a deterministic map: not estimated


def test_an_increase_is_reported_with_its_size():
    """A 'chain' that is not one (T2 sees Y directly): the measurement flags it, with the size."""
    rng = np.random.default_rng(2)
    y = rng.standard_normal((2000, 2))
    x = y + rng.standard_normal(y.shape)
    t1 = x + 2 * rng.standard_normal(y.shape)
    t2 = y + 0.1 * rng.standard_normal(y.shape)
    rows = chain_information(x, y, [("t1", t1), ("t2", t2)], "gaussian", bootstrap=10)
    inc = _get(rows, "increase_I(T;Y)", "t2")["value"]
    assert inc > 1.0 and _get(rows, "dpi_violation", "t2")["value"] == 1.0


def test_too_few_samples_is_refused():
    x = np.random.default_rng(0).standard_normal((50, 2))
    with pytest.raises(ValueError, match="at least 200"):
        chain_information(x, x, [("t", x)])


def test_bad_probes_and_broken_layers_are_named():
    from torch import nn

    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3, padding=1))
    x, y = torch.randn(256, 1, 8, 8), torch.randn(256, 1, 8, 8)
    bad = x.clone()
    bad[3, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="x has NaN"):  # not "constant on every probe crop"
        information_along_depth(m, bad, y, ["0"])
    with pytest.raises(ValueError, match="y has NaN"):
        information_along_depth(m, x, bad, ["0"])
    m[0].weight.data[0, 0, 0, 0] = float("inf")  # a broken layer: NaN/inf out of finite input
    with pytest.raises(ValueError, match=r"layers \['0', '1'\] output NaN"):
        information_along_depth(m, x, y, ["0", "1"])


def test_trained_unet_keeps_the_ordering(tmp_path):
    """A U-Net trained briefly on the embedded images: I(T_l;Y) along the encoder must not rise
    beyond 2 standard errors; any rise is reported with its size."""
    from infoflow.experiments.config import resolve_config
    from infoflow.experiments.problems.base import probe_batch
    from infoflow.experiments.data import build_test_pairs
    from infoflow.experiments.train import Trainer

    cfg = resolve_config({"task": "denoise"}, [
        "model.depth=3", "model.ngf=8", "disc.ndf=8", "disc.n_layers=2", "data.crop=32", "data.batch_size=8",
        "data.train_patches=256", "data.test_images=2", "data.test_crop=64", "train.steps=60",
        "train.eval_every=60", "train.ckpt_every=60", "train.sample_every=60", "train.diagnostics_every=0",
        "optim.lr_g=1e-3", "optim.lr_d=1e-3"])
    tr = Trainer(cfg, tmp_path / "run", device="cpu", progress=False)
    tr.fit()
    x, y = probe_batch(build_test_pairs(cfg), 16, 256, seed=0)
    G = tr.G
    before = {k: v.clone() for k, v in G.state_dict().items()}
    rows = information_along_depth(G, x, y, ["enc1", "enc2", "enc3"], bootstrap=10)
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    incs = {r["layer"]: r["value"] for r in rows if r["metric"] == "increase_I(T;Y)"}
    viol = [r["layer"] for r in rows if r["metric"] == "dpi_violation" and r["value"] == 1.0]
    # along the encoder the reductions are of one kind (projected feature maps): no rise is allowed
    assert not set(viol) & {"enc2", "enc3"}, f"I(T;Y) rose beyond 2 s.e. at {viol}: increases {incs} nats"
    # enc1 against the input compares a projected feature map with projected pixels — a different
    # reduction, which the docs say may rise; whatever it does is reported with its size
    first = incs["enc1"]
    assert (_get(rows, "dpi_violation", "enc1")["value"] == 1.0) == (
        first > 2 * math.hypot(_get(rows, "I(T;Y)", "enc1")["std"], _get(rows, "I(X;Y)", "input")["std"]))
    assert all(r["n"] == 256 for r in rows)
