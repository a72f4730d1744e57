"""The three per-problem information quantities against answers known by construction: band-patch
MI of a linear-Gaussian image model (closed form), a deep path that is cut or carries everything,
and the JS bound against two Gaussians of known JSD."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from infoflow.infotheory import LinearGaussianImages, band_information, image_information, jsd_lower_bound, level_information
from infoflow.infotheory.discriminator_information import gaussian_jsd
from infoflow.infotheory.image_information import bootstrap_over_images, max_levels
from infoflow.infotheory.random_fields import gaussian_blur_transfer

N_IMAGES = 16


def _close(est: float, truth: float) -> bool:
    return abs(est - truth) <= max(0.12, 0.06 * truth)


@pytest.fixture(scope="module")
def identity_model():
    return LinearGaussianImages(size=128, noise=1.0, out_noise=0.3)


@pytest.fixture(scope="module")
def identity_table(identity_model):
    y, x, y_hat = identity_model.sample(N_IMAGES, seed=3)
    return band_information(y, y_hat, x, levels=2, n_boot=60, seed=0)


def test_the_closed_form_is_stationary_inside_the_margin(identity_model):
    centre, corner = identity_model.band_truth(levels=2), identity_model.band_truth(levels=2, at="corner")
    for a, b in zip(centre, corner):
        assert a["I_y_yhat"] == pytest.approx(b["I_y_yhat"], rel=1e-3)


def test_band_information_matches_the_closed_form_per_band(identity_model, identity_table):
    truth = identity_model.band_truth(levels=2)
    assert list(identity_table.band) == [t["band"] for t in truth]
    for (_, row), t in zip(identity_table.iterrows(), truth):
        assert _close(row.I_y_yhat, t["I_y_yhat"]), (row.band, row.I_y_yhat, t["I_y_yhat"])
        assert _close(row.I_y_x, t["I_y_x"]), (row.band, row.I_y_x, t["I_y_x"])
        assert row.retention == pytest.approx(t["retention"], abs=0.06)
        assert row.I_y_yhat_low <= row.I_y_yhat <= row.I_y_yhat_high


def test_band_information_is_band_specific(identity_model, identity_table):
    """The bands' truths differ by nats: an estimate read against the wrong band fails the check above."""
    truth = identity_model.band_truth(levels=2)
    est = identity_table.I_y_x.to_numpy()
    assert not _close(est[0], truth[1]["I_y_x"]) and not _close(est[1], truth[0]["I_y_x"])


def test_retention_is_one_for_the_identity_and_falls_with_output_noise():
    rets = []
    for tau in (0.0, 0.5, 1.5):
        m = LinearGaussianImages(size=96, noise=1.0, out_noise=tau)
        y, x, y_hat = m.sample(12, seed=5)
        df = band_information(y, y_hat, x, levels=2, n_boot=0)
        rets.append(df.retention.iloc[0])
        assert df.retention.iloc[0] == pytest.approx(m.band_truth(levels=2)[0]["retention"], abs=0.06)
    assert rets[0] == pytest.approx(1.0, abs=1e-9) and rets[0] > rets[1] > rets[2]


def test_a_filter_that_removes_the_finest_band_leaves_little_retention_there():
    m = LinearGaussianImages(size=96, noise=0.5, transfer=gaussian_blur_transfer(3.0), out_noise=0.05)
    truth = m.band_truth(levels=2)
    y, x, y_hat = m.sample(12, seed=7)
    df = band_information(y, y_hat, x, levels=2, n_boot=0)
    assert truth[0]["retention"] < 0.15 and df.retention.iloc[0] == pytest.approx(truth[0]["retention"], abs=0.06)
    assert df.retention.iloc[-1] == pytest.approx(truth[-1]["retention"], abs=0.08)
    assert truth[-1]["retention"] > truth[0]["retention"] + 0.3  # the low-pass band passes far more


def test_band_information_rejects_bad_input():
    y = torch.randn(3, 1, 64, 64)
    with pytest.raises(ValueError, match="aligned"):
        band_information(y, y[:2])
    with pytest.raises(ValueError, match="one shape"):
        band_information([y[0], y[1]], [y[0], y[1, :, :32, :32]])
    bad = y.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        band_information(y, bad)
    with pytest.raises(ValueError, match="too small"):
        band_information(y[:, :, :16, :16], y[:, :, :16, :16], levels=3, n_boot=0)
    with pytest.raises(ValueError, match="at least 2 images"):
        band_information(y[:1], y[:1])
    with pytest.raises(ValueError, match=r"too small for 3 pyramid levels.*levels=2 or fewer"):
        band_information(y[:, :, :8, :8], y[:, :, :8, :8], levels=3, n_boot=0)  # not a torch padding error


