"""Information between images, estimated on aligned patches and bootstrapped over images.

The shared machinery of the per-problem information quantities (:func:`band_information`,
:func:`infotheory.level_information`): every image of a set gives ``n_per_image`` aligned p×p
patches of the same (seeded) interior positions in each of the images compared, randomly projected
to ``dim`` dimensions (one projection for the whole set); MI is estimated on the patches of all
images pooled, and its interval comes from a bootstrap that resamples *images*, not patches —
patches of one image are not independent, images are.

Estimator (``method``): the Gaussian copula (``copula`` with ``family="gaussian"``) by default. On
the linear-Gaussian image model (:mod:`infotheory.random_fields`) it matches the closed form; unlike
the ``gaussian`` estimator it is unchanged by a monotone warp of each coordinate (real images are
not Gaussian: warping one side by ``sinh`` moves ``gaussian`` from 2.7 to 0.5 nats, the copula not at
all); KSG reads 1.5 for 2.8 nats in 8 + 8 dimensions (the known negative bias of nearest-neighbour
estimators at high MI). Every number is in nats.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence, Union

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm

from ._validate import check_finite
from .api import estimate_mi
from .estimators.copula_resample import CopulaResampler, varying_columns
from .bands import BAND_NAMES, laplacian_bands
from .reductions import PatchSample, RandomProjection

__all__ = ["band_information", "image_information", "as_image_list", "image_patches", "bootstrap_over_images",
           "resampled_stats",
           "max_levels", "DEFAULT_METHOD", "DEFAULT_PARAMS"]

Images = Union[torch.Tensor, np.ndarray, Sequence[Union[torch.Tensor, np.ndarray]]]
DEFAULT_METHOD = "copula"
DEFAULT_PARAMS: dict[str, Any] = {"family": "gaussian"}
LEVEL = 0.95


def as_image_list(imgs: Images, name: str) -> list[torch.Tensor]:
    """(B, C, H, W) tensor/array, or a sequence of (C, H, W) images (sizes may differ) -> list of
    float64 (1, C, H, W) CPU tensors. Raises naming ``name`` on a bad shape, NaN or Inf."""
    if isinstance(imgs, (torch.Tensor, np.ndarray)):
        if imgs.ndim != 4:
            raise ValueError(f"{name}: expected (B, C, H, W) images or a list of (C, H, W), got shape {tuple(imgs.shape)}")
        items = list(imgs)
    else:
        items = list(imgs)
    if not items:
        raise ValueError(f"{name}: no images")
    out = []
    for i, im in enumerate(items):
        t = torch.as_tensor(np.asarray(im) if not isinstance(im, torch.Tensor) else im).detach()
        if t.ndim != 3:
            raise ValueError(f"{name}[{i}]: expected a (C, H, W) image, got shape {tuple(t.shape)}")
        t = t.to("cpu", torch.float64)
        check_finite(t, f"{name}[{i}]")
        out.append(t[None])
    return out


def _check_aligned(groups: dict[str, list[torch.Tensor]]) -> None:
    names = list(groups)
    ref = groups[names[0]]
    for n in names[1:]:
        if len(groups[n]) != len(ref):
            raise ValueError(f"{names[0]} has {len(ref)} images, {n} has {len(groups[n])}: they must be aligned")
        for i, (a, b) in enumerate(zip(ref, groups[n])):
            if a.shape != b.shape:
                raise ValueError(f"image {i}: {names[0]} is {tuple(a.shape[1:])}, {n} is {tuple(b.shape[1:])}; "
                                 "aligned images must have one shape")


def image_patches(img: torch.Tensor, patch: int, n_per_image: int, margin: int, seed: int, dim: int,
                  index: int = 0) -> np.ndarray:
    """(1, C, H, W) -> (n, ≤dim) float64: ``n_per_image`` p×p patches at seeded positions at least
    ``margin`` pixels from the border, projected by the seeded ``RandomProjection(dim, seed)``. The
    positions depend on (seed, index, size) only, so the same call on aligned images is aligned."""
    _, _, h, w = img.shape
    inner = img[..., margin:h - margin, margin:w - margin] if margin else img
    if inner.shape[-1] < patch or inner.shape[-2] < patch:
        raise ValueError(f"a {h}×{w} map leaves {tuple(inner.shape[-2:])} inside a {margin}-pixel margin: too small "
                         f"for {patch}×{patch} patches (use larger images or fewer pyramid levels)")
    s = PatchSample(n_per_image=n_per_image, patch=patch, seed=seed * 100_003 + index)(inner)
    return RandomProjection(dim, seed)(s).cpu().numpy()


def max_levels(size: int, patch: int = 3, margin: int = 4, most: int = 3) -> int:
    """The most pyramid levels (≤ ``most``, ≥ 1) whose coarsest band of an image of side ``size``
    still holds a ``patch``-pixel patch ``margin`` pixels inside its border."""
    need = 2 * margin + patch
    levels = most
    while levels > 1 and size // 2**levels < need:
        levels -= 1
    return levels


Weighted = Callable[[dict[str, np.ndarray]], Callable[[np.ndarray], dict[str, float]]]


def resampled_stats(pairs: dict[str, tuple[str, str]], method: str, params: dict[str, Any],
                    then: Callable[[dict[str, float]], dict[str, float]] = dict) -> Weighted | None:
    """``weighted`` for :func:`bootstrap_over_images` when ``method``/``params`` are the Gaussian
    copula's with its defaults (None otherwise: the bootstrap then re-estimates each materialised
    draw): given the pooled arrays, it sorts each pair's columns once
    (:class:`~infotheory.estimators.copula_resample.CopulaResampler`) and returns the draw's
    statistics, ``then({name: I(pooled[a]; pooled[b]) of the weighted draw})`` — ``then`` adds the
    derived ones (ratios, differences) as the caller's ``stats`` does."""
    if not CopulaResampler.serves(method, params):
        return None

    def prepare(pooled: dict[str, np.ndarray]) -> Callable[[np.ndarray], dict[str, float]]:
        res = {k: CopulaResampler(pooled[a], pooled[b]) for k, (a, b) in pairs.items()}
        return lambda w: then({k: r.mi(w) for k, r in res.items()})
    return prepare


