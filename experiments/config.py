"""Experiment configs: defaults <- preset <- task <- user YAML <- ``--set key=value``; unknown keys are errors."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from infoflow.models.presets import get_preset

__all__ = ["DEFAULTS", "resolve_config", "load_config", "apply_overrides", "check_types", "ConfigError", "yaml_problem"]


class ConfigError(ValueError):
    """A config problem, with the offending key named."""


DEFAULTS: dict[str, Any] = {
    "name": "run",
    "preset": "pix2pix-small",
    "task": "denoise",
    "seed": 0,
    "model": {"depth": 6, "ngf": 32, "norm": "batch", "skips": True, "dropout": 0.5, "res_blocks": 0,
              "detail_branch": False, "detail_ch": 32, "detail_layers": 3, "global_residual": False},
    "disc": {"ndf": 32, "n_layers": 3, "norm": "auto"},  # auto: batch; layer for WGAN-GP (no batch coupling)
    "loss": {"adversarial": "vanilla", "content": "l1", "lambda_adv": 1.0, "lambda_content": 100.0,
             "gp_weight": 10.0},
    # decay_start: fraction of train.steps after which both step sizes fall linearly to 0 (pix2pix's
    # n_epochs / n_epochs_decay schedule); 1.0 = constant
    "optim": {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999, "decay_start": 1.0},
    "data": {"train": "embedded", "test": "embedded", "mode": "rgb", "crop": 64, "batch_size": 8,
             "train_patches": 4000, "test_images": 4, "test_crop": 128, "paired_root": None,
             # the last N training images are held out as a validation split (never trained on, never
             # the test images): the convergence curve and any model selection read it (0 = none: the
             # curve then reads test crops, and says so)
             "val_images": 4,
             "workers": "auto",  # DataLoader worker processes building batches ahead: auto = 2 on CUDA, 0 on CPU
             "degradation": {"kind": "awgn", "params": {"sigma": 25}}},
    "train": {"steps": 1000, "log_every": 25, "eval_every": 250, "ckpt_every": 250, "sample_every": 250,
              "amp": True, "diagnostics_every": 50, "compile": False,
              "channels_last": "auto",  # NHWC G and D: auto = on CPU for the config's own models, else off
              "ema": 0.0,  # ema: decay of an exponential moving average of G used for evaluation (0 = off)
              # the EMA's BatchNorm statistics: re-estimated for its weights on this many fixed training
              # batches before it is evaluated (0 = copy the live model's, which belong to other weights)
              "ema_bn_batches": 32,
              # the model a finished run is scored and analysed with: "last" (the final step's) or
              # "best_val" (the evaluated generator at its best validation PSNR, kept in the checkpoint as
              # G_best; needs the validation split) — experiments/convergence.py states what each implies
              "select": "last",
              "tensorboard": "auto"},  # TensorBoard log in RUN/tensorboard: auto = when installed, true, false
    # measured every train.diagnostics_every steps (0 = off) on a fixed probe batch of training patches
    "diagnostics": {"infoplane": True, "layers": "auto", "estimator": "kde",
                    "estimator_params": {"noise_variance": 0.1}, "n_per_image": 16, "probe_size": 16,
                    "gradients": True, "threshold": 0.01, "detail": True, "detail_estimator": "gaussian",
                    "gather_ranks": False,  # under torchrun: pool every rank's probe activations for MI
                    "d_probe_steps": 400,  # post-run D-optimality probe (experiments/probe.py): D updates
                    # bootstrap resamples of the test images behind every information interval (analysis "information")
                    "info_bootstrap": 200},
}

_FREE_FORM = {("data", "degradation", "params"), ("diagnostics", "estimator_params")}  # dict values whose keys are checked elsewhere


def _merge(base: dict[str, Any], over: Mapping[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        where = ".".join((*path, k))
        if k not in base and path not in _FREE_FORM:
            raise ConfigError(f"unknown config key '{where}'; valid keys here: {sorted(base)}")
        if isinstance(v, Mapping) and isinstance(base.get(k), dict) and (*path, k) not in _FREE_FORM:
            out[k] = _merge(base[k], v, (*path, k))
        else:
            out[k] = copy.deepcopy(dict(v) if isinstance(v, Mapping) else v)
    return out


def apply_overrides(cfg: dict[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """``["train.steps=200", "loss.adversarial=lsgan"]`` applied as nested overrides (YAML values;
    numbers are read as a user means them: ``1e-3`` is a float, although YAML 1.1 says string)."""
    for item in sets:
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        parts = key.strip().split(".")
        try:
            nested: Any = _number(yaml.safe_load(val)) if val.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {yaml_problem(exc)}") from None
        for p in reversed(parts):
            nested = {p: nested}
        cfg = _merge(cfg, nested)
    return cfg


def _number(v: Any) -> Any:
    """'1e-3' -> 0.001, '5' -> 5; anything else unchanged."""
    if isinstance(v, str):
        for cast in (int, float):
            try:
                return cast(v)
            except ValueError:
                pass
    return v


# keys whose value may take more than the default's type
_TYPES: dict[tuple[str, ...], tuple[type, ...]] = {
    ("train", "amp"): (bool, str), ("train", "channels_last"): (bool, str), ("train", "tensorboard"): (bool, str), ("data", "workers"): (int, str), ("diagnostics", "layers"): (str, list), ("data", "paired_root"): (str, type(None)),
    ("name",): (str, int), ("data", "degradation"): (dict,), ("data", "test_crop"): (int, type(None)),
}
_TYPE_WORDS = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
               dict: "a mapping", type(None): "null"}


def check_types(cfg: dict[str, Any], defaults: Mapping[str, Any] = DEFAULTS, path: tuple[str, ...] = ()) -> None:
    """Every value has its key's type (the default's, or ``_TYPES``); numbers written as strings
    (``"1e-3"`` from YAML) are converted in place, ints where floats are expected too. The error
    names the key, the value and what it should be."""
    for k, default in defaults.items():
        where = (*path, k)
        if k not in cfg or where in _FREE_FORM:
            continue
        v = cfg[k]
        if isinstance(default, dict) and where not in _TYPES:
            if not isinstance(v, dict):
                raise ConfigError(f"{'.'.join(where)} must be a mapping, got {v!r}")
            check_types(v, default, where)
            continue
        allowed = _TYPES.get(where, (type(default),))
        if float in allowed and isinstance(v, str):
            v = cfg[k] = _number(v)
        if float in allowed and isinstance(v, int) and not isinstance(v, bool):
            v = cfg[k] = float(v)
        if int in allowed and isinstance(v, str) and isinstance(_number(v), int):
            v = cfg[k] = _number(v)
        ok = any(isinstance(v, t) and not (t in (int, float) and isinstance(v, bool)) for t in allowed)
        if not ok:
            want = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in allowed)
            raise ConfigError(f"{'.'.join(where)} must be {want}, got {v!r} ({type(v).__name__})")


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where (1-based line and column)."""
    mark = getattr(exc, "problem_mark", None)
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return what + (f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "")


