"""Clean image sources: images bundled with installed packages, benchmark folders, user folders.

Images are float32 arrays in [0, 1], (H, W) for grey or (H, W, 3) for RGB. Nothing is downloaded.
"""
from __future__ import annotations

import functools

import os
import warnings
from pathlib import Path

import numpy as np

__all__ = ["EMBEDDED_TEST", "BENCHMARK_SETS", "shared_data_root", "embedded_images", "read_image",
           "load_folder", "get_images", "to_mode"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
# scikit-image's bundled photographs (no network) and scikit-learn's two sample images
_SKIMAGE = ["astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "brick", "grass", "gravel",
            "clock", "immunohistochemistry", "page", "text", "cell", "colorwheel"]
EMBEDDED_TEST = ("camera", "coffee", "coins", "sklearn_flower")  # held out from embedded training
BENCHMARK_SETS = ("Train400", "Set12", "BSD68", "CBSD68", "Rain12")
# sets used as clean sources for synthetic rain/haze: the last N images form the test split
SPLITTABLE = {"CBSD68": 8, "BSD68": 8}


def shared_data_root() -> Path | None:
    """``$INFOFLOW_DATA`` if set, else ``../shared/data`` beside the repository, if it exists."""
    env = os.environ.get("INFOFLOW_DATA")
    if env:
        return Path(env)
    p = Path(__file__).resolve().parents[3] / "shared" / "data"
    return p if p.is_dir() else None


def to_mode(img: np.ndarray, mode: str) -> np.ndarray:
    """Convert to ``grey`` (H, W) or ``rgb`` (H, W, 3) float32 in [0, 1]."""
    from skimage.color import gray2rgb, rgb2gray

    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if mode == "grey":
        img = rgb2gray(img) if img.ndim == 3 else img
    elif mode == "rgb":
        img = gray2rgb(img) if img.ndim == 2 else img
    else:
        raise ValueError(f"mode={mode!r} is not valid; choose 'grey' or 'rgb'")
    return np.ascontiguousarray(img, dtype=np.float32)


def _as_float01(a: np.ndarray) -> np.ndarray:
    if a.dtype == bool:
        return a.astype(np.float32)
    if a.dtype.kind in "ui":
        return a.astype(np.float32) / float(np.iinfo(a.dtype).max)
    return np.clip(a.astype(np.float32), 0, 1)


def embedded_images(split: str = "train", mode: str = "rgb") -> list[tuple[str, np.ndarray]]:
    """Bundled photographs: ``train`` = all but :data:`EMBEDDED_TEST`, ``test`` = those, ``all``."""
    import skimage.data as skd
    from sklearn.datasets import load_sample_images

    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in _SKIMAGE:
            try:
                out.append((name, _as_float01(getattr(skd, name)())))
            except Exception:  # an image missing from this scikit-image build: skip it
                continue
        sk = load_sample_images()
        for fname, img in zip(sk.filenames, sk.images):
            out.append((f"sklearn_{Path(fname).stem}", _as_float01(img)))
    if split == "train":
        out = [o for o in out if o[0] not in EMBEDDED_TEST]
    elif split == "test":
        out = [o for o in out if o[0] in EMBEDDED_TEST]
    elif split != "all":
        raise ValueError(f"split={split!r} is not valid; choose 'train', 'test' or 'all'")
    return [(n, to_mode(im, mode)) for n, im in out]


def read_image(path: str | Path) -> np.ndarray:
    """Read one image file as float32 in [0, 1]; a missing or corrupt file raises naming it.
    Decoded once per process and file version (path, modification time, size): a sweep's runs read
    the same benchmark images for training, validation and testing; each call gets its own copy."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    st = path.stat()
    return _decoded(str(path.resolve()), st.st_mtime_ns, st.st_size).copy()


@functools.lru_cache(maxsize=512)
def _decoded(path: str, mtime_ns: int, size: int) -> np.ndarray:
    from skimage import io

    try:
        img = io.imread(path)
    except Exception as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from None
    if img.ndim not in (2, 3) or img.size == 0:
        raise ValueError(f"image {path} has unsupported shape {img.shape}")
    out = _as_float01(img)
    out.setflags(write=False)  # the cached original; callers get copies
    return out


def load_folder(path: str | Path, mode: str = "rgb", limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """All images of a folder (sorted by name) as (name, array) in ``mode``."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"image folder not found: {path}")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"image folder {path} holds no images ({sorted(IMAGE_SUFFIXES)})")
    return [(p.stem, to_mode(read_image(p), mode)) for p in files[:limit]]


def get_images(source: str, mode: str = "rgb", split: str = "train", limit: int | None = None,
               root: str | Path | None = None) -> list[tuple[str, np.ndarray]]:
    """Clean images by source name: ``embedded`` (with ``split``), a benchmark set name
    (Train400, Set12, BSD68, CBSD68; Rain12 gives its clean targets) under ``root`` or
    :func:`shared_data_root`, or a folder path. CBSD68/BSD68 with split ``train``/``test`` give
    all but the last 8 / the last 8 images (clean sources for synthetic degradations); ``all``
    gives the whole set."""
    if source == "embedded":
        return embedded_images(split, mode)[:limit]
    if source in BENCHMARK_SETS:
        base = Path(root) if root else shared_data_root()
        if base is None or not (base / source).is_dir():
            raise FileNotFoundError(
                f"benchmark set {source!r} not found (looked in {base or '../shared/data'}); set INFOFLOW_DATA "
                "or use source 'embedded'")
        sub = base / source / "target" if source == "Rain12" else base / source
        if source in SPLITTABLE and split in ("train", "test"):  # test sets reused as clean sources
            imgs = load_folder(sub, mode)
            imgs = imgs[:-SPLITTABLE[source]] if split == "train" else imgs[-SPLITTABLE[source]:]
            return imgs[:limit]
        return load_folder(sub, mode, limit)
    return load_folder(source, mode, limit)
