"""Run folders: atomic writes, manifest, tidy metrics, checkpoints; never overwrite a finished run.

Layout: ``config.yaml``, ``manifest.json``, ``metrics.csv`` (tidy: step, split, metric, value),
``checkpoints/last.pt``, ``samples/step_XXXXXX.png``, ``DONE`` (written last); ``LOCK`` while a
process works on the run (:meth:`RunFolder.locked`).
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
import yaml

from infoflow.infotheory.rows import tidy_row

__all__ = ["RunFolder", "RunExistsError", "RunLockedError", "atomic_write_bytes", "atomic_write_text", "git_state",
           "write_rows_csv", "METRIC_FIELDS"]

LOCK_NAME = "LOCK"
STALE_UNREADABLE_S = 60.0  # an unreadable LOCK (its writer died between creating and filling it) older than this is stale
METRIC_FIELDS = ["step", "split", "metric", "value", "layer", "estimator", "params", "saturated", "ceiling"]


class RunExistsError(RuntimeError):
    """The target run folder holds a finished run (DONE) or an unfinished one without --resume."""


class RunLockedError(RuntimeError):
    """Another live process holds the run folder's LOCK (it is training or analysing that run)."""


def _alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_rows_csv(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Tidy metric rows (columns ``METRIC_FIELDS``) to a CSV file, atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def git_state() -> dict[str, Any]:
    """Commit sha and dirty flag of the code's repository (None outside git)."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except Exception:
        sha, dirty = None, None
    return {"git_sha": sha, "git_dirty": dirty if sha else None}


class RunFolder:
    """One training run's folder. ``open(resume)`` enforces the no-overwrite rules."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.ckpt_path = self.path / "checkpoints" / "last.pt"
        self.metrics_path = self.path / "metrics.csv"
        self.rows: list[dict[str, Any]] = []
        self.on_log: list[Callable[[dict[str, Any]], None]] = []  # views of the rows (e.g. TensorBoard)

    @property
    def done(self) -> bool:
        return (self.path / "DONE").exists()

    @property
    def has_content(self) -> bool:
        """Whether anything but a LOCK was written here (a run was started in this folder)."""
        return self.path.exists() and any(p.name != LOCK_NAME for p in self.path.iterdir())

    def open(self, resume: bool) -> None:
        """Prepare the folder; refuses a finished run, and an unfinished one unless ``resume``."""
        if self.done:
            raise RunExistsError(f"{self.path} holds a finished run (DONE exists); refusing to overwrite it — "
                                 "choose another --out")
        has_content = self.has_content
        if has_content and not resume:
            raise RunExistsError(f"{self.path} already holds an unfinished run; pass --resume to continue it "
                                 "or choose another --out")
        self._fresh = not has_content
        self._existed = self.path.exists()
        (self.path / "checkpoints").mkdir(parents=True, exist_ok=True)
        (self.path / "samples").mkdir(exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's ``LOCK`` for the block, so that one process at a time trains or analyses
        this run: several ``reproduce`` processes (shards, terminals, cluster jobs) can walk one sweep
        folder and leave each other's runs alone. The file (created atomically) names the holder's pid,
        host and start time. A LOCK whose process is gone — same host, pid not alive — is taken over;
        one held by a live process, or by a process on another host (which cannot be checked), raises
        :class:`RunLockedError`. Re-entrant within one process (the outermost block releases it).
        Released on exit, also on error; only the holder's own LOCK is removed, and a folder the lock
        itself created goes with it if nothing else was written there."""
        made = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / LOCK_NAME
        me = {"pid": os.getpid(), "host": platform.node(), "since": datetime.now(timezone.utc).isoformat()}
        mine = (me["pid"], me["host"])
        nested = False
        for attempt in (0, 1):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.lock_holder()
                if holder is not None and (holder.get("pid"), holder.get("host")) == mine:
                    nested = True  # this process holds it already (a sweep's run around its Trainer)
                    break
                if attempt == 0 and self._stale(lock, holder):
                    lock.unlink(missing_ok=True)
                    continue
                who = "an unreadable LOCK" if holder is None else \
                    f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
                raise RunLockedError(f"{self.path} is in use by another process ({who}); if that process is gone "
                                     f"(another machine, or a crash), delete {lock}") from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            break
        try:
            yield
        finally:
            holder = self.lock_holder()
            if not nested and holder is not None and (holder.get("pid"), holder.get("host")) == mine:
                lock.unlink(missing_ok=True)
            if made:  # a folder only the lock made (a set-up that failed leaves none behind)
                with contextlib.suppress(OSError):
                    self.path.rmdir()  # only if empty

    def lock_holder(self) -> dict[str, Any] | None:
        """The LOCK's content (pid, host, since), or None when there is none or it is unreadable."""
        try:
            held = json.loads((self.path / LOCK_NAME).read_text())
        except (OSError, ValueError):
            return None
        return held if isinstance(held, dict) else None

    def lock_held(self) -> bool:
        """Whether a process holds the folder's LOCK now: one exists and is not stale (its process,
        on this host, is alive; on another host it cannot be checked and counts as held)."""
        lock = self.path / LOCK_NAME
        return lock.exists() and not self._stale(lock, self.lock_holder())

    @staticmethod
    def _stale(lock: Path, holder: dict[str, Any] | None) -> bool:
        if holder is None:  # its writer died between creating and filling it, or it is being filled now
            try:
                return datetime.now().timestamp() - lock.stat().st_mtime > STALE_UNREADABLE_S
            except OSError:
                return True  # gone meanwhile
        pid = holder.get("pid")
        return holder.get("host") == platform.node() and isinstance(pid, int) and not _alive(pid)

    def discard(self) -> bool:
        """Undo :meth:`open` after a failed set-up: a folder this launch made and that holds no
        checkpoint yet is removed (an existing empty folder is emptied). Returns True if it did."""
        import shutil

        if not getattr(self, "_fresh", False) or self.ckpt_path.exists() or self.done:
            return False
        if self._existed:
            for child in self.path.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        else:
            shutil.rmtree(self.path, ignore_errors=True)
        return True

    def write_config(self, cfg: dict[str, Any]) -> None:
        atomic_write_text(self.path / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))

    def manifest(self) -> dict[str, Any]:
        """The run's manifest.json ({} when it has none yet)."""
        path = self.path / "manifest.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def write_manifest(self, device: str, seed: int, extra: dict[str, Any] | None = None) -> None:
        import numpy

        man = {"created": datetime.now(timezone.utc).isoformat(), "argv": sys.argv, **git_state(),
               "versions": {"python": platform.python_version(), "torch": torch.__version__,
                            "numpy": numpy.__version__},
               "device": device, "seed": seed, "host": platform.node(), **(extra or {})}
        prev = self.manifest()
        if prev:  # a resumed run keeps its history of launches
            man["previous_launches"] = prev.get("previous_launches", []) + [
                {k: prev.get(k) for k in ("created", "argv", "git_sha", "device")}]
        atomic_write_text(self.path / "manifest.json", json.dumps(man, indent=2))

    # metrics ---------------------------------------------------------------------------------
    def log(self, step: int, split: str, metric: str, value: float, **extra: Any) -> None:
        row = tidy_row(step, split, metric, value,
                       **{k: (json.dumps(v, sort_keys=True) if isinstance(v, dict) else v) for k, v in extra.items()})
        self.rows.append(row)
        for view in self.on_log:
            view(row)

    def log_many(self, rows: Iterable[dict[str, Any]]) -> None:
        for r in rows:
            self.log(**r)

    def flush_metrics(self) -> None:
        """Rewrite metrics.csv atomically with every row so far."""
        write_rows_csv(self.metrics_path, self.rows)

    def load_metrics(self, up_to_step: int) -> None:
        """Resume: keep rows with step <= the checkpoint's step (later ones are recomputed)."""
        self.rows = []
        if self.metrics_path.exists():
            with open(self.metrics_path, newline="") as f:
                for r in csv.DictReader(f):
                    if int(r["step"]) <= up_to_step:
                        r = {k: v for k, v in r.items() if v not in ("", None)}
                        r["step"], r["value"] = int(r["step"]), float(r["value"])
                        self.rows.append(r)

    # checkpoints -----------------------------------------------------------------------------
    def save_checkpoint(self, state: dict[str, Any]) -> None:
        """Metrics first, then the checkpoint: a crash between leaves rows that resume drops."""
        self.flush_metrics()
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.ckpt_path, buf.getvalue())

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        if not self.ckpt_path.exists():
            return None
        return torch.load(self.ckpt_path, map_location=map_location, weights_only=True)

    def finish(self, summary: dict[str, Any]) -> None:
        self.flush_metrics()
        atomic_write_text(self.path / "DONE", json.dumps(summary, indent=2))
