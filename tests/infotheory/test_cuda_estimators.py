"""The MI estimators on CUDA tensors: the same values as on CPU (deterministic estimators) or the
same closed-form answer (neural estimators, whose random streams differ by device). ``pytest -m cuda``."""
import math

import numpy as np
import pytest
import torch

from infoflow.infotheory import estimate_mi

pytestmark = pytest.mark.cuda

RHO, D = 0.8, 2
TRUE = -D / 2 * math.log(1 - RHO**2)  # I(X;Y) of D independent pairs with correlation RHO, nats


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, D))
    y = RHO * x + math.sqrt(1 - RHO**2) * rng.standard_normal((2000, D))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


@pytest.mark.parametrize("method,tol", [("gaussian", 1e-4), ("copula", 1e-4), ("kde", 1e-3), ("binning", 1e-6),
                                        ("ksg", 1e-6), ("auto", 1e-3)])
def test_deterministic_estimators_agree_on_cuda_and_cpu(pair, method, tol):
    x, y = pair
    cpu = estimate_mi(x, y, method)
    gpu = estimate_mi(x.cuda(), y.cuda(), method)
    assert math.isfinite(gpu.value)
    assert abs(gpu.value - cpu.value) <= tol * max(1.0, abs(cpu.value)), (method, cpu.value, gpu.value)


@pytest.mark.parametrize("method", ["mine", "nwj", "infonce", "smile"])
def test_neural_estimators_on_cuda_reach_the_closed_form(pair, method):
    x, y = pair
    rng = torch.cuda.get_rng_state(), torch.get_rng_state()
    gpu = estimate_mi(x.cuda(), y.cuda(), method, seed=0)
    assert gpu.details["device"].startswith("cuda"), gpu.details  # where it ran (params hold the request, 'auto')
    # InfoNCE is capped at log(batch); every bound undershoots a little at n = 2000
    assert TRUE - 0.3 < gpu.value < TRUE + 0.15, (method, gpu.value, TRUE)
    assert torch.equal(torch.cuda.get_rng_state(), rng[0]) and torch.equal(torch.get_rng_state(), rng[1])


def test_labels_on_cuda_agree_with_cpu():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (3000,), generator=g)
    x = torch.randn(3000, 2, generator=g) + 6.0 * labels[:, None]  # well separated: I = H(label) ≈ log 2
    cpu = estimate_mi(x, labels, "ksg")
    gpu = estimate_mi(x.cuda(), labels.cuda(), "ksg")
    assert abs(gpu.value - cpu.value) < 1e-6 and abs(gpu.value - math.log(2)) < 0.05
