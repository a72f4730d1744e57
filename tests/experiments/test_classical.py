"""Classical (deconstructive) restorers on cases whose answer is known by construction, and the
BM3D protocol check of the literature on the benchmark images (slow, when present)."""
from __future__ import annotations

import numpy as np
import pytest

from infoflow.experiments.classical import (CLASSICAL, bm3d_available, dark_channel, dark_channel_dehaze,
                                   restore_classical)
from infoflow.experiments.data import get_images, psnr


def _saturated_scene(h: int = 192, w: int = 256, block: int = 32, seed: int = 0) -> np.ndarray:
    """Piecewise-constant saturated colours: every pixel has a channel at 0, so dark(J) = 0 exactly."""
    rng = np.random.default_rng(seed)
    J = np.zeros((h, w, 3))
    for y in range(0, h, block):
        for x in range(0, w, block):
            c = rng.uniform(0.2, 1.0, 3)
            c[rng.integers(3)] = 0.0
            J[y : y + block, x : x + block] = c
    return J


def test_dark_channel_prior_recovers_known_airlight_and_transmission():
    J = _saturated_scene()
    assert dark_channel(J).max() == 0.0
    h, w = J.shape[:2]
    depth = np.linspace(0.1, 3.0, w)[None, :].repeat(h, 0)  # distance grows to the right
    t = np.exp(-1.0 * depth)  # 0.05 .. 0.90
    A = np.array([0.92, 0.88, 0.83])
    I = J * t[..., None] + A * (1 - t[..., None])
    inner = (slice(20, -20), slice(20, -20))  # the guided filter's border
    restored, t_hat, A_hat = dark_channel_dehaze(I)
    # He et al.'s defaults bias t upwards by design: ω = 0.95 keeps (1 − ω)(1 − t) of the haze, and the
    # 15-px window takes the window's largest t where t changes. Stated tolerance: 0.1 mean, 0.06 on A.
    assert np.abs(A_hat - A).max() < 0.06, A_hat
    assert np.abs(t_hat[inner] - t[inner]).mean() < 0.1
    assert np.corrcoef(t_hat[inner].ravel(), t[inner].ravel())[0, 1] > 0.98
    assert psnr(restored, J) > psnr(I, J) + 5
    # without those two biases (ω = 1, a 3-px window) the recovery is tight
    restored, t_hat, A_hat = dark_channel_dehaze(I, patch=3, omega=1.0)
    assert np.abs(A_hat - A).max() < 0.06
    assert np.abs(t_hat[inner] - t[inner]).mean() < 0.03
    with pytest.raises(ValueError, match="RGB"):
        dark_channel_dehaze(I[..., 0])


@pytest.mark.parametrize("method", ["nlm", "wavelet"] + (["bm3d"] if bm3d_available() else []))
def test_classical_denoisers_beat_the_noisy_input(method):
    img = get_images("embedded", "grey", split="all")[0][1][:128, :128]
    noisy = img + np.random.default_rng(0).normal(0, 25 / 255, img.shape)
    out = restore_classical(method, noisy, sigma=25)
    assert out.shape == img.shape
    assert psnr(out, img) > psnr(noisy, img) + 4
    assert CLASSICAL[method].task == "denoise"


def test_unknown_method_and_missing_package_are_named(monkeypatch):
    with pytest.raises(ValueError, match="unknown classical method 'bm4d'.*dcp"):
        restore_classical("bm4d", np.zeros((8, 8)))
    import builtins

    real = builtins.__import__

    def no_bm3d(name, *a, **k):
        if name == "bm3d":
            raise ImportError("no")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_bm3d)
    assert not CLASSICAL["bm3d"].available
    with pytest.raises(ImportError, match=r"\.\[classical\]"):
        restore_classical("bm3d", np.zeros((8, 8)), sigma=25)
    from infoflow.experiments.cli import main

    assert main(["evaluate", "--method", "bm3d", "--dataset", "embedded", "--limit", "1"]) == 2  # named, no traceback


def _protocol(name: str) -> float:
    from infoflow.experiments.data.sources import shared_data_root

    root = shared_data_root()
    if root is None or not (root / name).is_dir():
        pytest.skip(f"{name} not present beside the repository")
    imgs = get_images(name, "grey", split="all")
    vals = []
    for i, (_, img) in enumerate(imgs):  # AWGN σ = 25 on the 0–255 scale, no clipping, fixed seed per image
        noisy = img + np.random.default_rng([0, i]).normal(0, 25 / 255, img.shape)
        vals.append(psnr(restore_classical("bm3d", noisy, sigma=25), img))
    mean = float(np.mean(vals))
    print(f"BM3D on {name} at sigma=25: {mean:.2f} dB over {len(vals)} images")
    return mean


@pytest.mark.slow
@pytest.mark.skipif(not bm3d_available(), reason="bm3d not installed (pip install -e .[classical])")
@pytest.mark.parametrize("name,published", [("Set12", 29.97), ("BSD68", 28.57)])
def test_bm3d_protocol_matches_the_literature(name, published):
    """Zhang et al. 2017 (DnCNN), Tables 2 and 3: BM3D at σ = 25 gives 29.97 dB on Set12, 28.57 on BSD68."""
    assert _protocol(name) == pytest.approx(published, abs=0.15)


def test_cli_scores_a_classical_method_like_a_run(tmp_path, capsys):
    from infoflow.experiments.cli import main

    out = tmp_path / "nlm.csv"
    assert main(["evaluate", "--method", "nlm", "--dataset", "embedded", "--task", "denoise", "--limit", "2",
                 "--crop", "96", "--set", "data.degradation.params.sigma=30", "--out", str(out)]) == 0
    import pandas as pd

    df = pd.read_csv(out)
    mean = df[df.image == "mean"].iloc[0]
    assert mean.psnr > mean.psnr_input + 3 and len(df) == 3
    assert main(["evaluate", "--method", "wavelet", "--dataset", "embedded", "--limit", "2", "--crop", "96",
                 "--out", str(tmp_path / "w.csv")]) == 0  # σ = 25, the task's default
    default = pd.read_csv(tmp_path / "w.csv").query("image == 'mean'").iloc[0]
    assert default.psnr_input - mean.psnr_input > 1.0  # the σ = 30 override was applied to the same images
    assert "mean" in capsys.readouterr().out
    assert main(["evaluate", "--method", "dcp", "--dataset", "embedded", "--task", "denoise"]) == 2  # wrong task
    assert main(["evaluate"]) == 2  # neither a run nor a method
