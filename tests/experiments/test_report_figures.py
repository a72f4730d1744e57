"""The report's figures: partial sweeps (a task with one configuration finished), known answers, legible layout."""
import math

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


def _decision(mean, lo, hi, answer, holm=None):
    return {"quantity": "band0_retention", "mean": mean, "ci_low": lo, "ci_high": hi, "answer": answer,
            "holm_answer": holm or answer}


def test_the_primaries_figure_draws_each_decision_as_decided():
    """Known answers: a present verdict (interval wholly below the registered 0.9) is a filled red
    point with its interval drawn; a Holm-removed answer is grey and hollow; unconverged and
    missing comparisons are labelled; the threshold is the problem's registered one."""
    from matplotlib.colors import to_hex

    from infoflow.experiments.problems import PROBLEMS
    from infoflow.experiments.report.primaries import ANSWER_STYLE, primaries_figure

    vs = [{"problem": "detail", "task": "dehaze", "decision": _decision(0.3, 0.2, 0.4, "yes"),
           "fix_decision": _decision(0.1, -0.2, 0.4, "inconclusive")},
          {"problem": "detail", "task": "denoise", "decision": _decision(1.2, 1.0, 1.4, "inconclusive (unconverged)"),
           "fix_decision": _decision(0.3, 0.1, 0.5, "yes", holm="inconclusive (Holm)")},
          {"problem": "detail", "task": "deblur", "decision": _decision(0.5, 0.3, 0.7, "inconclusive"),
           "fix_decision": {"quantity": "band0_retention", "mean": None}}]
    fig = primaries_figure(vs)
    present, fix = fig.axes[:2]
    assert [t.get_text() for t in present.get_xticklabels()] == ["dehaze", "denoise", "deblur"]
    threshold = PROBLEMS["detail"].present.threshold
    assert any(list(line.get_ydata()) == [threshold, threshold] for line in present.lines)  # the dotted line
    points = [ln for ln in present.lines if ln.get_marker() not in ("None", None, "") and len(ln.get_xdata()) == 1]
    red = ANSWER_STYLE["yes"][0]
    assert to_hex(points[0].get_color()) == red and to_hex(points[0].get_mfc()) == red  # present: filled red
    assert [0.2, 0.4] in [list(ln.get_ydata()) for ln in present.lines]  # its interval
    fix_points = [ln for ln in fix.lines if ln.get_marker() not in ("None", None, "") and len(ln.get_xdata()) == 1]
    assert to_hex(fix_points[1].get_mfc()) == "#ffffff"  # yes unadjusted, inconclusive after Holm: hollow
    assert "unconverged" in [t.get_text() for t in present.texts]
    assert "not run" in [t.get_text() for t in fix.texts]
    assert primaries_figure([{"problem": "detail", "task": "x", "decision": {}, "fix_decision": {}}]) is None


def _runs_of(tasks: dict[str, list[str]]) -> pd.DataFrame:
    return pd.DataFrame([{"task": t, "config": c, "seed": s, "final_psnr": 20.0 + i + 0.1 * s, "final_psnr_input": 18.0}
                         for t, cs in tasks.items() for i, c in enumerate(cs) for s in range(3)])


def test_psnr_panels_keep_their_labels_and_legends_off_each_other():
    """Long configuration names (baseline+global-residual) on every panel: no panel's names run into
    the panel to its left, and no legend covers a bar (both did on the first four-task report)."""
    from infoflow.experiments.report.figures import psnr_by_task

    cfgs = ["no-skip", "baseline", "baseline+global-residual", "detail-branch", "depth2-wide"]
    classical = pd.DataFrame([{"task": "dehaze", "method": "dcp", "final_psnr": 21.0}])
    fig = psnr_by_task(_runs_of({"deblur": cfgs, "dehaze": cfgs, "derain": cfgs}), None, None, {}, classical)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_title()]
    for left, right in zip(axes, axes[1:]):
        names = [t.get_window_extent(r) for t in right.get_yticklabels()]
        assert not any(n.overlaps(left.get_window_extent(r)) for n in names)
    for ax in axes:
        legend = ax.get_legend().get_window_extent(r)
        assert not any(legend.overlaps(p.get_window_extent(r)) for p in ax.patches if p.get_width() > 0)


