"""Realism (SWD on Laplacian-pyramid patches) on cases whose order is known by construction."""
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from infoflow.experiments.data import get_images
from infoflow.experiments.data.realism import sliced_wasserstein, swd_realism


def _sets():
    imgs = [img for _, img in get_images("embedded", "grey", split="all")]
    crops = [img[y : y + 64, x : x + 64] for img in imgs for y in (0, 64) for x in (0, 64)
             if img.shape[0] >= 128 and img.shape[1] >= 128]
    return crops[0::2], crops[1::2]


def test_sliced_wasserstein_known_cases():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert sliced_wasserstein(a, a) == 0.0
    shifted = sliced_wasserstein(a, a + np.array([1.0, 0, 0]))
    assert shifted == pytest.approx(np.mean(np.abs(np.random.default_rng(0).standard_normal((3, 512))[0]
                                                   / np.linalg.norm(np.random.default_rng(0).standard_normal((3, 512)),
                                                                    axis=0))), rel=1e-6)
    assert sliced_wasserstein(a, rng.standard_normal((3000, 3))) < 0.05  # same law, other sample size
    with pytest.raises(ValueError, match="samples"):
        sliced_wasserstein(a, a[:, :2])


def test_swd_orders_identical_sharp_blurred_and_noisy():
    ref, other = _sets()
    assert len(ref) >= 4 and len(other) >= 4
    same = swd_realism(ref, ref)
    assert same["swd"] == 0.0
    sharp = swd_realism(other, ref)["swd"]  # another sample of sharp images: the baseline distance
    blurred = swd_realism([gaussian_filter(o, 1.5) for o in other], ref)
    noisy = swd_realism([np.clip(o + np.random.default_rng(1).normal(0, 0.1, o.shape), 0, 1) for o in other], ref)
    assert blurred["swd"] > 2 * sharp and noisy["swd"] > 2 * sharp
    assert blurred["swd_level0"] > blurred["swd_lowpass"]  # blur removes the finest band most
    with pytest.raises(ValueError, match="too small"):
        swd_realism([np.zeros((8, 8))], [np.zeros((8, 8))], levels=3)
