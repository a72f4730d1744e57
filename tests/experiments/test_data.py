"""Degradations reproduce their equations; loaders name bad files; metrics match conventions."""
import numpy as np
import pytest

from infoflow.experiments.data import (Degradation, PairedFolder, SyntheticPairs, awgn, embedded_images, haze,
                              poisson_gaussian, procedural_depth, psnr, rain, rain_streaks, rgb_to_y,
                              shared_data_root, ssim, stereo_depth)
from infoflow.experiments.data.sources import load_folder

RNG = lambda s=0: np.random.default_rng(s)  # noqa: E731


def test_awgn_sigma_measured_back():
    clean = np.full((256, 256), 0.5, np.float32)
    noisy, p = awgn(clean, RNG(), sigma=25)
    assert p["sigma"] == 25
    assert abs((noisy - clean).std() * 255 - 25) < 0.3
    assert awgn(np.zeros((64, 64), np.float32), RNG(), sigma=25)[0].min() < 0  # protocol: no clipping


def test_poisson_gaussian_variance():
    x = np.full((400, 400), 0.4, np.float32)
    out, _ = poisson_gaussian(x, RNG(), peak=50, sigma=10)
    assert abs(out.var() - (0.4 / 50 + (10 / 255) ** 2)) < 0.1 * out.var()


def test_haze_identity_when_transmission_is_one_and_equation_holds():
    clean = RNG(1).random((32, 48, 3)).astype(np.float32)
    out, p = haze(clean, RNG(), beta=0.0, airlight=0.9)
    assert np.allclose(out, clean)
    # J = A everywhere -> I = A·t + A(1 - t) = A whatever the depth
    out, p = haze(np.full((32, 48, 3), 0.8, np.float32), RNG(), beta=1.5, airlight=0.8)
    assert np.allclose(out, 0.8, atol=1e-6)
    # J = 0 -> I = A(1 - t) with t = exp(-β d): recover the mean transmission
    out, p = haze(np.zeros((32, 48), np.float32), RNG(), beta=1.0, airlight=1.0)
    assert np.isclose(1 - out.mean(), p["mean_transmission"], atol=1e-5)


@pytest.mark.parametrize("fn", [procedural_depth, stereo_depth])
def test_depth_does_not_depend_on_the_clean_image(fn):
    d1, d2 = fn(40, 60, RNG(3)), fn(40, 60, RNG(3))
    assert np.array_equal(d1, d2) and d1.min() == 0 and d1.max() == pytest.approx(1)
    a, _ = haze(np.zeros((40, 60), np.float32), RNG(3), beta=1.0, airlight=1.0)
    b, _ = haze(np.ones((40, 60), np.float32) * 0.3, RNG(3), beta=1.0, airlight=1.0)
    ta, tb = 1 - a, (1 - b) / 0.7  # both give t = exp(-d)
    assert np.allclose(ta, tb, atol=1e-5)


def test_rain_streaks_follow_the_angle():
    s = rain_streaks(128, 128, RNG(), density=0.01, length=21, angle=0.0)
    v = np.mean(s[1:] * s[:-1])  # vertical neighbours
    h = np.mean(s[:, 1:] * s[:, :-1])  # horizontal neighbours
    assert v > 1.5 * h
    clean = np.full((64, 64, 3), 0.3, np.float32)
    out, p = rain(clean, RNG())
    assert (out >= clean - 1e-6).all() and out.max() > 0.5  # additive bright streaks
    out2, p2 = rain(clean, RNG(), model="heavy")
    assert "accumulation" in p2 and not np.allclose(out2, out)


def test_degradation_validates_params_and_records_them():
    with pytest.raises(ValueError, match="unknown degradation 'fog'"):
        Degradation("fog")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['sgima'\]"):
        Degradation("awgn", {"sgima": 25})
    out, p = Degradation("haze", {"beta": [1.0, 1.0]})(np.zeros((16, 16), np.float32), RNG())
    assert p["kind"] == "haze" and p["beta"] == 1.0


def test_synthetic_pairs_are_a_function_of_seed_and_index():
    ims = [("a", RNG(0).random((40, 40)).astype(np.float32))]
    ds = SyntheticPairs(ims, Degradation("awgn", {"sigma": 25}), crop=16, length=10, seed=3)
    x1, y1 = ds[4]
    x2, y2 = SyntheticPairs(ims, Degradation("awgn", {"sigma": 25}), 16, 10, seed=3)[4]
    assert x1.shape == (1, 16, 16) and (x1 == x2).all() and (y1 == y2).all()
    assert not (ds[5][0] == x1).all()
    assert y1.min() >= -1 and y1.max() <= 1


