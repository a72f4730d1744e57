"""The report's figures (matplotlib/seaborn), each a function of the tidy tables -> Figure or None."""
from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..problems import PROBLEMS  # noqa: E402
from .collect import overall_rows  # noqa: E402

__all__ = ["FIGURES", "WITH_CLASSICAL"]

sns.set_theme(style="whitegrid", context="paper")


def _grid(n: int, rows: int = 1, w: float = 4.0, h: float = 3.2):
    """A figure with ``rows`` × n panels (one column per task); axes always 2-D. Constrained layout:
    matplotlib places the suptitle, every panel's labels and legends and any figure legend (``loc=
    "outside ..."``) clear of each other when the figure is drawn — no figure lays itself out."""
    return plt.subplots(rows, max(n, 1), figsize=(w * max(n, 1), h * rows), squeeze=False, layout="constrained")


def _facets(n: int, w: float = 4.0, h: float = 3.2):
    fig, axes = _grid(n, 1, w, h)
    return fig, axes[0]


def _colours(levels) -> dict[str, Any]:
    """One colour per level (sorted), the same in every panel of a figure: a configuration missing
    from one task's panel must not pass its colour to another configuration there."""
    levels = sorted(set(map(str, levels)))
    colours = sns.color_palette("tab10" if len(levels) <= 10 else "tab20", len(levels))
    return dict(zip(levels, colours))


def _shared_legend(fig: plt.Figure) -> None:
    """Replace the panels' legends by one figure legend below them (labels in first-seen order):
    no legend covers data, and one key reads for every panel."""
    seen: dict[str, Any] = {}
    for ax in fig.axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if not label.startswith("_"):
                seen.setdefault(label, h)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=min(len(seen), 6),
                   fontsize=7, frameon=False)


def _rows(df: pd.DataFrame, split: str, metrics: list[str] | None = None) -> pd.DataFrame | None:
    """A copy of the tidy rows of ``split`` (and ``metrics``), or None when there are none."""
    if df.empty or "split" not in df:
        return None
    d = df[(df.split == split) & (df.metric.isin(metrics) if metrics else True)]
    return None if d.empty else d.copy()


def _ratio_and_saturation(d: pd.DataFrame, x: str, hue: str, errorbar: Any, xscale: str | None = None):
    """Per task (columns): G's adversarial/content gradient ratio (log axis, 0.01 warning line) above
    D's saturated fraction, both against ``x``."""
    tasks, palette = sorted(d.task.unique()), _colours(d[hue])
    fig, axes = _grid(len(tasks), rows=2, h=3.0)
    for j, task in enumerate(tasks):
        for i, metric in enumerate(["grad_ratio_adv_content", "d_saturated_fraction"]):
            ax = axes[i, j]
            sns.lineplot(data=d[(d.task == task) & (d.metric == metric)], x=x, y="value", hue=hue,
                         hue_order=list(palette), palette=palette, errorbar=errorbar, ax=ax)
            ax.set(title=f"{task}: {metric}", ylabel=metric)
            if xscale:
                ax.set_xscale(xscale)
            if i == 0:
                ax.set_yscale("log")
                ax.axhline(0.01, ls=":", color="grey")
    _shared_legend(fig)
    return fig


def psnr_vs_depth(runs: pd.DataFrame, metrics, analysis, uses) -> plt.Figure | None:
    cfgs = {c for t in uses.get("abstraction", {}).values() for c in t}
    r = runs[runs.config.isin(cfgs)]
    if r.empty:
        return None
    tasks = sorted(r.task.unique())
    fig, axes = _facets(len(tasks))
    for ax, task in zip(axes, tasks):
        base = r[(r.task == task) & (r.res_blocks == 0)]
        sns.lineplot(data=base, x="depth", y="final_psnr", marker="o", errorbar="sd", ax=ax, label="baseline U-Net")
        fix = r[(r.task == task) & (r.config == PROBLEMS["abstraction"].fixes[0])]
        if len(fix):
            ax.errorbar(fix.depth.mean(), fix.final_psnr.mean(), yerr=fix.final_psnr.std() if len(fix) > 1 else None,
                        fmt="*", ms=12, color="C3", label="fix: shallow + res blocks")
        ax.axhline(base.final_psnr_input.mean(), ls=":", color="grey", label="degraded input")
        ax.set(title=task, xlabel="down-samplings (depth)", ylabel="PSNR (dB)")
    _shared_legend(fig)
    fig.suptitle("Abstraction: PSNR vs number of down-samplings (mean ± sd over seeds)")
    return fig