def _mi(a: np.ndarray, b: np.ndarray, method: str, params: dict[str, Any]) -> float:
    """MI in nats; coordinates that are constant over the sample carry no information and are dropped
    (an ablated path's constant output has I = 0 exactly, where a rank-based fit would be singular)."""
    a, b = (v[:, varying_columns(v)] for v in (a, b))
    if a.shape[1] == 0 or b.shape[1] == 0:
        return 0.0
    return float(estimate_mi(a, b, method=method, **params).value)


def bootstrap_over_images(blocks: dict[str, list[np.ndarray]], stats: Callable[[dict[str, np.ndarray]], dict[str, float]],
                          n_boot: int = 200, seed: int = 0, level: float = LEVEL,
                          weighted: Weighted | None = None
                          ) -> dict[str, tuple[float, float, float]]:
    """``stats`` of the pooled blocks, and its normal bootstrap interval θ ± z·sd over ``n_boot``
    resamples of the images (with replacement; every block of an image goes with it). The bootstrap
    gives the spread only: a resample that repeats images shifts an MI estimate (repeated patches
    look dependent), so percentile intervals — or the basic ones reflected about θ — would move with
    that shift, not with the error. ``blocks``: name -> one (n_i, d) array per image. ``weighted``:
    called once with the pooled arrays, it returns the same statistics of a draw given as weights on
    the pooled rows (each row's multiplicity, (sum n_i,)), so work on the pooled sample is reused
    across draws (:func:`resampled_stats`); the draws are the same. Returns name of statistic ->
    (value, low, high); NaN bounds when ``n_boot`` is 0 or there is one image."""
    names = list(blocks)
    n_img = len(blocks[names[0]])
    pooled = {k: np.concatenate(v) for k, v in blocks.items()}
    point = stats(pooled)
    reps: dict[str, list[float]] = {k: [] for k in point}
    if n_boot > 0 and n_img > 1:
        rng = np.random.default_rng([seed, 4242])
        sizes = [len(a) for a in blocks[names[0]]]
        of_weights = weighted(pooled) if weighted is not None else None
        for _ in range(n_boot):
            idx = rng.integers(n_img, size=n_img)
            if of_weights is not None:
                draw = of_weights(np.repeat(np.bincount(idx, minlength=n_img), sizes))
            else:
                draw = stats({b: np.concatenate([blocks[b][i] for i in idx]) for b in names})
            for k, v in draw.items():
                reps[k].append(v)
    z = float(norm.ppf(0.5 + level / 2))
    out = {}
    for k, v in point.items():
        r = np.asarray([x for x in reps[k] if math.isfinite(x)])
        half = z * float(r.std(ddof=1)) if r.size >= 2 and math.isfinite(v) else math.nan
        out[k] = (float(v), v - half, v + half)
    return out


