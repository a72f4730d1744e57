"""Plug-in (histogram) MI with per-dimension bins and Miller–Madow bias correction."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .._validate import ArrayLike, check_pair, constant_column_error, constant_columns
from ..result import MIEstimate
from .base import MIEstimator, check_choice, check_positive, register

__all__ = ["BinningEstimator", "bin_codes", "joint_labels"]


def bin_codes(
    a: np.ndarray, n_bins: int, strategy: str = "uniform", value_range: tuple[float, float] | None = None,
    name: str = "x",
) -> np.ndarray:
    """Per-dimension bin index of each entry of ``a`` (n, d) -> int64 (n, d) in [0, n_bins).

    ``uniform``: equal-width bins over ``value_range`` (or each column's min..max);
    ``quantile``: equal-mass (adaptive) bins from each column's quantiles.
    Raises ``ValueError`` naming ``name`` if a column is constant.
    """
    t = torch.from_numpy(np.ascontiguousarray(a))  # zero-copy; torch's fused min/max is one pass
    lo, hi = torch.aminmax(t, dim=0)
    const = torch.nonzero(lo == hi).flatten().tolist()
    if const:
        raise constant_column_error(name, const)
    if strategy == "uniform":
        if value_range is not None:
            lo = torch.full_like(lo, value_range[0])
            hi = torch.full_like(hi, value_range[1])
        c = (t - lo).mul_(n_bins / (hi - lo)).clamp_(0, n_bins - 1)  # the max lands in the last bin
        return c.to(torch.int64).numpy()
    # quantile (equal-mass) edges; ties collapse bins, which is the honest behaviour
    qs = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    edges = np.quantile(a, qs, axis=0)
    codes = np.empty(a.shape, dtype=np.int64)
    for j in range(a.shape[1]):
        codes[:, j] = np.searchsorted(edges[:, j], a[:, j], side="right")
    return codes


def _countable(space: float, n: int) -> bool:
    """A label space small enough to count with ``np.bincount`` (no sort): ≤ max(2²², 8·n) cells."""
    return space <= max(2**22, 8 * n)


def joint_labels(codes: np.ndarray, radix: int, dense: bool = True) -> tuple[np.ndarray, int]:
    """Label of each row of ``codes`` (n, d) with entries < ``radix``; returns (labels, m).

    When the label space radix**d is small (:func:`_countable`) the mixed-radix number
    itself is the label and m = radix**d — counted with ``np.bincount``, no sort (``dense=False``).
    Otherwise rows are densified to 0..m-1 with ``np.unique`` (column by column when radix**d would
    overflow int64), m = the number of distinct rows.
    """
    n, d = codes.shape
    space = float(radix) ** d
    if not dense and _countable(space, n):
        lab = codes[:, d - 1].astype(np.int64, copy=True)
        for j in range(d - 2, -1, -1):
            lab *= radix
            lab += codes[:, j]
        return lab, int(space)
    if d * math.log2(radix) < 62:
        lab = codes @ (np.int64(radix) ** np.arange(d, dtype=np.int64))
    else:
        lab = codes[:, 0].astype(np.int64, copy=True)
        card = int(radix)
        for j in range(1, d):
            if card * radix >= 2**62:
                uniq, lab = np.unique(lab, return_inverse=True)
                card = len(uniq)
            lab = lab * radix + codes[:, j]
            card *= radix
    uniq, lab = np.unique(lab, return_inverse=True)
    return lab.reshape(-1), len(uniq)


def _entropy(counts: np.ndarray, n: int) -> float:
    c = counts[counts > 0].astype(np.float64)
    return float(math.log(n) - (c * np.log(c)).sum() / n)


@register
@dataclass
class BinningEstimator(MIEstimator):
    """Histogram MI: I = H(X) + H(Y) - H(X,Y) over per-dimension bins (nats).

    Parameters:
        n_bins: bins per dimension (the bins are explicit: ``n_bins`` × ``strategy`` × ``value_range``).
        strategy: ``"uniform"`` (equal width) or ``"quantile"`` (adaptive, equal mass).
        value_range: (lo, hi) shared by all dimensions for uniform bins (e.g. (-1, 1) for tanh
            layers, the Shwartz-Ziv & Tishby convention); ``None`` uses each column's range.
        correction: ``"miller_madow"`` adds (m-1)/(2N) to each entropy (m = occupied bins), or ``"none"``.

    Integer (label) inputs are used as bins directly. The result is ``saturated`` when ≥ 90 % of
    samples sit in a joint bin of their own: the value then measures log N, not the data. The
    corrected value never exceeds the ceiling log N (``details["clipped_at_ceiling"]`` says when the
    correction had to be cut back).
    """

    n_bins: int = 30
    strategy: str = "uniform"
    value_range: tuple[float, float] | None = None
    correction: str = "miller_madow"

    name = "binning"
    min_samples = 10

    def __post_init__(self) -> None:
        check_positive("n_bins", self.n_bins, integer=True)
        if self.n_bins < 2:
            raise ValueError(f"n_bins must be >= 2, got {self.n_bins}")
        check_choice("strategy", self.strategy, ("uniform", "quantile"))
        check_choice("correction", self.correction, ("miller_madow", "none"))
        if self.value_range is not None:
            lo, hi = self.value_range
            if not hi > lo:
                raise ValueError(f"value_range must be (lo, hi) with hi > lo, got {self.value_range}")
            self.value_range = (float(lo), float(hi))

    def _labels(self, a: np.ndarray, discrete: bool, name: str) -> tuple[np.ndarray, int]:
        if discrete:
            uniq_codes = np.unique(a, axis=0, return_inverse=True)[1].reshape(-1) if a.shape[1] > 1 else None
            if uniq_codes is not None:
                return uniq_codes, int(uniq_codes.max()) + 1
            uniq, lab = np.unique(a[:, 0], return_inverse=True)
            return lab.reshape(-1), len(uniq)
        return joint_labels(bin_codes(a, self.n_bins, self.strategy, self.value_range, name), self.n_bins,
                            dense=False)

    def estimate(self, x: ArrayLike, y: ArrayLike) -> MIEstimate:
        """x: (n,) or (n, dx); y: (n,) or (n, dy), floats or integer labels. Returns nats."""
        X, Y, xd, yd = check_pair(x, y, method=self.name, min_samples=self.min_samples, check_constant=False)
        n = X.shape[0]
        for name, a, disc in (("x", X, xd), ("y", Y, yd)):  # float columns are checked by bin_codes
            cols = constant_columns(a) if disc else []
            if cols:
                raise constant_column_error(name, cols)
        lx, sx = self._labels(X, xd, "x")  # labels and the size of their label space
        ly, sy = self._labels(Y, yd, "y")
        cx, cy = np.bincount(lx, minlength=sx), np.bincount(ly, minlength=sy)
        if _countable(sx * sy, n):
            counts_xy = np.bincount(lx * sy + ly, minlength=sx * sy)
        else:  # a large joint space: densify the occupied marginal bins first, then sort if still large
            (ox,), (oy,) = np.nonzero(cx), np.nonzero(cy)
            rx, ry = np.searchsorted(ox, lx), np.searchsorted(oy, ly)
            j = rx * len(oy) + ry
            counts_xy = np.bincount(j) if _countable(len(ox) * len(oy), n) else np.unique(
                j, return_counts=True)[1]
        hx, hy, hxy = _entropy(cx, n), _entropy(cy, n), _entropy(counts_xy, n)
        mx, my, mxy = int((cx > 0).sum()), int((cy > 0).sum()), int((counts_xy > 0).sum())
        plugin = hx + hy - hxy
        value = plugin
        if self.correction == "miller_madow":
            value += (mx + my - mxy - 1) / (2.0 * n)
        saturated = mxy >= 0.9 * n
        ceiling = math.log(n)
        clipped = value > ceiling  # the correction must not claim more than N samples can show
        value = min(value, ceiling)
        return MIEstimate(
            value=float(value),
            method=self.name,
            params=self.params,
            n_samples=n,
            saturated=bool(saturated),
            ceiling=ceiling,
            details={"H_x": hx, "H_y": hy, "H_xy": hxy, "plugin": plugin, "clipped_at_ceiling": bool(clipped),
                     "occupied_bins": {"x": mx, "y": my, "xy": mxy}},
        )