def info_per_layer(runs, metrics, analysis: pd.DataFrame, uses) -> plt.Figure | None:
    a = _rows(analysis, "abstraction", ["I(T;Y)"])
    if a is None:
        return None
    a = a[a.layer.astype(str).str.match(r"enc\d+$")].copy()
    if a.empty:
        return None
    a["layer_index"] = a.layer.str[3:].astype(int)
    tasks, palette = sorted(a.task.unique()), _colours(a.config)
    fig, axes = _facets(len(tasks))
    for ax, task in zip(axes, tasks):
        sns.lineplot(data=a[a.task == task], x="layer_index", y="value", hue="config", hue_order=list(palette),
                     palette=palette, marker="o", errorbar="sd", ax=ax)
        ax.set(title=task, xlabel="encoder layer (down-samplings so far)", ylabel="I(T_l;Y) (nats)")
    _shared_legend(fig)
    fig.suptitle("Target information along depth (same X and Y at every layer; gaussian estimator, 16-dim "
                 "projections). " + _dpi_sentence(analysis), fontsize=7)
    return fig


def _dpi_sentence(analysis: pd.DataFrame) -> str:
    """What the curve can be read for: the true I(T_l;Y) cannot rise along the encoder (a Markov
    chain); rises beyond 2 s.e. (``dpi_violation`` rows) mean the estimator cannot order the layers."""
    v = _rows(analysis, "abstraction", ["dpi_violation"])
    if v is None:
        return "The truth cannot rise with depth."
    n_bad, n = int((v.value.astype(float) > 0).sum()), len(v)
    if n_bad:
        return (f"THE ESTIMATE RISES beyond 2 s.e. at {n_bad} of {n} layer steps, which the truth cannot: "
                "this estimator cannot order the layers, and no verdict uses this curve.")
    return f"No rise beyond 2 s.e. at any of {n} layer steps (the truth cannot rise)."


def _band_order(layers: pd.Series) -> list[str]:
    return sorted(layers.unique(), key=lambda b: (b == "lowpass", b))


def retention_bands(runs, metrics, analysis: pd.DataFrame, uses) -> plt.Figure | None:
    """Detail loss in information: per Laplacian band, the retention I(Y_b;Ŷ_b)/I(Y_b;X_b) of each
    detail configuration (mean over seeds; bars: the seeds' spread), 1 = everything the input's band
    carried about the target's is kept."""
    a = _rows(analysis, "information", ["retention"])
    cfgs = {c for t in uses.get("detail", {}).values() for c in t}
    if a is None or not a.config.isin(cfgs).any():
        return None
    a = a[a.config.isin(cfgs) & (a.layer.astype(str) != "image")]
    tasks, palette = sorted(a.task.unique()), _colours(a.config)
    fig, axes = _facets(len(tasks), w=4.6)
    for ax, task in zip(axes, tasks):
        d = a[a.task == task]
        sns.pointplot(data=d, x="layer", y="value", hue="config", hue_order=list(palette), palette=palette,
                      order=_band_order(d.layer), errorbar=("pi", 100),
                      dodge=0.3 if len(palette) > 1 else False, ax=ax)  # seaborn divides by hues - 1
        ax.axhline(1.0, ls=":", color="grey")
        ax.set(title=task, xlabel="Laplacian band (finest first)", ylabel="retention I(Y_b;Ŷ_b) / I(Y_b;X_b)")
        ax.tick_params(axis="x", labelsize=6)
    _shared_legend(fig)
    fig.suptitle("Detail loss in information: the fraction of each band's target information (carried by the input's "
                 "band) that the output keeps — whole test images", fontsize=8)
    return fig


def information_vs_cost(runs, metrics, analysis: pd.DataFrame, uses) -> plt.Figure | None:
    """Over-invested abstraction in information: what the deepest levels add to I(Y;Ŷ) (share, with
    its interval) against their share of parameters and FLOPs, per configuration that has them."""
    a = _rows(analysis, "information", ["deep_share", "deep_param_share", "deep_flop_share"])
    if a is None:
        return None
    g = a.groupby(["task", "config", "metric"])["value"].mean().unstack("metric").reset_index()
    tasks = sorted(g.task.unique())
    fig, axes = _facets(len(tasks), w=4.6)
    for ax, task in zip(axes, tasks):
        d = g[g.task == task].melt(id_vars=["config"], value_vars=[c for c in ("deep_share", "deep_param_share",
                                                                               "deep_flop_share") if c in g])
        d["what"] = d.metric.map({"deep_share": "share of I(Y;Ŷ) they add", "deep_param_share": "share of parameters",
                                  "deep_flop_share": "share of FLOPs"})
        sns.barplot(data=d, x="config", y="value", hue="what", ax=ax)
        ax.set(title=task, xlabel="", ylabel="fraction", ylim=(min(0, float(d.value.min()) - 0.05), 1.05))
        ax.tick_params(axis="x", labelsize=7, labelrotation=25)
        plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")  # long config names never overlap
    _shared_legend(fig)
    fig.suptitle("The levels below 2 down-samplings: the information about the target they add vs what they cost "
                 "(mean over seeds)", fontsize=8)
    return fig


