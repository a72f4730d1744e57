"""The gradients verdict on hand-made tables whose answer is known: which form vanished, which fix kept it."""
import pandas as pd

from experiments.report.verdicts import verdicts

CFGS = ["baseline", "lsgan"]


def tables(baseline_probe: dict[str, list[float]], lsgan_probe: list[float], in_training_ratio: float = 0.3):
    runs = pd.DataFrame([{"task": "denoise", "config": c, "seed": s, "final_psnr": 22.0 + (c == "lsgan") * 0.5 + s * 0.01,
                          "adversarial": "vanilla" if c == "baseline" else "lsgan", "lambda_content": 100.0}
                         for c in CFGS for s in (0, 1)])
    met = pd.DataFrame([{"task": "denoise", "config": c, "seed": s, "step": st, "split": "gradients", "metric": m,
                         "value": v, "layer": float("nan")}
                        for c in CFGS for s in (0, 1) for st in (50, 100)
                        for m, v in (("grad_ratio_adv_content", in_training_ratio), ("d_saturated_fraction", 0.0))])
    ana = []
    for c, curves in (("baseline", baseline_probe), ("lsgan", {"lsgan": lsgan_probe})):
        for s in (0, 1):
            for loss, curve in curves.items():
                for k, v in zip((0, 1, 2, 4), curve):
                    ana += [{"task": "denoise", "config": c, "seed": s, "step": k, "split": "d_probe", "layer": loss,
                             "metric": "grad_ratio_adv_content", "value": v},
                            {"task": "denoise", "config": c, "seed": s, "step": k, "split": "d_probe", "layer": loss,
                             "metric": "d_saturated_fraction", "value": k / 4}]
    return runs, met, pd.DataFrame(ana), {"gradients": {"denoise": CFGS}}


def test_minimax_vanishing_is_told_apart_from_the_baseline_form():
    v = verdicts(*tables({"vanilla": [0.1, 0.5, 0.6, 0.6], "saturating": [0.1, 0.4, 0.05, 0.001]},
                         [0.1, 0.3, 0.3, 0.28]))[0]
    assert v["present"] is True and v["reduced"] is True
    assert v["text"].startswith("PRESENT in the minimax form")
    assert v["present_evidence"] == "D-optimality probe, minimax form only (mean of 2 seeds)"
    assert v["reduced_evidence"].startswith("1 of 1 alternatives")
    assert abs(v["numbers"]["probe_retained_minimax"] - 0.001 / 0.4) < 1e-12
    assert "lsgan: keeps 93%" in v["text"]


def test_baseline_form_vanishing_and_a_drowned_fix():
    v = verdicts(*tables({"vanilla": [0.1, 0.5, 0.02, 0.01], "saturating": [0.1, 0.5, 0.5, 0.5]},
                         [0.001, 0.002, 0.002, 0.002]))[0]
    assert v["text"].startswith("PRESENT:") and v["present_evidence"].startswith("D-optimality probe, baseline form")
    assert "drowned by the content term" in v["text"] and v["reduced"] is False  # the only fix is drowned


def test_nothing_vanishes_nothing_reported():
    v = verdicts(*tables({"vanilla": [0.1, 0.5, 0.6, 0.6], "saturating": [0.1, 0.4, 0.4, 0.4]},
                         [0.1, 0.3, 0.3, 0.28]))[0]
    assert v["present"] is False and v["text"].startswith("NOT SEEN")
