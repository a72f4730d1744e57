"""Read sample arrays for the command line: ``file.npy``, ``file.npz:key``, ``file.csv:col,col``."""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["load_array"]


def load_array(spec: str) -> np.ndarray:
    """Load (n,) or (n, d) samples from a spec.

    - ``a.npy`` — the array;
    - ``a.npz:key`` — one array of an .npz (``a.npz`` alone if it holds exactly one);
    - ``a.csv:c1,c2`` — columns by header name or 0-based index (``a.csv`` alone: all columns).
    """
    path_s, _, sel = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    path = Path(path_s)
    if not path.exists():
        raise FileNotFoundError(f"array file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _np_load(path)
    if suffix == ".npz":
        with _np_load(path) as z:
            keys = list(z.keys())
            if not sel:
                if len(keys) != 1:
                    raise ValueError(f"{path} holds arrays {keys}; pick one as {path}:KEY")
                sel = keys[0]
            if sel not in keys:
                raise KeyError(f"{path} has no array {sel!r}; it holds {keys}")
            return z[sel]
    if suffix in (".csv", ".tsv", ".txt"):
        df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        if sel:
            cols = []
            for c in sel.split(","):
                if c in df.columns:
                    cols.append(c)
                elif c.isdigit() and int(c) < df.shape[1]:
                    cols.append(df.columns[int(c)])
                else:
                    raise KeyError(f"{path} has no column {c!r}; columns are {list(df.columns)}")
            df = df[cols]
        return df.to_numpy()
    raise ValueError(f"unsupported array file type {suffix!r} for {path}; use .npy, .npz or .csv")


def _np_load(path: Path) -> Any:
    """``np.load`` without unpickling, its errors said as what is wrong with the file."""
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        msg = str(e)
        if "Object arrays" in msg:
            why = "it holds Python objects, which infoflow never unpickles: save a numeric array"
        elif "pickled" in msg:  # numpy's reading of a file without the .npy/.npz header
            why = f"not a {path.suffix} file (no NumPy header)"
        elif "Failed to read all data" in msg or isinstance(e, EOFError):
            why = "the file ends early (not fully written?)"
        else:
            why = msg
        raise ValueError(f"{path}: cannot read the array: {why}") from None
