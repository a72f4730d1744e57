"""The report's figures on partial sweeps: a task with one configuration finished so far."""
import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from infoflow.experiments.report.figures import retention_bands  # noqa: E402


def _retention(task: str, configs: list[str]) -> pd.DataFrame:
    return pd.DataFrame([{"task": task, "config": c, "seed": s, "step": 1, "split": "information",
                          "metric": "retention", "layer": band, "value": 0.5 + 0.1 * s}
                         for c in configs for s in range(3) for band in ("band0 (1/1)", "band1 (1/2)", "lowpass")])


def test_retention_bands_with_one_configuration_of_a_task():
    """A task whose only finished detail configuration is the baseline gets its panel (seaborn's
    dodge divides by the number of hues − 1: the report died here on a sweep part-way)."""
    uses = {"detail": {"denoise": ["baseline", "detail-branch"], "deblur": ["baseline", "detail-branch"]}}
    ana = pd.concat([_retention("denoise", ["baseline", "detail-branch"]), _retention("deblur", ["baseline"])])
    fig = retention_bands(None, None, ana, uses)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["deblur", "denoise"]
    deblur = next(ax for ax in fig.axes if ax.get_title() == "deblur")
    assert [t.get_text() for t in deblur.get_xticklabels()] == ["band0 (1/1)", "band1 (1/2)", "lowpass"]
