"""Discretisation bias on U = kx²/2, pinned by the exact discrete stationary variances.

Euler–Maruyama: T/(k(1 − ηk/2)); Leimkuhler–Matthews: T/k. The estimate of E[x²] and its standard
error come from G independent chain groups (batch means over groups: sd/√G, Student t with G − 1
degrees of freedom), so autocorrelation is accounted for. Threshold: two-sided level 1e-3.
At ηk = 0.5 the two predictions differ by 33%, many standard errors, so the wrong one is rejected.
"""

import jax
import numpy as np
import pytest
from scipy import stats

from langevin_ib.dynamics import integrators
from langevin_ib.dynamics.accumulators import Binning
from langevin_ib.models import harmonic
from langevin_ib.dynamics.runner import simulate

LEVEL = 1e-3
TEMPERATURE, STIFFNESS, STEP = 0.7, 2.0, 0.25  # ηk = 0.5


def second_moment(integrator_name: str):
    model = harmonic.build({"stiffness": STIFFNESS, "copies": 4, "init": 0.0})
    integ = integrators.REGISTRY[integrator_name](jax.vmap(jax.grad(model.loss)), TEMPERATURE, STEP)
    result = simulate(model, integ, chains=2048, steps=1000, burn_in=100, thin=5, chunk_steps=500,
                      chain_groups=32, binnings={"x": Binning(-4, 4, 40)}, progress=False)
    moments = result.histograms.moments["x"].astype(float)
    per_group = moments[:, 2] / moments[:, 0]
    estimate = moments[:, 2].sum() / moments[:, 0].sum()
    return estimate, per_group.std(ddof=1) / np.sqrt(len(per_group)), len(per_group) - 1


def z_test(estimate, error, dof, predicted):
    t = (estimate - predicted) / error
    return abs(t) < stats.t.isf(LEVEL / 2, dof), t


@pytest.mark.parametrize("name", ["euler_maruyama", "leimkuhler_matthews"])
def test_stationary_variance_matches_exact_discrete_value(name):
    estimate, error, dof = second_moment(name)
    order = {"euler_maruyama": 1, "leimkuhler_matthews": 2}[name]
    assert integrators.REGISTRY[name](lambda x: x, 1.0, 0.1).weak_order == order
    discrete = TEMPERATURE / (STIFFNESS * (1 - STEP * STIFFNESS / 2)) if name == "euler_maruyama" else TEMPERATURE / STIFFNESS
    ok, t = z_test(estimate, error, dof, discrete)
    assert ok, f"{name}: E[x²]={estimate:.4f} ± {error:.4f} vs exact discrete {discrete:.4f} (t={t:.1f})"


def test_euler_maruyama_rejects_continuous_variance_at_large_step():
    estimate, error, dof = second_moment("euler_maruyama")
    ok, t = z_test(estimate, error, dof, TEMPERATURE / STIFFNESS)
    assert not ok, f"continuous T/k should be rejected at ηk=0.5, got t={t:.1f}"