def band_information(y: Images, y_hat: Images, x: Images | None = None, levels: int = 3, patch: int = 3,
                     n_per_image: int = 256, dim: int = 8, margin: int = 4, method: str = DEFAULT_METHOD,
                     n_boot: int = 200, seed: int = 0, level: float = LEVEL, progress: bool = False,
                     **params: Any) -> pd.DataFrame:
    """Per Laplacian band b: I(Y_b;Ŷ_b), I(Y_b;X_b) and the retention I(Y_b;Ŷ_b)/I(Y_b;X_b) (nats).

    y, y_hat, x: target, restored output and degraded input, each (B, C, H, W) or a list of
    (C, H, W) images (whole test images of any size; aligned image by image). Each band is the
    :func:`~infotheory.laplacian_bands` band of the image at its own resolution; its p×p patches are
    taken ``margin`` band pixels inside the border (away from the pyramid's padding) and projected
    to ``dim`` dims. Intervals: normal bootstrap over images (``n_boot`` resamples, ``level``).

    Retention reads: the fraction of the target's band information that the input's band carried
    and the output's band kept. It is ≤ 1 (up to estimation error) when Ŷ_b is a function of X_b
    alone — e.g. a filter that acts band by band. A restorer that infers a band's detail from other
    bands of X (denoising: coarse edges predict fine ones) can exceed 1: the output then holds
    band information that the input held elsewhere.

    Returns a tidy ``pandas.DataFrame``, a row per band (``band0 (1/1)`` finest … ``lowpass``),
    columns ``band``, ``level``, ``I_y_yhat``, ``I_y_yhat_low``, ``I_y_yhat_high``, and with ``x``
    also ``I_y_x``…, ``retention``, ``retention_low``, ``retention_high``; plus ``n_images``,
    ``n_samples``, ``method``. ``params`` go to the estimator (default ``family="gaussian"`` for
    the copula).
    """
    from tqdm.auto import tqdm

    groups = {"y": as_image_list(y, "y"), "y_hat": as_image_list(y_hat, "y_hat")}
    if x is not None:
        groups["x"] = as_image_list(x, "x")
    _check_aligned(groups)
    n_img = len(groups["y"])
    if n_img < 2 and n_boot > 0:
        raise ValueError("band_information needs at least 2 images for a bootstrap over images (or n_boot=0)")
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    params = {**DEFAULT_PARAMS, **params} if method == DEFAULT_METHOD else params
    names = BAND_NAMES(levels)
    blocks: dict[int, dict[str, list[np.ndarray]]] = {b: {k: [] for k in groups} for b in range(levels + 1)}
    for i in tqdm(range(n_img), desc="band information: patches", disable=not progress, leave=False):
        f = 2 ** levels
        for k, imgs in groups.items():
            im = imgs[i]
            h, w = im.shape[-2:]
            bands = laplacian_bands(im[..., : h - h % f, : w - w % f], levels)  # a whole pyramid: crop to 2**levels
            for b, band in enumerate(bands):
                blocks[b][k].append(image_patches(band, patch, n_per_image, margin, seed + b, dim, i))

    pairs = {"I_y_yhat": ("y", "y_hat"), **({"I_y_x": ("y", "x")} if "x" in groups else {})}

    def retention(out: dict[str, float]) -> dict[str, float]:
        if "I_y_x" in out:
            out["retention"] = out["I_y_yhat"] / out["I_y_x"] if out["I_y_x"] > 0 else math.nan
        return out

    def stats(p: dict[str, np.ndarray]) -> dict[str, float]:
        return retention({k: _mi(p[a], p[b], method, params) for k, (a, b) in pairs.items()})

    rows = []
    for b in tqdm(range(levels + 1), desc="band information: bootstrap", disable=not progress, leave=False):
        res = bootstrap_over_images(blocks[b], stats, n_boot, seed, level,
                                    resampled_stats(pairs, method, params, then=retention))
        row: dict[str, Any] = {"band": names[b], "level": b}
        for k, (v, lo, hi) in res.items():
            row.update({k: v, f"{k}_low": lo, f"{k}_high": hi})
        row.update({"n_images": n_img, "n_samples": int(sum(len(a) for a in blocks[b]["y"])), "method": method})
        rows.append(row)
    return pd.DataFrame(rows)


def image_information(y: Images, y_hat: Images, patch: int = 8, n_per_image: int = 256, dim: int = 8,
                      method: str = DEFAULT_METHOD, n_boot: int = 200, seed: int = 0, level: float = LEVEL,
                      **params: Any) -> dict[str, float]:
    """I(Y;Ŷ) in nats on aligned ``patch``×``patch`` patches of whole images (projected to ``dim``),
    with its normal bootstrap interval over images: ``{"value", "low", "high", "n_images",
    "n_samples"}``. y, y_hat: (B, C, H, W) or lists of (C, H, W) images, aligned."""
    groups = {"y": as_image_list(y, "y"), "y_hat": as_image_list(y_hat, "y_hat")}
    _check_aligned(groups)
    if len(groups["y"]) < 2 and n_boot > 0:
        raise ValueError("image_information needs at least 2 images for a bootstrap over images (or n_boot=0)")
    params = {**DEFAULT_PARAMS, **params} if method == DEFAULT_METHOD else params
    blocks = {k: [image_patches(im, patch, n_per_image, 0, seed, dim, i) for i, im in enumerate(v)]
              for k, v in groups.items()}
    res = bootstrap_over_images(blocks, lambda p: {"I": _mi(p["y"], p["y_hat"], method, params)}, n_boot, seed,
                                level, resampled_stats({"I": ("y", "y_hat")}, method, params))["I"]
    return {"value": res[0], "low": res[1], "high": res[2], "n_images": len(groups["y"]),
            "n_samples": int(sum(len(b) for b in blocks["y"]))}
