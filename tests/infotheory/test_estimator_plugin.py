"""An estimator of a user's own: one dataclass registered with ``register_estimator``, then reached
through ``estimate_mi``, ``get_estimator`` and ``infoflow estimate --method`` like a built-in one,
validated as the built-ins are, and tested against a closed-form truth."""
import sys
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest

from infoflow.infotheory import MIEstimator, available_methods, distributions as D, estimate_mi, get_estimator
from infoflow.infotheory import register_estimator
from infoflow.infotheory.estimators import REGISTRY

PLUGIN = textwrap.dedent('''
    """I(X;Y) = -½ log(1 - r²) from Pearson's r: exact for a bivariate Gaussian (one coordinate a side)."""
    from dataclasses import dataclass

    import numpy as np

    from infoflow.infotheory import MIEstimate, MIEstimator, register_estimator


    @register_estimator
    @dataclass
    class PearsonEstimator(MIEstimator):
        clip: float = 1e-12  # |r| is kept below 1 - clip

        name = "pearson"
        min_samples = 3

        def estimate(self, x, y):
            X, Y, _, _ = self.checked(x, y)
            if X.shape[1] != 1 or Y.shape[1] != 1:
                raise ValueError(f"pearson: one coordinate a side, got {X.shape[1]}+{Y.shape[1]}")
            r = min(abs(np.corrcoef(X[:, 0], Y[:, 0])[0, 1]), 1 - self.clip)
            return MIEstimate(value=float(-0.5 * np.log1p(-r * r)), method=self.name, params=self.params,
                              n_samples=len(X))
''')


@pytest.fixture
def pearson(tmp_path):
    path = tmp_path / "my_estimator.py"
    path.write_text(PLUGIN)
    import importlib.util

    spec = importlib.util.spec_from_file_location("my_estimator", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["my_estimator"] = module
    spec.loader.exec_module(module)  # what `infoflow --plugin my_estimator.py` does
    yield path
    REGISTRY.pop("pearson", None)
    sys.modules.pop("my_estimator", None)


def test_a_users_estimator_meets_the_closed_form_truth(pearson):
    assert "pearson" in available_methods()
    for mi in (0.1, 0.5, 1.5):
        gt = D.correlated_gaussian(20_000, 1, 1, mi, seed=3)
        est = estimate_mi(gt.x, gt.y, method="pearson")
        assert est.method == "pearson" and est.params == {"clip": 1e-12}
        assert est.value == pytest.approx(mi, abs=0.03)
    assert get_estimator("pearson", clip=1e-3).params == {"clip": 1e-3}
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['k'\] for method 'pearson'"):
        get_estimator("pearson", k=3)


def test_a_users_estimator_gets_the_built_in_input_checks(pearson):
    x = np.random.default_rng(0).standard_normal(50)
    with pytest.raises(ValueError, match="NaN"):
        estimate_mi(np.r_[x[:-1], np.nan], x, method="pearson")
    with pytest.raises(ValueError, match="mismatched sample counts"):
        estimate_mi(x, x[:40], method="pearson")
    with pytest.raises(ValueError, match="too few samples"):
        estimate_mi(x[:2], x[:2], method="pearson")


def test_infoflow_estimate_takes_a_plugin_estimator(pearson, tmp_path, capsys):
    import json

    from infoflow.experiments.cli import main

    gt = D.correlated_gaussian(5000, 1, 1, 0.5, seed=1)
    np.save(tmp_path / "x.npy", gt.x)
    np.save(tmp_path / "y.npy", gt.y)
    assert main(["--plugin", str(pearson), "estimate", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"),
                 "--method", "pearson", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "pearson" and out["value"] == pytest.approx(0.5, abs=0.04)


def test_register_estimator_refuses_what_it_cannot_use():
    @dataclass
    class Nameless(MIEstimator):
        pass

    class NotADataclass(MIEstimator):
        name = "not-a-dataclass"

    @dataclass
    class Taken(MIEstimator):
        name = "ksg"

    with pytest.raises(ValueError, match="needs its own `name`"):
        register_estimator(Nameless)
    with pytest.raises(TypeError, match="must be a dataclass"):
        register_estimator(NotADataclass)
    with pytest.raises(ValueError, match="a different estimator named 'ksg'"):
        register_estimator(Taken)
    with pytest.raises(TypeError, match="subclass of MIEstimator"):
        register_estimator(dict)
    assert register_estimator(REGISTRY["ksg"]) is REGISTRY["ksg"] and "not-a-dataclass" not in REGISTRY


def test_running_the_definition_again_replaces_it(pearson):
    """A re-executed module or notebook cell defines a new class of the same module and name: it
    replaces the old one (the next estimate uses it) instead of being refused."""
    first = REGISTRY["pearson"]
    namespace = {"__name__": "my_estimator"}
    exec(compile(PLUGIN.replace("clip: float = 1e-12", "clip: float = 1e-6"), "my_estimator.py", "exec"), namespace)
    assert REGISTRY["pearson"] is not first and get_estimator("pearson").params == {"clip": 1e-6}
