"""Discretisation bias on U = kx²/2, pinned by the exact discrete stationary variances.

Euler–Maruyama: T/(k(1 − ηk/2)); Leimkuhler–Matthews: T/k (STYLE.md, exact references). The
estimate of E[x²] and its standard error come from the runner's G independent chain groups (batch
means over groups: sd/√G, Student t with G − 1 degrees of freedom), so autocorrelation is accounted
for. Threshold: two-sided level 1e-3. At ηk = 0.5 the two predictions differ by 33%, many standard
errors (each group holds 64 chains × 4 copies × 200 observations ≈ 5·10⁴ nearly independent draws,
relative error √(2/n) ≈ 0.6% per group), so the wrong one is rejected.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from langevin_ib.dynamics import integrators
from langevin_ib.base import Binning
from langevin_ib.dynamics.runner import RunSizes, simulate
from langevin_ib.models import harmonic

LEVEL = 1e-3
TEMPERATURE, STIFFNESS, STEP = 0.7, 2.0, 0.25  # ηk = 0.5
GROUPS = 32
MODEL = harmonic.build({"stiffness": STIFFNESS, "copies": 4, "init": 0.0})
SIZES = RunSizes(chains=2048, steps=1000, burn_in=100, thin=5, chunk_steps=500, chain_groups=GROUPS)


def em_variance(temperature):
    return temperature / (STIFFNESS * (1 - STEP * STIFFNESS / 2))


def group_second_moments(integrator_name: str, temperature) -> np.ndarray:
    """E[x²] of each of the G chain groups (chain c in group c mod G)."""
    integrator = integrators.REGISTRY[integrator_name].build(MODEL)
    result = simulate(MODEL, integrator, integrators.Hyperparameters(temperature, STEP, 0.0), SIZES,
                      binnings={"x": Binning(-4, 4, 40)}, progress=False)
    moments = result.histograms.moments["x"].astype(float)
    return moments[:, 2] / moments[:, 0]


def t_test(per_group: np.ndarray, predicted: float):
    """(accepted at LEVEL, t) for the mean of per-group estimates against ``predicted``."""
    t = (per_group.mean() - predicted) / (per_group.std(ddof=1) / np.sqrt(len(per_group)))
    return abs(t) < stats.t.isf(LEVEL / 2, len(per_group) - 1), t


@pytest.mark.parametrize("name", ["euler_maruyama", "leimkuhler_matthews"])
def test_stationary_variance_matches_exact_discrete_value(name):
    order = {"euler_maruyama": 1, "leimkuhler_matthews": 2}[name]
    assert integrators.REGISTRY[name].build(MODEL).weak_order == integrators.SPECS[name].weak_order == order
    per_group = group_second_moments(name, TEMPERATURE)
    discrete = em_variance(TEMPERATURE) if order == 1 else TEMPERATURE / STIFFNESS
    ok, t = t_test(per_group, discrete)
    assert ok, f"{name}: E[x²]={per_group.mean():.4f} vs exact discrete {discrete:.4f} (t={t:.1f})"
    if order == 1:  # the continuous T/k is rejected at ηk = 0.5
        ok, t = t_test(per_group, TEMPERATURE / STIFFNESS)
        assert not ok, f"continuous T/k should be rejected at ηk=0.5, got t={t:.1f}"


def test_per_chain_temperatures_in_one_run():
    """Chain c runs at T_{c mod 2} ∈ {0.35, 0.7} in one compiled Euler–Maruyama run; the 16 groups at
    each temperature (group g holds the chains c ≡ g mod 32, all at T_{g mod 2}) each give an estimate
    of E[x²], tested against T/(k(1 − ηk/2)) with a t-test on 15 dof at level 1e-3. Their ratio 2 is
    ~100 standard errors, so the swapped assignment (a hyperparameter broadcast along the wrong
    axis, or one value for all chains) is rejected."""
    low, high = 0.35, 0.7
    temperature = jnp.where(jnp.arange(SIZES.chains) % 2 == 0, low, high)
    per_group = group_second_moments("euler_maruyama", temperature)
    for parity, (right, wrong) in enumerate([(low, high), (high, low)]):
        ok, t = t_test(per_group[parity::2], em_variance(right))
        assert ok, f"T={right}: E[x²]={per_group[parity::2].mean():.4f} vs {em_variance(right):.4f} (t={t:.1f})"
        ok, t = t_test(per_group[parity::2], em_variance(wrong))
        assert not ok, f"T={right}: the other temperature's variance should be rejected (t={t:.1f})"
