"""Post-run analyses of a finished run (final generator), written to ``analysis.csv`` (tidy rows).

``information``: the problems' primary information quantities on the whole test images (split
``information``, :func:`information_rows`); ``abstraction``: per-layer I(X;T), I(T;Y) and costs;
``detail``: per-band detail loss;
``sources``: path ablation + captum attribution; ``d_probe``: the D-optimality probe
(:mod:`experiments.probe`) with the run's own generator loss, plus the minimax ``saturating`` form
when that loss is the BCE one (the same discriminator serves both). For the deraining task the real Rain12 pairs are
scored too when ``../shared/data`` has them. All MI numbers use the ``gaussian`` estimator on
seeded random projections (stated in every row's params): of whole probe crops and whole layer maps
for ``abstraction`` (the depth measurement, infotheory/depth.py), of receptive-field patches elsewhere.
``analyses.json`` in the run folder records the analyses done, what they ran with and the seconds
each took (``seconds``: its latest run).
"""
from __future__ import annotations

import csv
import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
import yaml

from infoflow.infotheory.bands import default_levels
from infoflow.infotheory.diagnostics import abstraction_profile, detail_loss, information_sources
from infoflow.infotheory.rows import tidy_row

from .problems.base import have_shared, probe_batch
from .runfolder import RunFolder, atomic_write_text, write_rows_csv
from .evaluate import load_run_generator
from .probe import d_family, d_optimality_probe
from .builders import build_discriminator
from .config import apply_overrides
from .data import build_test_pairs, build_train_set
from .evaluate import evaluate_pairs

__all__ = ["analyse_run", "analysed", "analysis_record", "analysis_settings", "ANALYSES", "SETTINGS", "SETTING_KEYS"]

ANALYSES = ("abstraction", "detail", "sources", "d_probe", "information")
# the config keys an analysis reads that a sweep may set apart from how the run was trained (its
# preset's current value wins: a baseline trained under an older preset gets the probe the sweep asks for)
SETTINGS: dict[str, tuple[str, ...]] = {"d_probe": ("diagnostics.d_probe_steps",)}
SETTING_KEYS = frozenset(k for keys in SETTINGS.values() for k in keys)

RECORD = "analyses.json"  # in the run folder: the analyses already run on its final generator
ESTIMATOR = "gaussian"
PROBE_CROPS = 256  # test crops per analysis: the depth measurement takes one sample per crop (>= 200)
PROBE_POOL = 256  # training pairs the D-optimality probe's discriminator is trained on
PROBE_EVAL = 16  # other training pairs the probe measures the generator's gradients on


