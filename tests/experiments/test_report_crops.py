"""Side-by-side crops: the detail window is found where the detail is, and every panel is the same
window of the same test image."""
import numpy as np
import pandas as pd
import pytest

from infoflow.experiments.report.crops import detail_window, restored_crops, sample_crops
from infoflow.experiments.data import build_test_pairs
from infoflow.experiments.train import Trainer

from .test_train import tiny


def test_detail_window_finds_the_textured_patch():
    img = np.zeros((64, 80))
    yy, xx = np.mgrid[0:12, 0:12]
    img[20:32, 50:62] = (yy + xx) % 2  # a checkerboard: the only detail in the image
    assert detail_window(img, 12) == (20, 50)
    assert detail_window(np.dstack([img] * 3), 12) == (20, 50)
    assert detail_window(img[:10, :10], 12) == (0, 0)  # smaller than the window: its corner


def test_crops_are_one_window_of_one_image(tmp_path):
    paths = {}
    for cfg_name, extra in [("baseline", []), ("l1-only", ["loss.lambda_adv=0"])]:
        Trainer(tiny("train.steps=2", "data.test_images=1", *extra), tmp_path / cfg_name, device="cpu",
                progress=False).fit()
        paths[cfg_name] = str(tmp_path / cfg_name)
    runs = pd.DataFrame([{"task": "denoise", "config": c, "seed": 0, "path": p, "final_psnr": 20.0 + i}
                         for i, (c, p) in enumerate(paths.items())])
    panels = restored_crops(runs, "denoise", ["baseline", "l1-only", "absent-config"], size=16)
    assert [p[0].split("\n")[0] for p in panels] == ["degraded", "baseline", "l1-only", "clean"]
    assert panels[1][0].endswith("20.00 dB") and all(p[1].shape == (16, 16) for p in panels)
    _, degraded, clean = build_test_pairs(tiny(), limit=1, crop=None)[0]
    top, left = detail_window(clean, 16)
    assert np.array_equal(panels[0][1], degraded[top:top + 16, left:left + 16])
    assert np.array_equal(panels[-1][1], clean[top:top + 16, left:left + 16])
    assert not np.array_equal(panels[1][1], panels[2][1])  # two generators, two restorations
    fig = sample_crops(runs, size=16)
    assert fig is not None and len([a for a in fig.axes if a.images]) == 4
    (tmp_path / "baseline" / "checkpoints" / "last.pt").unlink()
    (tmp_path / "l1-only" / "checkpoints" / "last.pt").unlink()
    assert sample_crops(runs, size=16) is None  # no checkpoint left: no figure, no error


@pytest.mark.parametrize("empty", [pd.DataFrame(), pd.DataFrame({"task": [], "config": []})])
def test_no_runs_no_figure(empty):
    assert sample_crops(empty) is None