def test_information_vs_cost_names_do_not_run_together():
    """The configuration names under the bars never overlap one another (they did, unrotated)."""
    from infoflow.experiments.report.figures import information_vs_cost

    cfgs = ["baseline", "baseline+global-residual", "detail-branch", "no-skip"]
    ana = pd.DataFrame([{"task": t, "config": c, "seed": s, "step": 1, "split": "information", "metric": m,
                         "layer": "", "value": v} for t in ("deblur", "dehaze", "derain") for c in cfgs
                        for s in range(2) for m, v in (("deep_share", 0.1), ("deep_param_share", 0.9),
                                                       ("deep_flop_share", 0.6))])
    fig = information_vs_cost(None, None, ana, {})
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    for ax in (ax for ax in fig.axes if ax.get_title()):
        labels = ax.get_xticklabels()
        assert len(labels) == len(cfgs)
        angle = math.radians(labels[0].get_rotation())
        if angle == 0:  # level names: their boxes must not meet
            boxes = [t.get_window_extent(r) for t in labels]
            assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
        else:  # parallel slanted names: the gap across their lines must exceed a line's height
            x = ax.transData.transform([(tick, 0) for tick in ax.get_xticks()])[:, 0]
            height = labels[0].get_fontsize() * fig.dpi / 72
            assert min(abs(b - a) for a, b in zip(x, x[1:])) * math.sin(angle) > height


def _by_config(rows: list[dict]) -> pd.DataFrame:
    """Tidy rows whose value is a known constant per configuration (baseline 0.1, hinge 0.2, lsgan 0.3)."""
    level = {"baseline": 0.1, "hinge": 0.2, "lsgan": 0.3}
    return pd.DataFrame([r | {"value": level[r["config"]]} for r in rows])


def test_a_configuration_keeps_its_colour_in_every_panel_and_one_legend_names_it():
    """Known answer: deblur ran baseline, hinge and LSGAN, dehaze only baseline and LSGAN; every drawn
    curve sits at its configuration's constant, so its colour must be the one the figure's single
    legend gives that configuration — in both panels (per-panel colour cycling gave LSGAN hinge's
    colour in the dehaze panel) — and no panel keeps a legend of its own over the data."""
    from matplotlib.colors import to_hex

    from infoflow.experiments.report.figures import info_per_layer, jsd_vs_gradient, retention_bands

    ran = {"deblur": ["baseline", "hinge", "lsgan"], "dehaze": ["baseline", "lsgan"]}
    each = [{"task": t, "config": c, "seed": s} for t, cs in ran.items() for c in cs for s in range(2)]
    metrics = _by_config([r | {"split": "gradients", "metric": m, "layer": "", "step": step} for r in each
                          for m in ("jsd_lower_bound", "grad_ratio_adv_content") for step in (100, 200, 300)])
    retention = _by_config([r | {"split": "information", "metric": "retention", "layer": b, "step": 1} for r in each
                            for b in ("band0 (1/1)", "band1 (1/2)", "lowpass")])
    layers = _by_config([r | {"split": "abstraction", "metric": "I(T;Y)", "layer": f"enc{i}", "step": 1}
                         for r in each for i in (1, 2, 3)])
    uses = {p: ran for p in ("gradients", "detail")}
    value = {0.1: "baseline", 0.2: "hinge", 0.3: "lsgan"}
    for fig in (jsd_vs_gradient(None, metrics, None, uses), retention_bands(None, None, retention, uses),
                info_per_layer(None, None, layers, uses)):
        (legend,) = fig.legends
        key = {t.get_text(): to_hex(h.get_color()) for t, h in zip(legend.get_texts(), legend.legend_handles)}
        assert set(key) == {"baseline", "hinge", "lsgan"} and len(set(key.values())) == 3
        panels = [ax for ax in fig.axes if ax.get_title()]
        assert len(panels) >= 2 and all(ax.get_legend() is None for ax in panels)
        for ax in panels:
            curves = [ln for ln in ax.lines if len(set(ln.get_xdata())) > 1 and len(set(ln.get_ydata())) == 1]
            drawn = {value[round(float(ln.get_ydata()[0]), 6)]: to_hex(ln.get_color()) for ln in curves
                     if round(float(ln.get_ydata()[0]), 6) in value}
            task = next(t for t in ran if ax.get_title().startswith(t))
            assert drawn == {c: key[c] for c in ran[task]}, (ax.get_title(), drawn, key)
