"""Tidy diagnostic rows to a TensorBoard log (an optional extra: ``pip install tensorboard``).

The tidy table stays the source of truth; this is a view of it while training runs. A row
``{step, split, metric, value, layer}`` becomes the scalar ``split/metric`` (``split/metric/layer``
when it has a layer); images and the information-plane figure are added by name.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

__all__ = ["TensorBoardLog", "tensorboard_available", "scalar_tag"]


def tensorboard_available() -> bool:
    """True when the ``tensorboard`` package (which torch's SummaryWriter needs) is installed."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def scalar_tag(row: dict[str, Any]) -> str:
    """``split/metric`` or ``split/metric/layer`` for a tidy row."""
    layer = row.get("layer")
    parts = [str(row.get("split", "")), str(row["metric"])] + ([str(layer)] if layer not in (None, "") else [])
    return "/".join(p for p in parts if p)


class TensorBoardLog:
    """A TensorBoard event log in ``log_dir``.

    Args:
        log_dir: the folder (created).
        purge_step: on a resumed run, the checkpoint's step: events logged after it by the crashed
            launch are hidden, so every step appears once.
    """

    def __init__(self, log_dir: str | Path, purge_step: int | None = None) -> None:
        if not tensorboard_available():
            raise ImportError("TensorBoard logging needs the tensorboard package: pip install tensorboard "
                              "(or set train.tensorboard: false)")
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self.writer = SummaryWriter(str(self.log_dir), purge_step=purge_step)

    @classmethod
    def maybe(cls, setting: bool | str, log_dir: str | Path, purge_step: int | None = None) -> "TensorBoardLog | None":
        """``setting``: ``auto`` (a log when tensorboard is installed), ``True`` (required: a clear
        error when it is not), ``False`` (none)."""
        if setting is False or (setting == "auto" and not tensorboard_available()):
            return None
        return cls(log_dir, purge_step)

    def rows(self, rows: Iterable[dict[str, Any]]) -> None:
        """Each finite numeric row as a scalar at its ``step``."""
        for r in rows:
            v = r.get("value")
            if isinstance(v, (int, float, np.floating)) and math.isfinite(float(v)):
                self.writer.add_scalar(scalar_tag(r), float(v), int(r.get("step", 0)))

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """``image``: (H, W) or (H, W, C) in [0, 1] float or uint8."""
        a = np.asarray(image)
        if a.dtype != np.uint8:
            a = (np.clip(a, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        self.writer.add_image(tag, a, step, dataformats="HW" if a.ndim == 2 else "HWC")

    def information_plane(self, rows: Iterable[dict[str, Any]], step: int, tag: str = "infoplane/figure") -> bool:
        """The information plane so far — I(X;T) against I(T;Y) per layer, one point per measured
        step — as a figure; False when the rows hold no information-plane measurement."""
        pts: dict[str, dict[int, dict[str, float]]] = {}
        for r in rows:
            if r.get("split") == "infoplane" and r.get("metric") in ("I(X;T)", "I(T;Y)"):
                pts.setdefault(str(r.get("layer")), {}).setdefault(int(r["step"]), {})[r["metric"]] = float(r["value"])
        if not pts:
            return False
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.5, 3.5))
        for layer, by_step in pts.items():
            steps = sorted(s for s, m in by_step.items() if len(m) == 2)
            ax.plot([by_step[s]["I(X;T)"] for s in steps], [by_step[s]["I(T;Y)"] for s in steps], "o-", ms=3,
                    label=layer)
        ax.set(xlabel="I(X;T) (nats)", ylabel="I(T;Y) (nats)", title="information plane")
        ax.legend(fontsize=6)
        fig.tight_layout()
        self.writer.add_figure(tag, fig, step, close=True)
        return True

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
