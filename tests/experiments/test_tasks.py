"""Tasks as plug-ins: one registry that the config, the sweep, diagnose and the CLI read; the
deblurring task as one module (its degradation and classical reference included); a user's task
from a module outside the package, trained and diagnosed."""
import textwrap

import numpy as np
import pandas as pd
import pytest

from infoflow.experiments.cli import main
from infoflow.experiments.config import resolve_config
from infoflow.experiments.data import psnr
from infoflow.experiments.data.sources import embedded_images
from infoflow.experiments.problems import TASKS
from infoflow.experiments.reproduce import build_grid
from infoflow.experiments.tasks import REGISTRY, get_task
from infoflow.experiments.tasks.deblur import blur, defocus_kernel, motion_kernel, richardson_lucy_restore
from infoflow.experiments.train import Trainer

from .test_train import TINY


def test_every_reader_of_tasks_reads_the_registry():
    assert TASKS == ("denoise", "derain", "dehaze", "deblur") == tuple(REGISTRY)
    for name, task in REGISTRY.items():
        cfg = resolve_config({"task": name}, [])
        assert cfg["data"]["degradation"]["kind"] == task.degradation and cfg["data"]["mode"] == task.mode
    grid, _ = build_grid("tiny", ["deblur"], ["detail"])
    assert {s.task for s in grid} == {"deblur"}
    with pytest.raises(ValueError, match="unknown task 'nope'.*deblur"):
        get_task("nope")


def test_blur_kernels_and_degradation_by_construction():
    for k in (motion_kernel(9.0, 0.7), defocus_kernel(3.0)):
        assert k.shape == (15, 15) and k.sum() == pytest.approx(1.0) and (k >= 0).all()
    assert np.allclose(defocus_kernel(3.0), defocus_kernel(3.0)[::-1, ::-1])  # a disk is symmetric
    flat = np.full((32, 32, 3), 0.4, dtype=np.float32)
    out, p = blur(flat, np.random.default_rng(0), sigma=0.0)
    assert np.allclose(out, 0.4, atol=1e-6) and p["kernel"] in ("motion", "defocus")  # blur keeps a constant
    a, pa = blur(flat, np.random.default_rng(3))
    b, pb = blur(flat, np.random.default_rng(3))
    assert np.array_equal(a, b) and pa == pb  # seeded


def test_the_classical_reference_sharpens():
    """Richardson-Lucy (kernel unknown) restores a defocused photograph closer than the blurred input."""
    name, img = next((n, im) for n, im in embedded_images("all", "rgb") if n == "astronaut")
    clean = img[100:228, 100:228].astype(np.float32)
    rng = np.random.default_rng(1)
    blurred, _ = blur(clean, rng, sigma=1.0, motion_prob=0.0)
    restored = richardson_lucy_restore(blurred)
    assert psnr(restored, clean) > psnr(blurred, clean) + 0.3


def test_deblurring_trains(tmp_path):
    s = Trainer(resolve_config({"task": "deblur"}, [*TINY, "train.steps=2"]), tmp_path / "deblur", device="cpu",
                progress=False).fit()
    assert s["steps"] == 2 and "psnr" in s["test"]


PLUGIN = textwrap.dedent('''
    """A user's task, from outside the package: salt-and-pepper noise."""
    import numpy as np

    from infoflow.experiments.data.degradations import register_degradation
    from infoflow.experiments.tasks import Task, register


    def salt_pepper(clean, rng, amount=0.05):
        out = clean.copy()
        m = rng.random(clean.shape[:2]) < amount
        out[m] = rng.integers(0, 2, size=int(m.sum()))[:, None] if out.ndim == 3 else rng.integers(0, 2, int(m.sum()))
        return out.astype(np.float32), {"amount": float(amount)}


    register_degradation("salt_pepper", salt_pepper)
    TASK = register(Task("desalt", "salt_pepper", {"amount": 0.05}, mode="grey", demo=False))
''')


