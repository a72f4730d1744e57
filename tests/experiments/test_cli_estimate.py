import json

import numpy as np
import pandas as pd
import pytest

from infoflow.experiments.cli import main, parse_params


@pytest.fixture()
def arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000)
    y = x + rng.standard_normal(1000)  # I = ½ log 2
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "d.npz", a=x, b=y)
    pd.DataFrame({"a": x, "b": y}).to_csv(tmp_path / "d.csv", index=False)
    return tmp_path


def test_estimate_json_from_npy_npz_csv(arrays, capsys):
    for xs, ys in [("x.npy", "d.npz:b"), ("d.csv:a", "d.csv:b"), ("d.csv:0", "d.csv:1")]:
        assert main(["estimate", str(arrays / xs), str(arrays / ys), "--method", "ksg",
                     "--param", "k=5", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["method"] == "ksg" and out["params"]["k"] == 5
        assert abs(out["value"] - 0.5 * np.log(2)) < 0.06


def test_estimate_text_output_names_method(arrays, capsys):
    assert main(["estimate", str(arrays / "x.npy"), str(arrays / "d.npz:b")]) == 0
    out = capsys.readouterr().out
    assert "nats" in out and "auto chose" in out


def test_estimate_prints_autos_warning_once(tmp_path, capsys):
    from infoflow.infotheory import distributions as D

    gt = D.shear(D.correlated_gaussian(2000, 10, 10, 1.0, seed=36))  # a pair no elliptical copula fits
    np.save(tmp_path / "x.npy", gt.x)
    np.save(tmp_path / "y.npy", gt.y)
    assert main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy")]) == 0
    out, err = capsys.readouterr()
    assert out.count("warning: auto: the elliptical copula's MI") == 1 and "contradicted" not in err
    assert main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--json"]) == 0
    assert "contradicted" in json.loads(capsys.readouterr().out)["details"]["warning"]
    # the budget: fast by default, thorough on request (300 pairs; the flow step is past flow_max_dim here)
    assert main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--json", "--budget", "thorough"]) == 0
    params = json.loads(capsys.readouterr().out)["params"]
    assert params["budget"] == "thorough" and params["pair_checks"] == 300 and params["flow"] is True
    assert main(["estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--method", "ksg", "--budget",
                 "fast"]) == 2
    assert "--budget is auto's" in capsys.readouterr().err


@pytest.mark.parametrize("args,msg", [
    (["missing.npy", "x.npy"], "array file not found"),
    (["d.npz", "x.npy"], "pick one as"),
    (["d.csv:zz", "x.npy"], "no column 'zz'"),
    (["x.npy", "x.npy", "--param", "k"], "key=value"),
    (["junk.npy", "x.npy"], "junk.npy: cannot read the array: not a .npy file (no NumPy header)"),
    (["junk.npz", "x.npy"], "junk.npz: cannot read the array: not a .npz file"),
    (["objects.npy", "x.npy"], "never unpickles"),
    (["cut.npy", "x.npy"], "ends early"),
])
def test_estimate_errors(arrays, capsys, monkeypatch, args, msg):
    monkeypatch.chdir(arrays)
    (arrays / "junk.npy").write_text("not an array")
    (arrays / "junk.npz").write_text("not an archive")
    np.save(arrays / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (arrays / "cut.npy").write_bytes((arrays / "x.npy").read_bytes()[:300])
    assert main(["estimate", *args]) == 2
    assert msg in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["estimate", "x.npy", "y.npy", "--method", "nope"],
                                  ["reproduce", "--preset", "huge"], ["reproduce", "--tasks", "paint"],
                                  ["diagnose", "--model", "m.py:f", "--out", "o", "--degradation", "snow"]])
def test_closed_sets_are_refused_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_parse_params_types():
    assert parse_params(["k=5", "standardize=false", "value_range=[-1, 1]", "strategy=quantile"]) == {
        "k": 5, "standardize": False, "value_range": (-1, 1), "strategy": "quantile"}
