"""``infoflow diagnose``: the suite's diagnostics on *your* restoration model.

The model comes from a factory (``FILE.py:FACTORY`` or ``package.module:FACTORY``, called with no
arguments) and optional weights (a state dict, read with ``weights_only=True``); the data from an
``input/`` + ``target/`` pair folder or from clean images degraded with a named degradation and
the literature's fixed per-image seeds. Written to ``OUT``:

* ``diagnosis.csv`` — every measurement as a tidy row (section, metric, layer, value, estimator, …);
* ``report.html`` — self-contained: scores against the task's classical reference, the
  information plane per layer, information and cost along depth, detail loss per band, the
  sources of information (ablating ``--paths``), and with a discriminator the gradient balance and
  the D-optimality probe.

Images are fed in the model's range (``value_range``: ``-1,1`` as infoflow's models, or ``0,1``).
"""
from __future__ import annotations

import base64
import html
import importlib
import importlib.util
import io
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .runfolder import atomic_write_text

__all__ = ["diagnose", "load_factory", "load_weights", "find_multiple"]

def task_of(degradation: str) -> str:
    """The registered task whose degradation is ``degradation`` (``awgn`` -> ``denoise``, …)."""
    from .tasks import REGISTRY

    of = {t.degradation: t.name for t in REGISTRY.values()}
    if degradation not in of:
        raise ValueError(f"--degradation {degradation!r}; choose one of {sorted(of)}")
    return of[degradation]


def load_factory(spec: str) -> Callable[[], Any]:
    """``FILE.py:NAME`` or ``package.module:NAME`` -> the callable; errors name what is missing."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise ValueError(f"expected FILE.py:FACTORY or package.module:FACTORY, got {spec!r}")
    if path.endswith(".py"):
        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(f"model file not found: {file}")
        mod_name = f"infoflow_user_{abs(hash(str(file.resolve())))}"
        loader = importlib.util.spec_from_file_location(mod_name, file)
        module = importlib.util.module_from_spec(loader)  # type: ignore[arg-type]
        sys.modules[mod_name] = module
        loader.loader.exec_module(module)  # type: ignore[union-attr]
    else:
        try:
            module = importlib.import_module(path)
        except ImportError as exc:
            raise ImportError(f"cannot import module {path!r}: {exc}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                       and getattr(v, "__module__", None) == module.__name__)
        raise ValueError(f"{path} has no factory {name!r}; callables defined there: {names}")
    return fn


def build_model(spec: str, weights: str | None, what: str = "model") -> nn.Module:
    factory = load_factory(spec)
    try:
        m = factory()
    except Exception as exc:  # the user's code: say whose error it is (--debug shows its traceback)
        raise RuntimeError(f"the {what} factory {spec} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(m, nn.Module):
        raise TypeError(f"the {what} factory {spec} returned {type(m).__name__}, not a torch.nn.Module")
    if weights:
        load_weights(m, weights, what)
    return m


def load_weights(model: nn.Module, path: str | Path, what: str = "model") -> None:
    """Load a state dict (or a checkpoint holding one under 'state_dict', 'model', 'G' or
    'params_ema') with ``weights_only=True``; keys or shapes that do not fit are named."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} weights not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict):
        for key in ("state_dict", "params_ema", "model", "G", "params"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} holds no state dict of tensors for the {what}")
    mine = model.state_dict()
    missing, unexpected = sorted(set(mine) - set(state)), sorted(set(state) - set(mine))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(mine[k].shape)}" for k in mine
              if k in state and state[k].shape != mine[k].shape]
    if missing or unexpected or shapes:
        raise ValueError(f"the weights in {path} do not fit the {what}: " + "; ".join(filter(None, [
            f"missing keys {missing[:5]}{' …' if len(missing) > 5 else ''} ({len(missing)})" if missing else "",
            f"unexpected keys {unexpected[:5]}{' …' if len(unexpected) > 5 else ''} ({len(unexpected)})"
            if unexpected else "",
            f"shape mismatches {shapes[:3]}" if shapes else ""])))
    model.load_state_dict(state)