def load_config(path: str | Path | None) -> dict[str, Any]:
    """Read a YAML config with ``yaml.safe_load``; a missing file or non-mapping raises."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a YAML mapping, got {type(data).__name__}")
    return data


def resolve_config(user: Mapping[str, Any] | None = None, sets: Sequence[str] = ()) -> dict[str, Any]:
    """Full config: DEFAULTS, then the preset named in the user's config/sets, then the task, then
    the user's values, then ``sets``."""
    user = dict(user or {})
    peek = apply_overrides(_merge(DEFAULTS, user), sets)  # also validates keys early
    cfg = _merge(DEFAULTS, {k: v for k, v in get_preset(peek["preset"]).items()})
    from .tasks import REGISTRY  # a task's data defaults (the user's config still overrides them)

    if peek["task"] not in REGISTRY:
        raise ConfigError(f"unknown task {peek['task']!r}; choose one of {sorted(REGISTRY)}")
    cfg = _merge(cfg, REGISTRY[peek["task"]].config())
    cfg = apply_overrides(_merge(cfg, user), sets)
    _check_values(cfg)
    return cfg


def _check_values(cfg: dict[str, Any]) -> None:
    from infoflow.experiments.data.degradations import Degradation
    from infoflow.models.losses import ADVERSARIAL_LOSSES, get_adversarial

    check_types(cfg)

    if cfg["loss"]["adversarial"] not in ADVERSARIAL_LOSSES:
        raise ConfigError(f"loss.adversarial={cfg['loss']['adversarial']!r}; choose one of "
                          f"{sorted(ADVERSARIAL_LOSSES)}")
    adv, dn = get_adversarial(cfg["loss"]["adversarial"]), cfg["disc"]["norm"]
    if dn == "auto":  # the recorded config says what was used: the loss's own requirement, else pix2pix's
        cfg["disc"]["norm"] = adv.d_norm or "batch"
    elif dn in adv.d_norm_refused:
        ok = ", ".join(n for n in ("batch", "instance", "layer", "none") if n not in adv.d_norm_refused)
        raise ConfigError(f"loss.adversarial={adv.name} with disc.norm={dn}: {adv.d_norm_reason}; set disc.norm to "
                          f"{ok} (or auto)")
    if cfg["disc"]["norm"] not in ("batch", "instance", "layer", "none"):
        raise ConfigError(f"disc.norm={dn!r}; choose auto, batch, instance, layer or none")
    deg = cfg["data"]["degradation"]
    if not isinstance(deg, dict) or "kind" not in deg:
        raise ConfigError("data.degradation must be a mapping with 'kind' and 'params'")
    Degradation.from_spec(deg)
    if not 0.0 <= cfg["optim"]["decay_start"] <= 1.0:
        raise ConfigError(f"optim.decay_start must be a fraction in [0, 1], got {cfg['optim']['decay_start']!r}")
    w = cfg["data"]["workers"]
    if w != "auto" and not (isinstance(w, int) and not isinstance(w, bool) and w >= 0):
        raise ConfigError(f"data.workers must be an integer >= 0 or 'auto', got {w!r}")
    if cfg["train"]["channels_last"] not in (True, False, "auto"):
        raise ConfigError(f"train.channels_last must be true, false or auto, got {cfg['train']['channels_last']!r}")
    if cfg["train"]["tensorboard"] not in (True, False, "auto"):
        raise ConfigError(f"train.tensorboard must be true, false or auto, got {cfg['train']['tensorboard']!r}")
    if cfg["train"]["select"] not in ("last", "best_val"):
        raise ConfigError(f"train.select must be 'last' or 'best_val', got {cfg['train']['select']!r}")
    if not 0.0 <= cfg["train"]["ema"] < 1.0:
        raise ConfigError(f"train.ema must be a decay in [0, 1) (0 = off, e.g. 0.999), got {cfg['train']['ema']!r}")
    ib = cfg["diagnostics"]["info_bootstrap"]
    if isinstance(ib, bool) or not isinstance(ib, int) or ib < 0:
        raise ConfigError(f"diagnostics.info_bootstrap must be an integer >= 0 (0 = no interval), got {ib!r}")
    vi = cfg["data"]["val_images"]
    if isinstance(vi, bool) or not isinstance(vi, int) or vi < 0:
        raise ConfigError(f"data.val_images must be an integer >= 0 (0 = no validation split), got {vi!r}")
    nb = cfg["train"]["ema_bn_batches"]
    if isinstance(nb, bool) or not isinstance(nb, int) or nb < 0:
        raise ConfigError(f"train.ema_bn_batches must be an integer >= 0 (0 = copy the live statistics), got {nb!r}")
    if cfg["loss"]["lambda_adv"] < 0 or cfg["loss"]["lambda_content"] < 0:
        raise ConfigError("loss.lambda_adv and loss.lambda_content must be >= 0")
    for sec, key in [("train", "steps"), ("data", "batch_size"), ("data", "crop"), ("model", "depth")]:
        v = cfg[sec][key]
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"{sec}.{key} must be a positive integer, got {v!r}")
    m = 3 * 2 ** cfg["disc"]["n_layers"]
    if cfg["data"]["crop"] < m:
        raise ConfigError(f"data.crop={cfg['data']['crop']} is too small for disc.n_layers={cfg['disc']['n_layers']} "
                          f"(needs >= {m})")
    f = 2 ** cfg["model"]["depth"]
    if cfg["data"]["crop"] % f:
        raise ConfigError(f"data.crop={cfg['data']['crop']} must be divisible by 2**model.depth={f}")
