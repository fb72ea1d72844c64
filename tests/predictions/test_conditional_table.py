"""The u·v level-set conditional read from one table per run (langevin_ib.statistics.conditional_table)
against the per-chain quadrature it replaces and against a fine quadrature, and the bound that makes its
error invisible to the PIT test."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from langevin_ib.base import Binning
from langevin_ib.models import rescaling, uv
from langevin_ib.predictions.rescaling import level_set
from langevin_ib.statistics import pit

TEMPERATURE = 0.1
CHAINS = 500
# Largest |F_table − F_fine| (PIT value and CDF at the bin edges) tolerated. A CDF error δ moves each of
# the 20 PIT bins' probabilities (0.05) by at most 2δ, so the Pearson statistic of N samples gains a
# non-centrality of at most N·Σ_b (2δ)²/0.05 = 1600·N·δ²: at δ = 6·10⁻⁵ and uv.yaml's N = 20 000 chains ×
# 5 snapshots, 0.58, against the 36.2 threshold of 19 degrees of freedom at 0.01 (the bin masses of the
# histogram test likewise). Measured max over 3000 chains, float32 table against the float64 reference:
# [0, 2] 1.3·10⁻⁵ (PIT) and 3.1·10⁻⁵ (edges); [−2, 2] with λ = 0.05, 1.8·10⁻⁵ and 4.4·10⁻⁵, the same with
# twice the levels or sub-nodes (float32's rounding of the log densities, ~10⁻⁵ of a weight at U/T ~ 250;
# the float64 table: 3.2·10⁻⁶ and 1.5·10⁻⁵). The per-chain quadrature it replaces: 5.6·10⁻⁵ and 9.1·10⁻⁵
# on [0, 2], 1.4·10⁻⁴ (PIT) on [−2, 2] in float64.
BOUND = 6e-5


def chains(binning: Binning, dtype, seed: int = 0) -> dict:
    """u·v chains at θ uniform over the binning and |χ| log-uniform over [10⁻⁸, 500], either sign."""
    rng = np.random.default_rng(seed)
    chi = rng.choice([-1, 1], CHAINS) * np.exp(rng.uniform(np.log(1e-8), np.log(500.0), CHAINS))
    theta = rng.uniform(binning.low, binning.high, CHAINS)
    u = np.sqrt(chi + np.sqrt(chi**2 + theta**2))
    return {"u": jnp.asarray(u[:, None], dtype), "v": jnp.asarray((theta / u)[:, None], dtype)}


def read(form: pit.Form, model, binning: Binning, weight_decay: float, params: dict) -> list[np.ndarray]:
    """(PIT value, CDF at the branch's clipped edges, defined, in range) per chain, copy 0."""
    cdf_of, edges = pit.conditional(form, model, TEMPERATURE, weight_decay, binning), np.asarray(binning.edges)

    def one(chain_params):
        strength, sign = (x[0] for x in rescaling.strengths(model.chain, chain_params))
        lo_pos, hi_pos, lo_neg, hi_neg = pit.strength_range(binning, True, form.floor)
        lo, hi = jnp.where(sign > 0, lo_pos, lo_neg), jnp.where(sign > 0, hi_pos, hi_neg)
        cdf, defined = cdf_of(chain_params, 0, strength, lo, hi)
        return (cdf(strength), cdf(jnp.clip(jnp.where(sign > 0, edges, -edges[::-1]), lo, hi)), defined,
                (strength >= lo) & (strength <= hi))

    return [np.asarray(x) for x in jax.jit(jax.vmap(one))(params)]


def build(dtype):
    return uv.build(dict(target=1.0, copies=1, init_u=1.0, init_v=1.0, init_noise=0.0, label_noise=0.0), dtype)


@pytest.mark.slow  # 10–50 s at load 20: the float64 reference quadrature
@pytest.mark.parametrize("binning, weight_decay", [(Binning(0.0, 2.0, 60), 0.0), (Binning(-2.0, 2.0, 40), 0.05)])
def test_table_matches_a_fine_quadrature_within_the_bound(binning, weight_decay, monkeypatch):
    """uv.yaml's range and a signed one with weight decay; float32 as runs are. The reference: the per-chain
    trapezoid rule in float64 with 16× the linear and 30× the logarithmic nodes, on the same float32 chains."""
    table = level_set.LEVEL_SET
    assert table.levels(build(jnp.float32)) is not None
    params = chains(binning, jnp.float32)
    tabled = read(table, build(jnp.float32), binning, weight_decay, params)
    monkeypatch.setattr(pit, "LINEAR_NODES_PER_BIN", 128)
    monkeypatch.setattr(pit, "LOG_NODES", 6000)
    with jax.enable_x64(True):  # the same float32 chains, read exactly
        fine = read(table._replace(levels=lambda model: None), build(jnp.float64), binning, weight_decay,
                    jax.tree.map(lambda x: jnp.asarray(np.asarray(x, np.float64)), params))
    counted = tabled[2] & tabled[3]
    assert counted.sum() > 0.9 * CHAINS and (tabled[3] & ~tabled[2]).sum() == 0  # every in-range level is in the table
    assert np.abs(tabled[0] - fine[0])[counted].max() < BOUND
    assert np.abs(tabled[1] - fine[1])[counted].max() < BOUND


def test_a_level_beyond_the_table_is_undefined():
    """A chain at ℓ = 2|χ| above LEVEL_SPAN × the range's upper end has no row: undefined, not extrapolated."""
    binning, model = Binning(0.0, 2.0, 60), build(jnp.float32)
    chi = np.array([0.5, 2e3, 1e4])
    u = np.sqrt(chi + np.sqrt(chi**2 + 1.0))
    params = {"u": jnp.asarray(u[:, None], jnp.float32), "v": jnp.asarray((1.0 / u)[:, None], jnp.float32)}
    assert read(level_set.LEVEL_SET, model, binning, 0.0, params)[2].tolist() == [True, False, False]


def test_other_models_keep_the_per_chain_quadrature():
    """The table needs the declared u·v potential; a deep chain (no such declaration) has no levels."""
    from langevin_ib.models import deep_scalar

    model = deep_scalar.build(dict(depth=3, target=1.0, copies=1, init=1.0, init_noise=0.0, label_noise=0.0), jnp.float32)
    assert level_set.LEVEL_SET.levels(model) is None