def in_channels(model: nn.Module) -> int:
    """Input channels of the first convolution (the image channels the model takes)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return int(m.in_channels)
    raise ValueError("cannot tell the model's image channels (no nn.Conv2d found); pass --mode grey|rgb")


def find_multiple(model: nn.Module, channels: int, device: torch.device, largest: int = 256) -> int:
    """The smallest power of two m such that the model maps an (H, W) image with H, W multiples of
    m (and not of 2m) to an output of the same size; an error when no such m <= ``largest``."""
    last: Exception | None = None
    m = 1
    with torch.no_grad():
        while m <= largest:
            side = m * (2 * max(1, -(-64 // (2 * m))) + 1)
            x = torch.zeros(1, channels, side, side, device=device)
            try:
                out = model(x)
                if isinstance(out, torch.Tensor) and out.shape == x.shape:
                    return m
                last = ValueError(f"output shape {tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)}")
            except Exception as exc:  # noqa: BLE001 - try the next size
                last = exc
            m *= 2
    raise ValueError(f"the model cannot take images of any size tried (sides that are multiples of 1…{largest}); "
                     f"it must map a (1, {channels}, H, W) batch to the same shape; last error: {last}")


def _pairs(data: str | None, images: str | None, degradation: str, sets: Sequence[str], mode: str, limit: int
           ) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], dict[str, Any]]:
    from .config import resolve_config
    from .data import build_test_pairs

    if (data is None) == (images is None):
        raise ValueError("give either --data DIR (input/ + target/ pairs) or --images DIR (clean images to degrade)")
    task = task_of(degradation)
    sets = [s if s.startswith("data.") else f"data.degradation.params.{s}" for s in sets]
    cfg = resolve_config({"task": task}, [*sets, "model.depth=1", f"data.mode={mode}", f"data.test_images={limit}"])
    src = data if data is not None else images
    root = Path(src)  # type: ignore[arg-type]
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    if data is not None and not (root / "input").is_dir():
        raise FileNotFoundError(f"--data {root} needs input/ and target/ folders (use --images for clean images)")
    cfg["data"]["train"] = str(root)  # the folder is all test data: no held-out split
    pairs = build_test_pairs(cfg, str(root), limit=limit, crop=None)
    if len(pairs) < 2:
        raise ValueError(f"{root}: {len(pairs)} image(s); the diagnosis needs at least 2")
    return pairs, cfg


def _probe(pairs, crop: int, n: int, multiple: int, lo: float) -> tuple[torch.Tensor, torch.Tensor]:
    from .problems.base import probe_batch

    side = min(min(x.shape[:2]) for _, x, _ in pairs)
    crop = min(crop, side) // multiple * multiple
    if crop < multiple:
        raise ValueError(f"images of side {side} are smaller than the model's size multiple {multiple}")
    x, y = probe_batch(pairs, crop, n)
    return (x, y) if lo == -1 else ((x + 1) / 2, (y + 1) / 2)


def diagnose(model: str, out: str | Path, weights: str | None = None, disc: str | None = None,
             disc_weights: str | None = None, data: str | None = None, images: str | None = None,
             degradation: str = "awgn", sets: Sequence[str] = (), layers: Sequence[str] | None = None,
             paths: dict[str, list[str]] | None = None, value_range: str = "-1,1", mode: str | None = None,
             limit: int = 12, probe_size: int = 256, crop: int = 64, device: str = "auto", classical: bool = True,
             d_probe_steps: int = 200, progress: bool = True) -> Path:
    """Diagnose a restoration model; returns the path of ``OUT/report.html`` (see the module doc).
    ``probe_size`` crops of side ``crop`` make the probe batch every layer is measured on (as the
    training monitor's ``diagnostics.probe_size``).
    ``progress``: a bar over its stages (scores, information plane, ..., classical references)."""
    from infoflow.infotheory.diagnostics import abstraction_profile, eval_mode, information_sources
    from infoflow.infotheory.monitor import Monitor, resolution_layers
    from infoflow.infotheory.taps import resolve_layers

    from .builders import resolve_device
    from .evaluate import restore, score_restorer

    if value_range not in ("-1,1", "0,1"):
        raise ValueError(f"--range must be -1,1 or 0,1, got {value_range!r}")
    lo = -1.0 if value_range == "-1,1" else 0.0
    dev = resolve_device(device)
    G = build_model(model, weights).to(dev).eval()
    c = in_channels(G) if mode is None else (1 if mode == "grey" else 3)
    if c not in (1, 3):
        raise ValueError(f"the model takes {c}-channel images; diagnose needs grey (1) or RGB (3) images")
    mode = "grey" if c == 1 else "rgb"
    multiple = find_multiple(G, c, dev)
    pairs, cfg = _pairs(data, images, degradation, sets, mode, limit)
    task = cfg["task"]
    x, y = _probe(pairs, crop, probe_size, multiple, lo)
    x, y = x.to(dev), y.to(dev)
    if layers:
        resolve_layers(G, list(layers))  # an unknown name is an error that lists the valid ones
    plane_layers = list(layers) if layers else resolution_layers(G, x[:1])
    down = [n for n in plane_layers if _scale(G, x[:1], n) < 1.0] or plane_layers
    rows: list[dict[str, Any]] = []

    def restored(img: np.ndarray) -> np.ndarray:
        return restore(G, img, dev, multiple, value_range)

    stages = ["scores", "information plane", "abstraction profile", "information sources", "D probe", "classical"]
    bar = tqdm(total=len(stages), desc="diagnose", disable=not progress, leave=False)

    def stage(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bar.set_postfix_str("scores")
        with eval_mode(G):
            per_image, means = score_restorer(restored, pairs)
        stage("information plane")
        rows += [{"section": "scores", "metric": k, "value": v, "layer": "mean"} for k, v in means.items()]
        rows += [{"section": "scores", "metric": k, "value": v, "layer": r["image"]}
                 for r in per_image for k, v in r.items() if k != "image"]
        D, objective = None, None
        if disc:
            from infoflow.models import GeneratorObjective

            D = build_model(disc, disc_weights, "discriminator").to(dev)
            objective = GeneratorObjective("vanilla", "l1", 1.0, 100.0)
        mon = Monitor(G, (x[:16], y[:16]), D=D, objective=objective, layers=plane_layers, every=1)
        rows += [{"section": r.pop("split"), **r} for r in mon.measure(0)]
        stage("abstraction profile")
        if len(x) >= 200 and down:
            rows += [{"section": r.pop("split"), **r} for r in abstraction_profile(G, x, y, layers=down,
                                                                                    estimator="gaussian")]
        stage("information sources")
        if paths or callable(getattr(G, "paths", None)):
            rows += [{"section": r.pop("split"), **r}
                     for r in information_sources(G, x[:64], y[:64], paths=paths, estimator="gaussian", n_steps=8)]
        stage("D probe")
        if D is not None:
            rows += _d_probe(G, disc, disc_weights, x, y, d_probe_steps, dev)
    stage("classical")
    refs = []
    if classical:
        from .classical_refs import score_references

        refs = score_references(task, cfg, Path(out) / "classical", progress=False)
    bar.update()
    bar.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    atomic_write_text(out / "diagnosis.csv", df.to_csv(index=False))
    page = _report(model, task, df, refs, multiple, plane_layers, down, len(pairs), len(x))
    atomic_write_text(out / "report.html", page)
    return out / "report.html"


def _scale(G: nn.Module, x: torch.Tensor, name: str) -> float:
    """Output side of layer ``name`` over the input image's side."""
    box: list[torch.Tensor] = []
    h = G.get_submodule(name).register_forward_hook(lambda m, a, o: box.append(o if isinstance(o, torch.Tensor) else o[0]))
    try:
        with torch.no_grad():
            G(x)
    finally:
        h.remove()
    return box[0].shape[-1] / x.shape[-1] if box else 1.0


def _d_probe(G, disc, disc_weights, x, y, steps, dev) -> list[dict[str, Any]]:
    from .probe import d_optimality_probe

    n = len(x) // 2
    pool, held = (x[:n], y[:n]), (x[n:n + 16], y[n:n + 16])
    rows = d_optimality_probe(G, lambda: build_model(disc, disc_weights, "discriminator").to(dev),
                              ["vanilla", "saturating", "lsgan"], pool, held, "l1", 1.0, 100.0, steps=steps)
    return [{"section": r.pop("split"), **r} for r in rows]


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return f"<img src='data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}'>"


def _report(model: str, task: str, df: pd.DataFrame, refs: list[dict], multiple: int, plane_layers: list[str],
            down: list[str], n_images: int, n_probe: int) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    esc = html.escape
    s = df[(df.section == "scores") & (df.layer == "mean")].set_index("metric")["value"]
    lines = [f"<tr><td>{esc(model)}</td><td>{s.get('psnr', float('nan')):.2f}</td><td>{s.get('ssim', float('nan')):.3f}"
             f"</td><td>{s.get('swd', float('nan')):.1f}</td></tr>"]
    for r in refs:
        if r.get("status") == "scored":
            lines.append(f"<tr><td>classical: {esc(r['method'])}</td><td>{r['final_psnr']:.2f}</td>"
                         f"<td>{r['final_ssim']:.3f}</td><td>{r.get('final_swd', float('nan')):.1f}</td></tr>")
        else:
            lines.append(f"<tr><td>classical: {esc(r['method'])}</td><td colspan=3>{esc(str(r.get('status')))}</td></tr>")
    lines.append(f"<tr><td>degraded input</td><td>{s.get('psnr_input', float('nan')):.2f}</td>"
                 f"<td>{s.get('ssim_input', float('nan')):.3f}</td><td></td></tr>")
    parts = ["<html><head><meta charset='utf-8'><title>infoflow diagnosis</title><style>body{font-family:sans-serif;"
             "max-width:1100px;margin:auto;padding:1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:3px 8px}img{max-width:100%}</style></head><body>",
             f"<h1>infoflow diagnosis of <code>{esc(model)}</code></h1>",
             f"<p>Task: {esc(task)}; {n_images} whole test images; probe: {n_probe} crops; the model takes sides "
             f"that are multiples of {multiple}. Layers (resolution changes): {esc(', '.join(plane_layers))}. "
             "Every number is a row of <code>diagnosis.csv</code>; MI in nats.</p>",
             "<h2>Scores (whole images)</h2><table><tr><th></th><th>PSNR (dB)</th><th>SSIM</th>"
             "<th>SWD ×10³ (lower = more realistic)</th></tr>" + "".join(lines) + "</table>"]
    ip = df[(df.section == "infoplane")]
    if len(ip):
        p = ip.pivot_table(index="layer", columns="metric", values="value", sort=False)
        if {"I(X;T)", "I(T;Y)"} <= set(p.columns):
            fig, ax = plt.subplots(figsize=(5, 3.5))
            ax.plot(p["I(X;T)"], p["I(T;Y)"], "o-")
            for name, r in p.iterrows():
                ax.annotate(str(name), (r["I(X;T)"], r["I(T;Y)"]), fontsize=7)
            ax.set(xlabel="I(X;T) (nats)", ylabel="I(T;Y) (nats)", title="Information plane per layer")
            parts += ["<h2>Information plane</h2>", _png(fig)]
    ab = df[(df.section == "abstraction") & (df.metric == "I(T;Y)")]
    if len(ab):
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.errorbar(range(len(ab)), ab.value, yerr=ab.get("std"), fmt="o-")
        ax.set_xticks(range(len(ab)), ab.layer.astype(str), rotation=45, fontsize=7)
        ax.set(ylabel="I(T_l;Y) (nats)", title="Target information along depth (down-sampling layers)")
        parts += ["<h2>Abstraction profile</h2><p>The same X and Y at every layer (one sample per probe crop); "
                  "the truth cannot rise with depth — a rise is flagged in the table.</p>", _png(fig)]
    det = df[(df.section == "detail") & (df.metric == "detail_residual")]
    if len(det):
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.bar(det.layer.astype(str), det.value)
        ax.set(ylabel="‖Ŷ_b − Y_b‖² / ‖Y_b‖²", title="Detail residual per Laplacian band (band0 = finest)")
        parts += ["<h2>Detail loss per band</h2>", _png(fig)]
    for sec, title in (("sources", "Sources of information (path ablation)"), ("gradients", "Gradient balance"),
                       ("d_probe", "D-optimality probe")):
        t = df[df.section == sec]
        if len(t):
            cols = [c for c in ("step", "layer", "metric", "value") if c in t]
            parts.append(f"<h2>{title}</h2><details><summary>{len(t)} rows</summary>"
                         + t[cols].to_html(index=False, float_format=lambda v: f"{v:.4g}") + "</details>")
    parts.append("</body></html>")
    return "\n".join(parts)