def jsd_vs_gradient(runs, metrics: pd.DataFrame, analysis, uses) -> plt.Figure | None:
    """Vanishing gradients in information: the training discriminator's JSD lower bound (nats,
    ceiling log 2) above G's adversarial/content gradient ratio, over training, per loss."""
    m = _rows(metrics, "gradients", ["jsd_lower_bound", "grad_ratio_adv_content"])
    cfgs = {c for t in uses.get("gradients", {}).values() for c in t}
    if m is None or not m.config.isin(cfgs).any() or "jsd_lower_bound" not in set(m.metric):
        return None
    m = overall_rows(m[m.config.isin(cfgs)])
    tasks, palette = sorted(m.task.unique()), _colours(m.config)
    fig, axes = _grid(len(tasks), rows=2, h=3.0)
    for j, task in enumerate(tasks):
        for i, metric in enumerate(["jsd_lower_bound", "grad_ratio_adv_content"]):
            ax = axes[i, j]
            sns.lineplot(data=m[(m.task == task) & (m.metric == metric)], x="step", y="value", hue="config",
                         hue_order=list(palette), palette=palette, errorbar="sd", ax=ax)
            if i == 0:
                ax.axhline(np.log(2), ls=":", color="grey")
                ax.set(ylabel="JSD lower bound (nats)")
            else:
                ax.set_yscale("log")
                ax.set(ylabel="‖∇adv‖ / ‖∇content‖")
            ax.set(title=task)
    _shared_legend(fig)
    fig.suptitle("What D knows about real vs restored (JSD bound; dotted: log 2) beside G's adversarial gradient, "
                 "over training", fontsize=8)
    return fig


def cost_vs_quality(runs: pd.DataFrame, metrics, analysis, uses) -> plt.Figure | None:
    cfgs = {c for t in uses.get("abstraction", {}).values() for c in t}
    r = runs[runs.config.isin(cfgs)]
    if r.empty:
        return None
    g = r.groupby(["task", "config"]).agg(params=("params", "first"), psnr=("final_psnr", "mean")).reset_index()
    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    sns.scatterplot(data=g, x="params", y="psnr", hue="task", style="config", s=70, ax=ax)
    ax.set(xscale="log", xlabel="generator parameters", ylabel="PSNR (dB)", title="Cost vs quality")
    ax.legend(fontsize=6, ncol=2)
    return fig


def information_plane(runs, metrics: pd.DataFrame, analysis, uses) -> plt.Figure | None:
    m = _rows(metrics, "infoplane")
    if m is None:
        return None
    p = PROBLEMS["abstraction"]  # the shallowest of its sweep, its baseline and its fix
    cfgs = [c for c in ("depth2", p.baseline, *p.fixes) if c in set(m.config)]
    m = m[m.config.isin(cfgs)]
    depth = runs.set_index(["task", "config"])["depth"].groupby(level=[0, 1]).first()
    rows = []
    for (task, config), g in m.groupby(["task", "config"]):
        bott = f"enc{depth.loc[(task, config)]}"
        gb = g[g.layer == bott]
        sat = gb[gb.metric == "I(X;T)"].groupby("step")["saturated"].apply(lambda v: v.astype(str).eq("True").any())
        g = gb.pivot_table(index="step", columns="metric", values="value", aggfunc="mean")
        if {"I(X;T)", "I(T;Y)"} <= set(g.columns):
            g["saturated"] = sat.reindex(g.index).fillna(False).astype(bool)
            g["ceiling"] = gb.groupby("step")["ceiling"].max().reindex(g.index)
            rows.append((task, config, g))
    if not rows:
        return None
    tasks, palette = sorted({r[0] for r in rows}), _colours(r[1] for r in rows)
    fig, axes = _facets(len(tasks))
    for ax, task in zip(axes, tasks):
        for _, config, g in (r for r in rows if r[0] == task):
            line, = ax.plot(g["I(X;T)"], g["I(T;Y)"], marker="o", ms=3, label=config, color=palette[config])
            ax.annotate("start", (g["I(X;T)"].iloc[0], g["I(T;Y)"].iloc[0]), fontsize=6)
            s = g[g.saturated]
            if len(s):  # at the log N ceiling: these points measure the probe size, not the layer
                ax.plot(s["I(X;T)"], s["I(T;Y)"], "x", ms=8, color=line.get_color())
                ax.axvline(s["ceiling"].iloc[0], ls=":", color=line.get_color(), lw=0.8)
        ax.plot([], [], "kx", label="saturated (log N)")
        ax.set(title=task, xlabel="I(X;T) (nats)", ylabel="I(T;Y) (nats)")
    _shared_legend(fig)
    fig.suptitle("Local information plane of the bottleneck during training — receptive-field patches, each layer "
                 "against its own footprint (kde: T + N(0, 0.1·I), X = probe identity, Y k-means-quantised; "
                 "ceiling log N)", fontsize=7)
    return fig


