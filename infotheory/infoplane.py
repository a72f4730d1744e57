"""Information plane: I(X;T_l) and I(T_l;Y) for chosen layers T_l, X degraded input, Y clean target.

Conventions (a deterministic network has infinite I(X;T) for continuous X, so every number
states which finite version it is):

* ``kde``: T is noise-injected, T + N(0, σ² I) (Saxe et al. 2018). I(X;T) treats each probe
  input as its own value (saturates at log N); I(T;Y) uses Y quantised into ``y_clusters``
  k-means clusters of its reduced vector (a lower bound on I(T;Y) by data processing).
* ``binning``: T, X, Y quantised into ``n_bins`` per dimension (Shwartz-Ziv & Tishby 2017).
* any other estimator (``gaussian``, ``copula``, ``ksg``, ``auto``, neural bounds): applied to
  the reduced continuous vectors directly.

Rows are tidy dicts: step, split="infoplane", metric ("I(X;T)" or "I(T;Y)"), value (nats),
layer, estimator, params (JSON with the estimator's parameters, the reduction and the
convention), saturated, ceiling.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ._isolate import eval_mode, isolated
from .api import estimate_mi, get_estimator
from .reductions import PatchSample, RandomProjection, Reduction
from .result import MIEstimate
from .rows import tidy_row
from .taps import LayerTap

__all__ = ["InformationPlane", "information_plane_rows", "CONVENTIONS"]

CONVENTIONS = {
    "kde": "T + N(0, noise_variance·I); X = probe-sample identity; Y quantised by k-means (lower bound)",
    "binning": "X, T, Y quantised into n_bins per dimension",
}


def _kmeans_labels(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    k = min(k, len(np.unique(y, axis=0)))
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(y).astype(np.int64)


class InformationPlane:
    """Measures the information plane of ``layers`` of a model on a fixed probe batch.

    Args:
        layers: layer names (or modules) to tap.
        estimator: an ``estimate_mi`` method name; ``params`` its hyper-parameters
            (defaults: kde noise_variance=0.1; binning n_bins=30).
        reduction: ``"patch"`` (default): ``n_per_image`` seeded positions per image; at a layer of
            stride s the sample is the feature vector there (T), and the s×s input and target
            patches under it (X, Y) — aligned with the receptive field's footprint — each
            projected to ``dim`` dims by a seeded random projection. Or any
            :class:`~infotheory.reductions.Reduction` for T (then X and Y are whole images pooled
            to 8×8 and projected).
        y_clusters: k for the k-means quantisation of Y under the ``kde`` convention.
    """

    def __init__(self, layers: Sequence[str | nn.Module], estimator: str = "kde", params: dict[str, Any] | None = None,
                 reduction: Reduction | str = "patch", n_per_image: int = 16, dim: int = 8, y_clusters: int = 16,
                 seed: int = 0) -> None:
        self.layers, self.estimator = list(layers), estimator
        defaults = {"kde": {"noise_variance": 0.1}, "binning": {"n_bins": 30}}.get(estimator, {})
        self.params = {**defaults, **(params or {})}
        get_estimator(estimator, **self.params)  # a wrong name or parameter is said now, not at the first measurement
        self.patch = reduction == "patch"
        self.n_per_image, self.dim = n_per_image, dim
        self.reduction = PatchSample(n_per_image, 1, seed) if self.patch else reduction
        self.y_clusters, self.seed = y_clusters, seed

    def describe(self, gathered: bool = False) -> dict[str, Any]:
        """The reduction behind every number (recorded in each row's params)."""
        extra = {"gathered_across_ranks": True} if gathered else {}
        if self.patch:
            return {"reduction": "receptive-field patches", "n_per_image": self.n_per_image, "dim": self.dim,
                    "seed": self.seed, **extra}
        return {**self.reduction.describe(), "dim": self.dim, **extra}

    def _mi(self, a: np.ndarray, b: np.ndarray) -> MIEstimate:
        return estimate_mi(a, b, method=self.estimator, **self.params)

    def _images(self, img: torch.Tensor, t_shape: torch.Size, seed_offset: int) -> np.ndarray:
        proj = RandomProjection(self.dim, self.seed + seed_offset)
        if self.patch and len(t_shape) == 4:
            s = max(1, img.shape[-1] // t_shape[-1])
            v = PatchSample(self.n_per_image, s, self.seed, stride=s)(img)
        else:
            v = nn.functional.adaptive_avg_pool2d(img, 8).flatten(1)
        return proj(v).double().cpu().numpy()

    @torch.no_grad()
    def measure(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, step: int = 0,
                gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
                estimate: bool = True) -> list[dict[str, Any]]:
        """Forward the probe batch x (B, C, H, W) through ``model`` (eval mode), return tidy rows.

        ``gather`` (distributed use): maps a local tensor to the concatenation over all ranks; every
        rank calls ``measure`` with it and only the rank with ``estimate=True`` computes the MI.
        """
        with isolated(model):  # mode, buffers and RNG as they were, also on errors
            with eval_mode(model), LayerTap(model, self.layers, reduce=self.reduction) as tap:
                model(x)
        tap.require_outputs()
        acts, shapes = tap.activations, tap.shapes
        if gather is not None:  # every rank contributes its probe samples (collective calls, fixed order)
            acts = {n: gather(acts[n]) for n in sorted(acts)}
            x, y = gather(x), gather(y)
        if not estimate:
            return []
        rows, cache = [], {}
        for name, t in acts.items():
            tn = RandomProjection(self.dim, self.seed + 2)(t.double()).numpy()
            tn = tn[:, tn.std(0) > 1e-12] if tn.shape[1] > 1 else tn  # dead units carry nothing
            if tn.shape[1] == 0 or tn.std() == 0:  # a constant layer carries no information: I = 0 exactly
                rows += self._rows(step, name, None, None, "all units constant on the probe batch: I = 0",
                                   gathered=gather is not None)
                continue
            key = tuple(shapes[name][-2:])
            if key not in cache:  # layers at the same resolution share their X/Y samples
                ys = self._images(y, shapes[name], 1)
                labels = _kmeans_labels(ys, self.y_clusters, self.seed) if self.estimator == "kde" else None
                cache[key] = (self._images(x, shapes[name], 0), ys, labels)
            xs, ys, labels = cache[key]
            try:
                if self.estimator == "kde":
                    ixt = estimate_mi(np.arange(len(tn)), tn, method="kde", discrete=(True, False), **self.params)
                    ity = estimate_mi(labels, tn, method="kde", discrete=(True, False), **self.params)
                else:
                    ixt, ity = self._mi(xs, tn), self._mi(tn, ys)
            except ValueError as exc:  # e.g. too few samples at a 1×1 bottleneck: say so, keep going
                rows += self._rows(step, name, None, None, f"not estimated: {exc}", missing=True,
                                   gathered=gather is not None)
                continue
            rows += self._rows(step, name, ixt, ity, gathered=gather is not None)
        return rows

    def _rows(self, step: int, layer: str, ixt: MIEstimate | None, ity: MIEstimate | None,
              note: str | None = None, missing: bool = False, gathered: bool = False) -> list[dict[str, Any]]:
        import json

        out = []
        for metric, est in (("I(X;T)", ixt), ("I(T;Y)", ity)):
            params = {**self.params, **self.describe(gathered), "convention": CONVENTIONS.get(
                self.estimator, "reduced continuous vectors"), **({"note": note} if note else {})}
            if self.estimator == "kde" and est is not None:
                params["lower"], params["upper"] = est.lower, est.upper
            out.append(tidy_row(step, "infoplane", metric, (math.nan if missing else 0.0) if est is None else est.value,
                                layer, estimator=self.estimator, params=json.dumps(params, sort_keys=True, default=str),
                                saturated=bool(est.saturated) if est else False,
                                ceiling=est.ceiling if est and est.ceiling is not None else math.nan))
        return out


def information_plane_rows(model: nn.Module, layers: Sequence[str], x: torch.Tensor, y: torch.Tensor,
                           estimator: str = "kde", **params: Any) -> list[dict[str, Any]]:
    """One-shot helper: ``InformationPlane(layers, estimator, params).measure(model, x, y)``."""
    return InformationPlane(layers, estimator, params).measure(model, x, y)
