"""Named model/optimiser presets: pix2pix defaults and small CPU-friendly variants, each fix a switch.

A preset is a plain dict of config sections (``model``, ``disc``, ``loss``, ``optim``, ``data``)
merged under a user's config; see ``experiments.config``.
"""
from __future__ import annotations

import copy
from typing import Any

__all__ = ["PRESETS", "get_preset"]

_PIX2PIX: dict[str, Any] = {
    "model": {"depth": 8, "ngf": 64, "norm": "batch", "skips": True, "dropout": 0.5, "res_blocks": 0,
              "detail_branch": False, "global_residual": False},
    # "auto": BatchNorm as in pix2pix, layer norm for the WGAN-GP critic (its penalty is per sample)
    "disc": {"ndf": 64, "n_layers": 3, "norm": "auto"},
    "loss": {"adversarial": "vanilla", "content": "l1", "lambda_adv": 1.0, "lambda_content": 100.0,
             "gp_weight": 10.0},
    "optim": {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
    "data": {"crop": 256, "batch_size": 1},
}


def _variant(base: dict[str, Any], **sections: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for sec, vals in sections.items():
        out[sec].update(vals)
    return out


_SMALL = _variant(_PIX2PIX, model={"depth": 6, "ngf": 32}, disc={"ndf": 32},
                  data={"crop": 64, "batch_size": 8})

PRESETS: dict[str, dict[str, Any]] = {
    # pix2pix as published: U-Net with 8 down-samplings at 256², BN, vanilla GAN + 100·L1, Adam 2e-4 β1 0.5
    "pix2pix": _PIX2PIX,
    # CPU-friendly baseline: same design at 64² crops, 6 down-samplings (to 1×1), ngf 32
    "pix2pix-small": _SMALL,
    # fix 1: a shallower sampling structure with residual blocks at the bottleneck scale
    "fix-sampling": _variant(_SMALL, model={"depth": 2, "res_blocks": 4}),
    # fix 2: full-resolution detail extraction accumulated into every decoder scale + global residual
    "fix-detail": _variant(_SMALL, model={"detail_branch": True, "global_residual": True}),
    # fix 3: another loss measure (LSGAN) instead of the saturating-prone BCE
    "fix-loss": _variant(_SMALL, loss={"adversarial": "lsgan"}),
    # all three fixes together
    "fixed": _variant(_SMALL, model={"depth": 2, "res_blocks": 4, "detail_branch": True, "global_residual": True},
                      loss={"adversarial": "lsgan"}),
}


def get_preset(name: str) -> dict[str, Any]:
    """A deep copy of preset ``name``; unknown names raise with the valid ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return copy.deepcopy(PRESETS[name])