def test_a_task_from_a_user_module_trains_and_is_diagnosed(tmp_path, capsys):
    plugin = tmp_path / "my_task.py"
    plugin.write_text(PLUGIN)
    models = tmp_path / "my_models.py"
    models.write_text("import torch\n\ndef identity():\n    return torch.nn.Conv2d(1, 1, 1, bias=False).requires_grad_(False)"
                      ".apply(lambda m: torch.nn.init.ones_(m.weight) if isinstance(m, torch.nn.Conv2d) else None)\n")
    clean = tmp_path / "clean"
    clean.mkdir()
    from skimage import io

    for i, (_, im) in enumerate(embedded_images("test", "grey")[:2]):
        io.imsave(clean / f"{i}.png", (im[:96, :96] * 255).astype(np.uint8), check_contrast=False)
    try:
        assert main(["--plugin", str(plugin), "train", "--out", str(tmp_path / "run"), "--device", "cpu",
                     "--no-progress", "--set", "task=desalt", *TINY, "train.steps=2"]) == 0
        cfg = resolve_config({"task": "desalt"}, [])
        assert cfg["data"]["degradation"] == {"kind": "salt_pepper", "params": {"amount": 0.05}}
        assert main(["--plugin", str(plugin), "diagnose", "--model", f"{models}:identity", "--images", str(clean),
                     "--degradation", "salt_pepper", "--probe", "16", "--crop", "32", "--no-classical",
                     "--device", "cpu", "--out", str(tmp_path / "diag")]) == 0
        s = pd.read_csv(tmp_path / "diag" / "diagnosis.csv")
        m = s[(s.section == "scores") & (s.layer == "mean")].set_index("metric").value
        assert m["psnr"] == pytest.approx(m["psnr_input"], abs=1e-4)  # the identity restores nothing
    finally:
        import sys

        from infoflow.experiments.data.degradations import DEGRADATIONS

        REGISTRY.pop("desalt", None)
        DEGRADATIONS.pop("salt_pepper", None)
        sys.modules.pop("my_task", None)
    assert main(["--plugin", str(tmp_path / "missing.py"), "estimate", "a", "b"]) == 2
    assert "plugin" in capsys.readouterr().err


PROBLEM_PLUGIN = textwrap.dedent('''
    """A user's problem, from outside the package: does a wider U-Net restore better?"""
    from infoflow.experiments.problems import Problem, register_problem
    from infoflow.experiments.problems.decision import Comparison


    def context(runs, task, configs):
        return f"Toy context: {len(runs[runs.task == task])} runs of {task}."


    PROBLEM = register_problem(Problem(
        name="toy", title="Width (a user's problem)", section=9,
        configs=lambda preset: {"baseline": {"model.depth": 2}, "wide": {"model.depth": 2, "model.ngf": 8}}, baseline="baseline", fixes=["wide"],
        present=Comparison("is the baseline better than its input?", "psnr", a="baseline"),
        fix=Comparison("does the wider U-Net restore better?", "psnr", a="wide", b="baseline"),
        effects=[Comparison("what width adds to realism (SWD)", "swd", a="wide", b="baseline", unit="x1e3")],
        context=context, figures=["psnr_all_configs"]))
''')


def test_a_problem_from_a_user_module_is_swept_decided_and_reported(tmp_path):
    import json
    import sys

    from infoflow.experiments.problems import PROBLEMS, Problem, register_problem
    from infoflow.experiments.report.build import _sections

    plugin = tmp_path / "my_problem.py"
    plugin.write_text(PROBLEM_PLUGIN)
    try:
        assert main(["--plugin", str(plugin), "reproduce", "--preset", "tiny", "--tasks", "denoise", "--problems", "toy",
                     "--out", str(tmp_path / "runs"), "--device", "cpu", "--jobs", "1", "--no-classical",
                     "--no-progress"]) == 0
        assert {p.parent.name for p in (tmp_path / "runs" / "denoise").glob("*/seed0")} == {"baseline", "wide"}
        (v,) = json.loads((tmp_path / "runs" / "report" / "verdicts.json").read_text())
        assert v["problem"] == "toy" and v["decision"]["quantity"] == "psnr"
        assert [e["question"] for e in v["effects"]] == ["what width adds to realism (SWD)"]
        assert "Toy context: 2 runs of denoise." in v["text"]
        page = (tmp_path / "runs" / "report" / "report.html").read_text()
        assert "9. Width (a user&#x27;s problem)" in page or "9. Width (a user's problem)" in page
        with pytest.raises(ValueError, match="a different problem named 'toy'"):
            register_problem(Problem(name="toy", title="another", configs=lambda p: {}, baseline="b", fixes=[]))
        PROBLEMS["toy"].figures.append("no_such_figure")
        with pytest.raises(KeyError, match="no_such_figure"):
            _sections()
    finally:
        PROBLEMS.pop("toy", None)
        sys.modules.pop("my_problem", None)