def analyse_run(run_dir: str | Path, analyses: Sequence[str], device: str = "auto",
                progress: bool = False, settings: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Run ``analyses`` (any of :data:`ANALYSES`) on the run's last checkpoint and return the new rows.

    ``settings``: values for the keys of :data:`SETTINGS` (e.g. ``{"diagnostics.d_probe_steps":
    2048}``) used instead of the run's config for the analysis only; config.yaml is not changed, and
    ``analyses.json`` records what each analysis ran with. ``analysis.csv`` is rewritten atomically:
    rows of the splits computed now replace the old ones, rows of other analyses already in the file
    are kept.
    """
    unknown = sorted(set(analyses) - set(ANALYSES))
    if unknown:
        raise ValueError(f"unknown analysis {unknown}; choose from {list(ANALYSES)}")
    if set(settings or {}) - SETTING_KEYS:
        raise ValueError(f"unknown analysis setting {sorted(set(settings or {}) - SETTING_KEYS)}; "
                         f"choose from {sorted(SETTING_KEYS)}")
    run = RunFolder(run_dir)
    cfg, G, state, dev = load_run_generator(run_dir, device)
    cfg = apply_overrides(cfg, [f"{k}={json.dumps(v)}" for k, v in (settings or {}).items()])
    step = int(state["step"])
    pairs = build_test_pairs(cfg)
    x, y = probe_batch(pairs, cfg["data"]["crop"], PROBE_CROPS, cfg["seed"], dev)
    rows: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}

    def timed(name: str, make: Callable[[], list[dict[str, Any]]]) -> None:
        t = time.perf_counter()
        rows.extend(make())
        seconds[name] = round(time.perf_counter() - t, 3)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "abstraction" in analyses:  # the Gaussian estimator's own s.e.
            timed("abstraction", lambda: abstraction_profile(G, x, y, estimator=ESTIMATOR, step=step))
        if "detail" in analyses:
            def detail() -> list[dict[str, Any]]:
                with torch.no_grad():
                    y_hat = G(x)
                return detail_loss(x, y_hat, y, levels=default_levels(x.shape[-1]), estimator=ESTIMATOR, step=step)
            timed("detail", detail)
        if "sources" in analyses:
            timed("sources", lambda: information_sources(G, x, y, estimator=ESTIMATOR, n_steps=8, step=step))
        if "information" in analyses:
            timed("information", lambda: information_rows(cfg, G, dev, step,
                                                          cfg["diagnostics"].get("info_bootstrap", INFO_BOOT)))
        if "d_probe" in analyses and cfg["loss"]["lambda_adv"] > 0:  # the L1-only control has no adversarial term
            timed("d_probe", lambda: _d_probe(cfg, G, dev, progress))
    if cfg["task"] == "derain" and have_shared("Rain12"):
        def rain12() -> list[dict[str, Any]]:
            pairs = build_test_pairs(cfg, "Rain12", limit=0, crop=None)
            return [tidy_row(step, "rain12", k, v, r["image"])
                    for r in evaluate_pairs(G, pairs, dev, 2 ** cfg["model"]["depth"]) for k, v in r.items()
                    if k != "image"]
        timed("rain12", rain12)
    path = run.path / "analysis.csv"
    kept: list[dict[str, Any]] = []
    if path.exists():
        new_splits = {r["split"] for r in rows}
        with open(path, newline="") as f:
            kept = [r for r in csv.DictReader(f) if r["split"] not in new_splits]
    write_rows_csv(path, kept + rows)
    # recorded after the rows, so a crash in between only repeats the analysis; the probe counts as
    # done for the L1-only control, which has no adversarial term to probe
    done, used = analysis_record(run.path)
    used.update({a: {k: _get(cfg, k) for k in SETTINGS[a]} for a in analyses if a in SETTINGS})
    old_seconds = json.loads((run.path / RECORD).read_text()).get("seconds", {}) if (run.path / RECORD).exists() else {}
    atomic_write_text(run.path / RECORD, json.dumps({"done": sorted(done | set(analyses)), "settings": used,
                                                     "seconds": {**old_seconds, **seconds}}))
    return rows


INFO_BOOT = 200  # bootstrap resamples of the test images behind every information interval


def information_rows(cfg: Mapping[str, Any], G: torch.nn.Module, dev: torch.device, step: int,
                     n_boot: int = INFO_BOOT) -> list[dict[str, Any]]:
    """The primary information quantities of a run's final generator on the whole test images
    (no crops), each with its bootstrap interval over images (nats or fractions), as tidy rows of
    split ``information``: per Laplacian band ``I_y_yhat``, ``I_y_x``, ``retention`` (layer = band,
    :func:`infotheory.band_information`); ``I_y_yhat`` on 8×8 patches of the whole image (layer
    ``image``); for a U-Net deeper than the abstraction problem's ``KEEP_LEVELS``, what its deeper
    levels add (``deep_added``, ``deep_share``) and cost (``deep_param_share``, ``deep_flop_share``;
    :func:`infotheory.level_information`). Metric ``X_low`` / ``X_high`` hold X's interval."""
    from infoflow.infotheory import band_information, image_information, level_information, unet_deep_layers
    from infoflow.infotheory.image_information import max_levels

    from .data import to_tensor
    from .evaluate import restore
    from .problems.abstraction import KEEP_LEVELS

    pairs = build_test_pairs(dict(cfg), crop=None)
    mult = 2 ** cfg["model"]["depth"]
    xs = [to_tensor(x) for _, x, _ in pairs]
    ys = [to_tensor(y) for _, _, y in pairs]
    with torch.no_grad():
        outs = [to_tensor(restore(G, x, dev, mult)) for _, x, _ in pairs]
    seed = int(cfg["seed"])
    n_boot = n_boot if len(pairs) >= 2 else 0  # one test image: the value, without an interval
    rows: list[dict[str, Any]] = []
    pj = json.dumps({"estimator": "copula (gaussian family)", "bootstrap": "normal (θ ± 1.96 sd), over test images", "n_boot": n_boot,
                     "images": len(pairs), "crop": "whole images"})

    def add(metric: str, value: Any, layer: str) -> None:
        if isinstance(value, (int, float)) and np.isfinite(value):
            rows.append(tidy_row(step, "information", metric, value, layer, estimator="copula", params=pj))

    levels = max_levels(min(min(t.shape[-2:]) for t in ys))
    bands = band_information(ys, outs, xs, levels=levels, n_boot=n_boot, seed=seed)
    for r in bands.to_dict("records"):
        for k in ("I_y_yhat", "I_y_x", "retention"):
            for suffix in ("", "_low", "_high"):
                add(k + suffix, r.get(k + suffix), r["band"])
    whole = image_information(ys, outs, n_boot=n_boot, seed=seed)
    for k in ("value", "low", "high"):
        add("I_y_yhat" + ("" if k == "value" else f"_{k}"), whole[k], "image")
    if getattr(G, "depth", 0) > KEEP_LEVELS:
        lv = level_information(G, xs, ys, unet_deep_layers(G, KEEP_LEVELS), n_boot=n_boot, seed=seed)
        for k in ("added", "share"):
            for suffix in ("", "_low", "_high"):
                add(f"deep_{k}{suffix}", lv[k + suffix], f"levels>{KEEP_LEVELS}")
        add("deep_param_share", lv["param_share"], f"levels>{KEEP_LEVELS}")
        add("deep_flop_share", lv["flop_share"], f"levels>{KEEP_LEVELS}")
    return rows


def _get(cfg: Mapping[str, Any], key: str) -> Any:
    section, name = key.split(".")
    return cfg.get(section, {}).get(name)


def analysis_record(run_dir: str | Path) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """(the analyses already run on a finished run, what each analysis of :data:`SETTINGS` among
    them ran with: {analysis: {config key: value}}), read once. From ``analyses.json``; for a run
    analysed before that record existed, the analyses whose rows are in its ``analysis.csv``; and
    for settings the record does not hold, the run's own config.yaml — what the analysis read then."""
    path = Path(run_dir)
    if (path / RECORD).exists():
        record = json.loads((path / RECORD).read_text())
        done, settings = set(record["done"]), dict(record.get("settings", {}))
    elif (path / "analysis.csv").exists():
        with open(path / "analysis.csv", newline="") as f:
            done, settings = {r["split"] for r in csv.DictReader(f)} & set(ANALYSES), {}
    else:
        return set(), {}
    missing = [a for a in SETTINGS if a in done and a not in settings]
    if missing and (path / "config.yaml").exists():
        cfg = yaml.safe_load((path / "config.yaml").read_text())
        settings.update({a: {k: _get(cfg, k) for k in SETTINGS[a]} for a in missing})
    return done, settings


def analysed(run_dir: str | Path) -> set[str]:
    """The analyses already run on a finished run (:func:`analysis_record`)."""
    return analysis_record(run_dir)[0]


def analysis_settings(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """What each analysis of :data:`SETTINGS` already run on a finished run ran with (:func:`analysis_record`)."""
    return analysis_record(run_dir)[1]


def _d_probe(cfg: dict[str, Any], G: torch.nn.Module, dev: torch.device, progress: bool = False
             ) -> list[dict[str, Any]]:
    lc = cfg["loss"]
    losses = [lc["adversarial"]] + (["saturating"] if d_family(lc["adversarial"]) == "vanilla" else [])
    train = build_train_set(cfg)  # D trains on a pool of training pairs and is judged on other training
    gen = np.random.default_rng([cfg["seed"], 11])  # pairs: G's training gradient is taken on that distribution
    pairs = [train[int(i)] for i in gen.integers(len(train), size=PROBE_POOL + PROBE_EVAL)]
    xs, ys = torch.stack([p[0] for p in pairs]).to(dev), torch.stack([p[1] for p in pairs]).to(dev)
    pool, probe = (xs[:PROBE_POOL], ys[:PROBE_POOL]), (xs[PROBE_POOL:], ys[PROBE_POOL:])
    return d_optimality_probe(G, lambda: build_discriminator(cfg).to(dev), list(dict.fromkeys(losses)), pool,
                              probe, lc["content"], lc["lambda_adv"], lc["lambda_content"],
                              steps=cfg["diagnostics"]["d_probe_steps"], lr=cfg["optim"]["lr_d"],
                              gp_weight=lc["gp_weight"], seed=cfg["seed"], progress=progress)
