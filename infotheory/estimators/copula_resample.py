"""Gaussian-copula MI of many weighted resamples of one sample, the ranks sorted once.

A bootstrap over images draws images with replacement; each draw is the pooled sample with integer
weights (how often each row's image was drawn). Ranking a draw from scratch sorts every column
again — in :func:`~infotheory.band_information` that sort was most of the time. Here each column
is sorted once; a draw's ranks come from the weights by a running sum over the sorted order
(ties, including a row drawn twice, get their average rank, as :func:`~.copula.rank_uniform`).
The value equals ``CopulaEstimator(family="gaussian")`` on the materialised draw, to rounding
(tests/infotheory/test_copula_resample.py).
"""
from __future__ import annotations

import numpy as np
from scipy import special

from .._validate import ArrayLike, check_pair
from .copula import capped_mi, half_logdet_mi, rank_twins, rank_uniform
from .gaussian import logdet_bias

__all__ = ["CopulaResampler", "varying_columns"]


def varying_columns(v: np.ndarray) -> np.ndarray:
    """(d,) bool: the columns of v (n, d) that are not constant, to a tolerance of 1e-12 relative to
    v's largest magnitude. A constant coordinate carries no information (its MI is 0 exactly), where
    a rank-based fit would be singular."""
    return np.ptp(v, axis=0) > 1e-12 * (1 + np.abs(v).max())


class CopulaResampler:
    """``mi(weights)``: the Gaussian-copula MI (nats, bias-corrected) of the sample in which row i of
    (x, y) appears ``weights[i]`` times. x: (n, dx), y: (n, dy), continuous.

    Coordinates constant over the drawn rows are dropped first (no information; as the callers'
    own rule, relative tolerance 1e-12), and a side with none left gives 0. A coordinate that is a
    monotone function of another on its side is dropped too (:func:`~.copula.rank_twins`: MI
    unchanged); one across the sides (a deterministic relation) gives the capped value of
    :func:`~.copula.capped_mi`, as ``CopulaEstimator`` does.
    """

    def __init__(self, x: ArrayLike, y: ArrayLike) -> None:
        X, Y, _, _ = check_pair(x, y, method="copula", min_samples=2, discrete_y="forbid", check_constant=False)
        self.dx = X.shape[1]
        self.data = np.hstack([X, Y])
        n, d = self.data.shape
        twins = rank_twins(rank_uniform(self.data), self.dx)  # a twin in the sample is one in every draw
        self.twin_free = np.isin(np.arange(d), twins.keep)
        self.deterministic = bool(twins.across)
        order = np.argsort(self.data, axis=0, kind="stable")
        srt = np.take_along_axis(self.data, order, axis=0)
        new_group = np.vstack([np.ones((1, d), bool), srt[1:] != srt[:-1]])  # ties share a group
        gid_sorted = np.cumsum(new_group, axis=0) - 1  # group index within its column, in sorted order
        self.n_groups = gid_sorted[-1] + 1  # (d,)
        self.offset = np.concatenate([[0], np.cumsum(self.n_groups)[:-1]])
        group = np.empty((n, d), dtype=np.int64)
        np.put_along_axis(group, order, gid_sorted + self.offset, axis=0)
        self.group = group  # (n, d): each row's group, numbered over all columns
        self.column = np.repeat(np.arange(d), self.n_groups)  # the column of each group

    @staticmethod
    def serves(method: str, params: dict) -> bool:
        """Whether ``estimate_mi(method=method, **params)`` is the estimate this class reproduces: the
        Gaussian copula with its default bias correction."""
        return method == "copula" and params in ({"family": "gaussian"},
                                                 {"family": "gaussian", "bias_correction": True})

    def mi(self, weights: ArrayLike) -> float:
        """Nats. weights: (n,) non-negative integers (a row's multiplicity in the draw)."""
        w = np.asarray(weights)
        n, d = self.data.shape
        if w.shape != (n,) or (w < 0).any() or not np.array_equal(w, np.round(w)):
            raise ValueError(f"weights must be {n} non-negative integers (one per row), got shape {w.shape}")
        w = w.astype(float)
        total = float(w.sum())
        drawn = self.data[w > 0]
        keep = (self._varying(drawn) & self.twin_free) if len(drawn) else np.zeros(d, bool)
        dx, dy = int(keep[: self.dx].sum()), int(keep[self.dx :].sum())
        if dx == 0 or dy == 0:
            return 0.0
        if total <= dx + dy + 1:
            raise ValueError(f"too few samples for method 'copula': {total:.0f} samples for {dx}+{dy} dimensions")
        wg = np.bincount(self.group.ravel(), weights=np.repeat(w, d), minlength=int(self.n_groups.sum()))
        before = np.cumsum(wg) - wg - self.column * total  # drawn rows below the group, in its column
        z = special.ndtri((before + (wg + 1) / 2) / (total + 1))[self.group][:, keep]  # (n, kept)
        mean = w @ z / total
        zc = z - mean
        cov = (zc * w[:, None]).T @ zc
        s = np.sqrt(np.diag(cov))
        r = cov / np.outer(s, s)
        value = capped_mi(r, dx) if self.deterministic else half_logdet_mi(r, dx)
        return float(value + 0.5 * (logdet_bias(dx + dy, int(total)) - logdet_bias(dx, int(total))
                                    - logdet_bias(dy, int(total))))

    def _varying(self, drawn: np.ndarray) -> np.ndarray:
        """The columns that vary over the drawn rows, each side judged on its own (:func:`varying_columns`)."""
        return np.concatenate([varying_columns(drawn[:, : self.dx]), varying_columns(drawn[:, self.dx :])])