def test_laplacian_bands_name_the_levels_an_image_allows():
    from infoflow.infotheory import laplacian_bands
    for size, allowed in ((4, 1), (8, 2), (16, 3), (24, 3), (12, 2)):
        bands = laplacian_bands(torch.rand(1, 1, size, size), allowed)  # the most it allows works
        assert len(bands) == allowed + 1
        if size % 2 ** (allowed + 1) == 0:
            with pytest.raises(ValueError, match=f"levels={allowed} or fewer"):
                laplacian_bands(torch.rand(1, 1, size, size), allowed + 1)
    with pytest.raises(ValueError, match="too small for any band"):
        laplacian_bands(torch.rand(1, 1, 2, 2), 1)


def test_max_levels_keeps_the_coarsest_band_large_enough():
    assert max_levels(256) == 3 and max_levels(64) == 2 and max_levels(40) == 1


def test_images_of_different_sizes_are_accepted():
    m = LinearGaussianImages(size=96, noise=1.0)
    y, x, y_hat = m.sample(4, seed=1)
    ys = [y[0], y[1, :, :80, :72], y[2], y[3]]
    outs = [y_hat[0], y_hat[1, :, :80, :72], y_hat[2], y_hat[3]]
    df = band_information(ys, outs, levels=2, n_boot=20)
    assert isinstance(df, pd.DataFrame) and len(df) == 3 and "retention" not in df


def test_the_bootstrap_resamples_images_not_patches():
    """Two images whose patches are each perfectly dependent but of opposite sign: pooled MI is small,
    and resampling images (one image twice) swings it far more than a patch bootstrap could."""
    rng = np.random.default_rng(0)
    a = [rng.normal(size=(200, 1)) for _ in range(2)]
    blocks = {"u": a, "v": [a[0], -a[1]]}
    seen = []

    def stat(p):
        seen.append(len(p["u"]))
        return {"corr": float(np.corrcoef(p["u"][:, 0], p["v"][:, 0])[0, 1])}

    (v, lo, hi), = bootstrap_over_images(blocks, stat, n_boot=50, seed=1).values()
    assert set(seen) == {400} and abs(v) < 0.2 and hi - lo > 1.0


# ------------------------------------------------------------------------------ the deep levels
class TwoPaths(nn.Module):
    """ŷ = shallow(x) + deep(x); each path a scaled identity (``deep`` through a 1×1 conv)."""

    def __init__(self, shallow: float, deep: float) -> None:
        super().__init__()
        self.shallow_gain, self.deep = shallow, nn.Conv2d(1, 1, 1, bias=False)
        with torch.no_grad():
            self.deep.weight.fill_(deep)

    def forward(self, x):
        return self.shallow_gain * x + self.deep(x)


@pytest.fixture(scope="module")
def images():
    m = LinearGaussianImages(size=64, noise=0.7)
    y, x, _ = m.sample(8, seed=2)
    return x.float(), y.float()


def test_a_cut_deep_path_adds_nothing(images):
    x, y = images
    r = level_information(TwoPaths(1.0, 0.0), x, y, ["deep"], n_boot=40)
    assert r["added"] == pytest.approx(0.0, abs=1e-9) and r["added_low"] <= 0 <= r["added_high"] + 1e-12
    assert r["I_full"] > 0.5


def test_a_deep_path_that_carries_everything_adds_it_all(images):
    x, y = images
    r = level_information(TwoPaths(0.0, 1.0), x, y, ["deep"], n_boot=40)
    assert r["share"] == pytest.approx(1.0, abs=0.05) and r["I_ablated"] == pytest.approx(0.0, abs=0.05)
    assert r["param_share"] == 1.0 and 0 < r["flop_share"] <= 1.0


def test_level_information_leaves_the_model_as_it_was(images):
    from infoflow.models import UNetGenerator

    from infoflow.infotheory import unet_deep_layers

    x, y = images
    G = UNetGenerator(1, 1, depth=3, ngf=4).train()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    r = level_information(G, x, y, unet_deep_layers(G, 1), n_boot=5)
    assert G.training and all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert r["deep_layers"] == ["enc2", "enc3", "bottleneck_res", "dec3", "dec2"] and 0.5 < r["param_share"] < 1
    with pytest.raises(ValueError, match="keep"):
        unet_deep_layers(G, 3)