def detail_bands(runs, metrics, analysis: pd.DataFrame, uses) -> plt.Figure | None:
    a = _rows(analysis, "detail", ["energy_retention", "detail_residual"])
    if a is None:
        return None
    tasks, palette = sorted(a.task.unique()), _colours(a.config)
    fig, axes = _grid(len(tasks), rows=2, h=3.0)
    for j, task in enumerate(tasks):
        for i, metric in enumerate(["energy_retention", "detail_residual"]):
            sns.barplot(data=a[(a.task == task) & (a.metric == metric)], x="layer", y="value", hue="config",
                        hue_order=list(palette), palette=palette, errorbar="sd", ax=axes[i, j])
            axes[i, j].set(title=f"{task}: {metric}", xlabel="Laplacian band", ylabel=metric)
            axes[i, j].tick_params(axis="x", labelsize=6)
    _shared_legend(fig)
    fig.suptitle("Detail loss per frequency band (1 = target's energy; residual 0 = perfect)")
    return fig


def detail_mi(runs, metrics, analysis: pd.DataFrame, uses) -> plt.Figure | None:
    a = _rows(analysis, "detail", ["I(Y_b;Yhat_b)", "I(Y_b;X_b)"])
    if a is None:
        return None
    a = a.assign(series=np.where(a.metric == "I(Y_b;X_b)", "input X", a.config))
    a = a[~((a.series == "input X") & (a.config != "baseline"))]
    tasks, palette = sorted(a.task.unique()), _colours(a.series)
    fig, axes = _facets(len(tasks), 4.5)
    for ax, task in zip(axes, tasks):
        sns.barplot(data=a[a.task == task], x="layer", y="value", hue="series", hue_order=list(palette),
                    palette=palette, errorbar="sd", ax=ax)
        ax.set(title=task, xlabel="band", ylabel="I(Y_b; ·) (nats)")
        ax.tick_params(axis="x", labelsize=6)
    _shared_legend(fig)
    fig.suptitle("Per-band information about the target: output vs input (gaussian estimator, 4×4 patches "
                 "→ 8 dims)", fontsize=9)
    return fig


def gradient_ratio(runs, metrics: pd.DataFrame, analysis, uses) -> plt.Figure | None:
    m = _rows(metrics, "gradients")
    cfgs = {c for t in uses.get("gradients", {}).values() for c in t}
    if m is None or not m.config.isin(cfgs).any():
        return None
    fig = _ratio_and_saturation(overall_rows(m[m.config.isin(cfgs)]), "step", "config", "sd")
    fig.suptitle("Adversarial / content gradient norm ratio of G, and saturated D outputs, over training")
    return fig


def d_probe(runs, metrics, analysis: pd.DataFrame, uses) -> plt.Figure | None:
    """G's adversarial/content gradient ratio as a fresh D is trained against the frozen G."""
    a = _rows(analysis, "d_probe")
    if a is None:
        return None
    a["D updates"] = a.step.astype(float) + 1  # log axis: the untrained D is plotted at 1
    a = a[(a.config == "baseline") | (a.layer.astype(str) == a.config)]  # the baseline's two forms + each loss
    a["loss"] = np.where(a.config == "baseline", "baseline: " + a.layer.astype(str), a.layer.astype(str))
    a["value"] = a["value"].astype(float).clip(lower=1e-5)  # a vanished gradient stays on the log axis
    fig = _ratio_and_saturation(a, "D updates", "loss", ("pi", 100), xscale="log")
    fig.suptitle("D-optimality probe: does G's adversarial gradient survive a discriminator that wins?")
    return fig


def _classical_for(classical: pd.DataFrame | None, task: str) -> pd.DataFrame:
    if classical is None or classical.empty or "status" not in classical:
        return pd.DataFrame()
    return classical[(classical.task == task) & (classical.status == "scored")]


