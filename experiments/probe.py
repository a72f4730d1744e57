"""D-optimality probe: does a generator's adversarial gradient survive a discriminator that wins?

The vanishing-gradient argument (Goodfellow et al. 2014; Arjovsky & Bottou 2017) is about a
discriminator near its optimum. In short CPU runs G and D co-evolve and D never gets there, so
the probe puts it there on purpose: the trained generator is frozen, a fresh discriminator (the
run's architecture, seeded) is trained alone against it for ``steps`` updates, and at
``checkpoints`` the generator's adversarial and content gradient norms are measured with
:func:`infotheory.diagnostics.gradient_balance` (no parameter of G changes).

Known answer by construction: for the minimax BCE loss log(1 − D(G(x))) the generator gradient
∝ D(G(x)) → 0 as D saturates (vanishing); the non-saturating BCE of pix2pix (∝ 1 − D(G(x))),
LSGAN (grows with the distance from the target) and hinge (linear in D's output) keep one. The
relativistic and WGAN-GP losses are measured, not predicted. G losses that share a discriminator objective (``vanilla``
and ``saturating``: the same BCE D) are measured on the same discriminator trajectory.

Rows (split ``"d_probe"``): ``step`` = discriminator updates so far, ``layer`` = generator loss,
metrics ``grad_ratio_adv_content``, ``grad_norm_adv``, ``grad_norm_content``,
``d_saturated_fraction``, ``D(real)``, ``D(fake)``, ``jsd_lower_bound`` (nats: what the probe's D,
scored on the held-out probe pairs it never trained on, knows about real vs restored).
"""
from __future__ import annotations

import json
from typing import Any, Callable, Sequence

import torch
from tqdm.auto import tqdm

from infoflow.infotheory.diagnostics import discriminator_call, eval_mode, gradient_balance, isolated
from infoflow.infotheory.rows import tidy_row
from infoflow.models.losses import GeneratorObjective, get_adversarial, interpolates, penalty_at

from .builders import adam

__all__ = ["d_optimality_probe", "d_family", "probe_summary", "PROBE_METRICS"]

PROBE_METRICS = ("grad_ratio_adv_content", "grad_norm_adv", "grad_norm_content", "d_saturated_fraction",
                 "D(real)", "D(fake)", "jsd_lower_bound")


def d_family(g_loss: str) -> str:
    """The discriminator objective a generator loss is trained against (``saturating`` -> ``vanilla``)."""
    return "vanilla" if g_loss == "saturating" else get_adversarial(g_loss).name


def _checkpoints(steps: int) -> list[int]:
    pts = {0, steps}
    k = 1
    while k < steps:  # 0, 1, 2, 4, ... : the ratio changes fastest while D is still weak
        pts.add(k)
        k *= 2
    return sorted(pts)