def test_embedded_images_work_offline():
    for mode, nd in (("grey", 2), ("rgb", 3)):
        ims = embedded_images("train", mode)
        assert len(ims) >= 8 and all(im.ndim == nd and im.dtype == np.float32 for _, im in ims)
        assert 0 <= min(im.min() for _, im in ims) and max(im.max() for _, im in ims) <= 1
    assert {n for n, _ in embedded_images("test")}.isdisjoint({n for n, _ in embedded_images("train")})


def _write(path, arr):
    from skimage.io import imsave

    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(path, (arr * 255).astype(np.uint8), check_contrast=False)


def test_paired_folder_reads_and_names_every_problem(tmp_path):
    r = RNG()
    for n in ("a.png", "b.png"):
        _write(tmp_path / "ok" / "input" / n, r.random((20, 24, 3)))
        _write(tmp_path / "ok" / "target" / n, r.random((20, 24, 3)))
    pf = PairedFolder(tmp_path / "ok", crop=16, flip=True)
    x, y = pf[0]
    assert x.shape == y.shape == (3, 16, 16) and len(pf) == 2

    with pytest.raises(FileNotFoundError, match="missing folder .*target"):
        (tmp_path / "nt" / "input").mkdir(parents=True)
        PairedFolder(tmp_path / "nt")
    _write(tmp_path / "unp" / "input" / "a.png", r.random((8, 8)))
    _write(tmp_path / "unp" / "input" / "b.png", r.random((8, 8)))
    _write(tmp_path / "unp" / "target" / "a.png", r.random((8, 8)))
    with pytest.raises(ValueError, match="b.png has no partner in target/"):
        PairedFolder(tmp_path / "unp")
    _write(tmp_path / "bad" / "input" / "a.png", r.random((8, 8)))
    (tmp_path / "bad" / "target").mkdir()
    (tmp_path / "bad" / "target" / "a.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image .*a.png"):
        PairedFolder(tmp_path / "bad")
    _write(tmp_path / "size" / "input" / "a.png", r.random((8, 8)))
    _write(tmp_path / "size" / "target" / "a.png", r.random((8, 10)))
    with pytest.raises(ValueError, match="a.png has input size"):
        PairedFolder(tmp_path / "size")


def test_metrics_conventions():
    t = np.full((32, 32), 0.5)
    assert psnr(t + 0.1, t, quantize=False) == pytest.approx(20.0)
    assert ssim(t, t) == pytest.approx(1.0)
    white = np.ones((2, 2, 3))
    assert rgb_to_y(white)[0, 0] * 255 == pytest.approx(235.0)
    assert rgb_to_y(np.zeros((2, 2, 3)))[0, 0] * 255 == pytest.approx(16.0)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))


@pytest.mark.skipif(shared_data_root() is None or not (shared_data_root() / "Rain12").is_dir(),
                    reason="../shared/data/Rain12 not present")
def test_rain12_reference_psnr_y():
    root = shared_data_root() / "Rain12"
    inp, tgt = load_folder(root / "input"), load_folder(root / "target")
    assert np.mean([psnr(a, b, y_channel=True) for (_, a), (_, b) in zip(inp, tgt)]) == pytest.approx(30.14, abs=0.01)
    assert np.mean([psnr(a, b) for (_, a), (_, b) in zip(inp, tgt)]) == pytest.approx(28.82, abs=0.01)


def test_read_image_decodes_a_file_once_and_rereads_it_when_it_changes(tmp_path):
    import time

    from skimage import io as skio

    from infoflow.experiments.data.sources import read_image

    path = tmp_path / "a.png"
    skio.imsave(path, np.full((8, 8), 40, np.uint8), check_contrast=False)
    a = read_image(path)
    a[:] = 0  # the caller's copy: the next read is not affected
    assert read_image(path).max() == pytest.approx(40 / 255)
    time.sleep(0.01)
    skio.imsave(path, np.full((8, 8), 200, np.uint8), check_contrast=False)  # a new version of the file
    assert read_image(path).max() == pytest.approx(200 / 255)
    path.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image"):
        read_image(path)