def psnr_by_task(runs: pd.DataFrame, metrics, analysis, uses, classical: pd.DataFrame | None = None
                 ) -> plt.Figure | None:
    """Per task: every configuration's PSNR on the whole test images (mean ± sd, seeds as dots),
    the classical references as dashed lines, the degraded input as a dotted line."""
    if runs.empty:
        return None
    tasks = sorted(runs.task.unique())
    fig, axes = _facets(len(tasks), w=4.6, h=0.28 * runs.config.nunique() + 1.6)
    for ax, task in zip(axes, tasks):
        r = runs[runs.task == task]
        order = r.groupby("config")["final_psnr"].mean().sort_values().index.tolist()
        sns.barplot(data=r, y="config", x="final_psnr", order=order, errorbar="sd", color="C0", alpha=0.6, ax=ax)
        sns.stripplot(data=r, y="config", x="final_psnr", order=order, color="k", size=3, ax=ax)
        for i, c in enumerate(_classical_for(classical, task).itertuples()):
            ax.axvline(c.final_psnr, ls="--", color=f"C{i + 1}", label=f"classical: {c.method}")
        ax.axvline(r.final_psnr_input.mean(), ls=":", color="grey", label="degraded input")
        lo = min(r.final_psnr.min(), r.final_psnr_input.mean()) - 1
        ax.set_xlim(left=max(0, lo))
        ax.set(title=task, xlabel="PSNR (dB), whole test images", ylabel="")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)  # below: never over a bar
    fig.suptitle("Every configuration against the classical references (mean ± sd over seeds; dots: seeds)")
    return fig


def perception_distortion(runs: pd.DataFrame, metrics, analysis, uses, classical: pd.DataFrame | None = None
                          ) -> plt.Figure | None:
    """Per task: PSNR (distortion) against SWD ×10³ (realism, lower is more realistic), one point per
    configuration (mean, error bars = seed sd on both axes); classical references as black diamonds."""
    if runs.empty or "final_swd" not in runs:
        return None
    tasks = sorted(runs.task.unique())
    configs = sorted(runs.config.unique())  # one colour + marker per configuration, the same in every panel
    palette, markers = plt.get_cmap("tab20").colors, "os^vP*Xhp<>d8"
    style = {c: (palette[i % len(palette)], markers[i % len(markers)]) for i, c in enumerate(configs)}
    fig, axes = _facets(len(tasks), w=4.4, h=3.6)
    for ax, task in zip(axes, tasks):
        g = runs[runs.task == task].groupby("config").agg(
            psnr=("final_psnr", "mean"), psnr_sd=("final_psnr", "std"), swd=("final_swd", "mean"),
            swd_sd=("final_swd", "std")).reset_index()
        for r in g.itertuples():
            color, marker = style[r.config]
            ax.errorbar(r.swd, r.psnr, xerr=r.swd_sd if r.swd_sd == r.swd_sd else None,
                        yerr=r.psnr_sd if r.psnr_sd == r.psnr_sd else None, fmt=marker, ms=5, capsize=2,
                        color=color, label=r.config)
        for c in _classical_for(classical, task).itertuples():
            if "final_swd" in c._fields and c.final_swd == c.final_swd:
                ax.plot(c.final_swd, c.final_psnr, "D", color="k", ms=7)
                ax.annotate(f"classical: {c.method}", (c.final_swd, c.final_psnr), fontsize=6,
                            xytext=(4, 4), textcoords="offset points")
        ax.set(title=task, xlabel="SWD ×10³ (realism; lower = more realistic)", ylabel="PSNR (dB)")
    _shared_legend(fig)
    fig.suptitle("Perception–distortion: each configuration (mean ± sd over seeds) and the classical references")
    return fig


FIGURES = {
    "abstraction_information_vs_cost": information_vs_cost,
    "detail_retention_bands": retention_bands,
    "gradients_jsd_vs_gradient": jsd_vs_gradient,
    "abstraction_psnr_vs_depth": psnr_vs_depth,
    "abstraction_info_per_layer": info_per_layer,
    "abstraction_cost_vs_quality": cost_vs_quality,
    "abstraction_information_plane": information_plane,
    "detail_bands": detail_bands,
    "detail_band_mi": detail_mi,
    "gradients_ratio_and_saturation": gradient_ratio,
    "gradients_d_probe": d_probe,
    "psnr_all_configs": psnr_by_task,
    "perception_distortion": perception_distortion,
}
WITH_CLASSICAL = {"psnr_all_configs", "perception_distortion"}  # take the classical references too