# ------------------------------------------------------------------------------ the JS bound
@pytest.mark.parametrize("mu", [0.3, 1.0, 2.0])
def test_the_bayes_optimal_discriminator_attains_the_jsd(mu):
    rng = np.random.default_rng(0)
    real, fake = rng.normal(mu, 1, 40_000), rng.normal(-mu, 1, 40_000)
    truth = gaussian_jsd(mu)
    opt = jsd_lower_bound(2 * mu * real, 2 * mu * fake, n_boot=100)
    assert opt["low"] - 0.005 <= truth <= opt["high"] + 0.005 and opt["value"] == pytest.approx(truth, abs=0.01)
    weak = jsd_lower_bound(0.3 * mu * real, 0.3 * mu * fake, n_boot=0)  # a mis-scaled D: a looser bound
    assert weak["value"] < truth - 0.01
    cal = jsd_lower_bound(0.3 * mu * real + 3, 0.3 * mu * fake + 3, calibrate=True, n_boot=0)
    assert cal["value"] == pytest.approx(truth, abs=0.01)  # calibration recovers any monotone score
    assert opt["ceiling"] == pytest.approx(math.log(2)) and opt["fraction"] == pytest.approx(opt["value"] / math.log(2))


def test_the_bound_is_at_the_ceiling_for_separable_and_zero_for_identical_samples():
    rng = np.random.default_rng(1)
    sep = jsd_lower_bound(rng.normal(30, 1, 500), rng.normal(-30, 1, 500), n_boot=0)
    assert sep["value"] == pytest.approx(math.log(2), abs=1e-6)
    same = jsd_lower_bound(rng.normal(size=2000), rng.normal(size=2000), calibrate=True, n_boot=0)
    assert abs(same["value"]) < 0.01


def test_jsd_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        jsd_lower_bound([0.0, float("nan")], [0.0, 1.0])
    with pytest.raises(ValueError, match="at least 2"):
        jsd_lower_bound([0.0], [1.0, 2.0])


def test_image_information_known_answer():
    """Ŷ = Y exactly (identical images): the estimate is large; Ŷ independent of Y: near zero."""
    m = LinearGaussianImages(size=64, noise=1.0)
    y, x, _ = m.sample(8, seed=4)
    other, _, _ = m.sample(8, seed=5)
    same = image_information(y, y + 0.05 * torch.randn_like(y), n_boot=20)
    indep = image_information(y, other, n_boot=20)
    assert same["value"] > 3.0 and abs(indep["value"]) < 0.05 and indep["low"] <= indep["value"] <= indep["high"]


def _slow(monkeypatch):
    """Every bootstrap draw materialised and re-estimated from scratch (no sorted-once reuse)."""
    import sys

    for mod in ("image_information", "level_information"):  # the modules (the package re-exports functions)
        monkeypatch.setattr(sys.modules[f"infoflow.infotheory.{mod}"], "resampled_stats", lambda *a, **k: None)


def test_the_bootstrap_reuses_sorted_columns_and_gives_the_same_intervals(monkeypatch, images):
    m = LinearGaussianImages(size=64, noise=0.7)
    y, x, y_hat = m.sample(5, seed=3)
    model = TwoPaths(0.6, 0.4)
    fast = (band_information(y, y_hat, x, levels=2, n_boot=30), image_information(y, y_hat, n_boot=30),
            level_information(model, images[0], images[1], ["deep"], n_boot=30),
            level_information(TwoPaths(0.0, 1.0), images[0], images[1], ["deep"], n_boot=30))
    _slow(monkeypatch)
    slow = (band_information(y, y_hat, x, levels=2, n_boot=30), image_information(y, y_hat, n_boot=30),
            level_information(model, images[0], images[1], ["deep"], n_boot=30),
            level_information(TwoPaths(0.0, 1.0), images[0], images[1], ["deep"], n_boot=30))
    pd.testing.assert_frame_equal(fast[0], slow[0], rtol=1e-9, atol=1e-11)
    assert np.isfinite(fast[0]["I_y_x_high"]).all() and (fast[0]["I_y_x_high"] > fast[0]["I_y_x_low"]).all()
    for f, s in zip(fast[1:], slow[1:]):
        for k, v in s.items():
            if isinstance(v, float):
                assert f[k] == pytest.approx(v, rel=1e-9, abs=1e-11, nan_ok=True), k