def d_optimality_probe(G: torch.nn.Module, make_d: Callable[[], torch.nn.Module], g_losses: Sequence[str],
                       pool: tuple[torch.Tensor, torch.Tensor], probe: tuple[torch.Tensor, torch.Tensor],
                       content: str = "l1", lambda_adv: float = 1.0, lambda_content: float = 100.0,
                       steps: int = 400, batch_size: int = 16, lr: float = 1e-3, gp_weight: float = 10.0,
                       seed: int = 0, progress: bool = False, d_input: Any = "auto") -> list[dict[str, Any]]:
    """Train a fresh D against the frozen ``G`` and measure G's gradients as D approaches optimality.

    ``pool``: (x, y) training pairs (N, C, H, W) in [-1, 1] that D's batches are drawn from (G's
    outputs on them are computed once: G is frozen); ``probe``: (x, y) pairs the gradients are
    measured on. ``make_d`` builds a discriminator with fresh weights. G runs in eval mode
    throughout; its parameters, mode, stored gradients and the global RNG are left as they were.
    ``progress`` shows a bar per discriminator objective. ``d_input``: how D takes (x, image), see
    :func:`infotheory.diagnostics.discriminator_call`. Returns tidy rows (module docstring).
    """
    if not g_losses:
        raise ValueError("d_optimality_probe needs at least one generator loss")
    if steps < 1:
        raise ValueError(f"steps={steps}: the probe needs at least one discriminator update")
    px, py = pool
    if px.shape != py.shape or px.shape[0] < 2:
        raise ValueError(f"pool: need two (N>=2, C, H, W) tensors of one shape, got {tuple(px.shape)} and "
                         f"{tuple(py.shape)}")
    if not all(bool(torch.isfinite(t).all()) for t in (*pool, *probe)):
        raise ValueError("pool/probe contain NaN or Inf")
    families: dict[str, list[str]] = {}
    for name in g_losses:  # an unknown loss name fails here, before any training
        families.setdefault(d_family(name), []).append(name)
    checkpoints = set(_checkpoints(steps))
    rows: list[dict[str, Any]] = []
    cuda = [px.device] if px.device.type == "cuda" else []
    with isolated(G), eval_mode(G), torch.random.fork_rng(devices=cuda):  # G and the caller's RNG untouched
        with torch.no_grad():
            fakes = torch.cat([G(px[i : i + 64]) for i in range(0, len(px), 64)])
        for fam, names in families.items():
            torch.manual_seed(seed)
            D = make_d()
            score = discriminator_call(D, d_input)
            adv = get_adversarial(fam)
            opt = adam(D.parameters(), lr, (0.5, 0.999))
            gen = torch.Generator().manual_seed(seed)
            objectives = {n: GeneratorObjective(n, content, lambda_adv, lambda_content) for n in names}
            params = json.dumps({"d_objective": fam, "d_lr": lr, "d_batch": batch_size, "d_steps": steps,
                                 "lambda_adv": lambda_adv, "lambda_content": lambda_content})
            for k in tqdm(range(steps + 1), desc=f"D-optimality probe ({fam})", disable=not progress,
                          dynamic_ncols=True, leave=False):
                if k in checkpoints:  # measured after k discriminator updates
                    for n, obj in objectives.items():
                        rows += [tidy_row(k, "d_probe", r["metric"], r["value"], n, params=params)
                                 for r in gradient_balance(G, D, obj, *probe, warn=False, d_input=d_input)
                                 if r["layer"] == "" and r["metric"] in PROBE_METRICS]
                if k < steps:
                    idx = torch.randint(len(px), (batch_size,), generator=gen).to(px.device)
                    _d_update(score, opt, adv, px[idx], py[idx], fakes[idx], gp_weight)
    return rows


def _d_update(score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], opt: torch.optim.Optimizer, adv: Any,
              x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor, gp_weight: float) -> None:
    """One discriminator step on real pairs (x, y) and fixed fake pairs (x, fake); ``score(x, img)``."""
    loss = adv.d_loss(score(x, y).float(), score(x, fake).float())
    if adv.needs_gp:
        mix = interpolates(y, fake)
        loss = loss + penalty_at(score(x, mix).float(), mix, gp_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def probe_summary(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per generator loss: ``peak`` and ``final`` adversarial/content ratio, ``retained`` = final /
    peak (≪ 1: the gradient vanished as D won), ``saturated`` = D's final saturated fraction and
    ``jsd`` = its final JSD lower bound (nats) on the held-out probe pairs."""
    out: dict[str, dict[str, float]] = {}
    by: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for r in rows:
        if r.get("split") == "d_probe":
            by.setdefault(r["layer"], {}).setdefault(r["metric"], []).append((int(r["step"]), float(r["value"])))
    for name, m in by.items():
        ratio = sorted(m.get("grad_ratio_adv_content", []))
        sat = sorted(m.get("d_saturated_fraction", []))
        if not ratio:
            continue
        peak, final = max(v for _, v in ratio), ratio[-1][1]
        jsd = sorted(m.get("jsd_lower_bound", []))
        out[name] = {"peak": peak, "final": final, "retained": final / peak if peak > 0 else float("nan"),
                     "saturated": sat[-1][1] if sat else float("nan"),
                     "jsd": jsd[-1][1] if jsd else float("nan")}
    return out
