"""The discrete noises of :mod:`langevin_ib.dynamics.noise`: their moments, the per-chain-index
property (same numbers for any chain count or device count), the exact harmonic variances and the
invariant-measure order on a quartic potential (reduced grid of scripts/noise_order.py)."""

import math
import os
import subprocess
import sys
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from langevin_ib.dynamics import integrators, noise
from langevin_ib.base import Binning
from langevin_ib.dynamics.grid import simulate_run
from langevin_ib.dynamics.kernel import RunSizes
from langevin_ib.models import harmonic

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import noise_order  # noqa: E402

LEVEL = 1e-3
DISCRETE = ("two_point", "three_point")


@pytest.mark.parametrize("name", DISCRETE)
def test_moments_match_the_declared_values(name):
    """Empirical moments 1..6 of 2²⁰ draws against noise.moments, each within its z-test at LEVEL
    (standard error √((E ξ^{2k} − (E ξ^k)²)/n)); the declared ones match N(0, 1) through the
    matched order, and a Gaussian fourth moment (3) is rejected for two_point."""
    n = 2**20
    draws = np.asarray(noise.lookup(name)(jax.random.key(1), {"x": jnp.zeros((n // 4, 4), jnp.float32)})["x"], float)
    exact = noise.moments(name, range(1, 13))
    for k in range(1, 7):
        error = math.sqrt((exact[2 * k] - exact[k] ** 2) / n)
        if error == 0:  # ξ^k is constant (two_point, even k)
            np.testing.assert_allclose(np.mean(draws**k), exact[k], rtol=1e-12)
            continue
        z = (np.mean(draws**k) - exact[k]) / error
        assert abs(z) < stats.norm.isf(LEVEL / 2), f"{name}: E ξ^{k} = {np.mean(draws ** k):.5f} vs {exact[k]} (z={z:.1f})"
    gaussian = noise.moments("gaussian")
    matched = noise.MATCHED_MOMENTS[name]
    assert all(exact[k] == pytest.approx(gaussian[k], abs=1e-15) for k in range(1, matched + 1) if k != 4)
    if name == "three_point":
        assert exact[2] == pytest.approx(1.0, abs=1e-15) and abs(exact[4] - 3) < 1e-4  # 9.2e-5: 16-bit probability
    if name == "two_point":
        assert np.mean(draws**4) == 1.0  # not 3: weak order 1 only


@pytest.mark.parametrize("name", DISCRETE)
def test_chain_noise_depends_on_its_index_only(name):
    """Chain c's noise is the same in an ensemble of 37 chains as in one of 1000, for every leaf shape."""
    tree = lambda chains: {"a": jnp.zeros((chains, 3), jnp.float32), "b": jnp.zeros((chains, 2, 5), jnp.float32)}
    key = jax.random.key(7)
    small, large = noise.lookup(name)(key, tree(37)), noise.lookup(name)(key, tree(1000))
    chex.assert_trees_all_equal(small, jax.tree.map(lambda x: x[:37], large))


def test_written_out_draws_are_jax_random_bit_for_bit(shape=(37, 2, 3)):
    """noise.bits and noise.normal (float32 and, with x64, float64) equal jax.random.bits and
    jax.random.normal exactly (jitted), so the Gaussian runs keep their numbers."""
    key = jax.random.fold_in(jax.random.key(5), 3)
    both = lambda ours, theirs: chex.assert_trees_all_equal(jax.jit(ours)(key), jax.jit(theirs)(key))
    both(lambda k: noise.bits(k, shape), lambda k: jax.random.bits(k, shape, jnp.uint32))
    both(lambda k: noise.normal(k, shape, jnp.float32), lambda k: jax.random.normal(k, shape, jnp.float32))
    with jax.enable_x64(True):
        both(lambda k: noise.normal(k, shape, jnp.float64), lambda k: jax.random.normal(k, shape, jnp.float64))


def test_written_out_gaussian_fuses_into_the_update():
    """The reason for the written-out hash: XLA's memory analysis of 10 Euler–Maruyama-like updates
    x ← x + 0.1·ξ on 2¹⁶ float32 variables gives ≤ 8 B of temporaries per variable with noise.normal,
    against ≥ 16 B (counters and both words; 32 B measured with jax 0.10) with jax.random.normal."""
    n = 2**16

    def temporaries(draw):
        body = lambda x, k: (x + 0.1 * draw(jax.random.fold_in(jax.random.key(0), k), (n,), jnp.float32), None)
        run = jax.jit(lambda x: jax.lax.scan(body, x, jnp.arange(10))[0], donate_argnums=0)
        return run.lower(jnp.zeros(n)).compile().memory_analysis().temp_size_in_bytes / n

    assert temporaries(noise.normal) <= 8 < 16 <= temporaries(jax.random.normal)


DEVICES_RUN = """
import sys, jax, jax.numpy as jnp, numpy as np
from langevin_ib.dynamics import integrators
from langevin_ib.base import Binning
from langevin_ib.dynamics.grid import simulate_run
from langevin_ib.dynamics.kernel import RunSizes
from langevin_ib.models import uv
model = uv.build({"target": 1.0, "copies": 3, "init_u": 1.0, "init_v": 1.0, "init_noise": 0.0, "label_noise": 0.0})
out = {"devices": jax.device_count()}
for name, law in [("euler_maruyama", "two_point"), ("leimkuhler_matthews", "three_point")]:
    r = simulate_run(model, integrators.build(name, model, noise=law), integrators.Hyperparameters(0.1, 0.01, 0.0),
                 RunSizes(chains=96, steps=60, burn_in=20, thin=3, chunk_steps=30, chain_groups=8),
                 binnings={"theta": Binning(0, 2, 20), "chi": Binning(-1, 1, 10)}, progress=False)
    out[law + "_u"] = np.asarray(r.final_state.integrator.position["u"])
    out[law + "_theta"] = r.histograms.counts["theta"]
    out[law + "_joint"] = r.histograms.joint
    out[law + "_moments"] = r.histograms.moments["chi"]
np.savez(sys.argv[1], **out)
"""


def run_on(devices: int, path) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    subprocess.run([sys.executable, "-c", DEVICES_RUN, str(path)], env=env, check=True)
    return dict(np.load(path))


@pytest.mark.slow  # two fresh processes compiling two runs each: 25–65 s on the shared 2-core VM
def test_discrete_noise_runs_are_the_same_on_one_and_four_devices(tmp_path):
    one, four = run_on(1, tmp_path / "one.npz"), run_on(4, tmp_path / "four.npz")
    assert one.pop("devices") == 1 and four.pop("devices") == 4
    chex.assert_trees_all_equal(one, four)


TEMPERATURE, STIFFNESS, STEP = 0.7, 2.0, 0.25  # ηk = 0.5: EM's discrete variance is 4/3 of T/k
MODEL = harmonic.build({"stiffness": STIFFNESS, "copies": 4, "init": 0.0})
SIZES = RunSizes(chains=2048, steps=1000, burn_in=100, thin=5, chunk_steps=500, chain_groups=32)


@pytest.mark.parametrize("name,law", [("euler_maruyama", "two_point"), ("euler_maruyama", "three_point"),
                                      ("leimkuhler_matthews", "three_point")])
def test_harmonic_variance_is_the_exact_discrete_value(name, law):
    """E[x²] on U = kx²/2 depends on ξ's variance only: EM gives T/(k(1 − ηk/2)), LM T/k, with any
    unit-variance noise; t-test over the 32 chain groups at LEVEL, and the other value rejected."""
    result = simulate_run(MODEL, integrators.build(name, MODEL, noise=law), integrators.Hyperparameters(TEMPERATURE, STEP, 0.0),
                      SIZES, binnings={"x": Binning(-4, 4, 40)}, progress=False)
    moments = result.histograms.moments["x"].astype(float)
    per_group = moments[:, 2] / moments[:, 0]
    em, lm = TEMPERATURE / (STIFFNESS * (1 - STEP * STIFFNESS / 2)), TEMPERATURE / STIFFNESS
    right, wrong = (em, lm) if name == "euler_maruyama" else (lm, em)
    t = lambda value: (per_group.mean() - value) / (per_group.std(ddof=1) / math.sqrt(len(per_group)))
    assert abs(t(right)) < stats.t.isf(LEVEL / 2, len(per_group) - 1), f"E[x²]={per_group.mean():.4f} vs {right:.4f}"
    assert abs(t(wrong)) > stats.t.isf(LEVEL / 2, len(per_group) - 1)


def test_leimkuhler_matthews_three_point_is_second_order_on_a_quartic():
    """The fitted slope of log|bias E[x²]| against log η on U = x⁴/4 is LM's declared order 2 within
    3 standard errors, and order 1 is more than 3 standard errors away."""
    rows = noise_order.sweep(pairs=[("leimkuhler_matthews", "three_point")], steps=(0.2, 0.14, 0.1), chains=2**16,
                             time_=50.0)
    slope, error = rows[0]["slope"], rows[0]["slope_error"]
    assert integrators.SPECS["leimkuhler_matthews"].weak_order == 2
    assert abs(slope - 2) < 3 * error, f"slope {slope:.2f} ± {error:.2f}"
    assert abs(slope - 1) > 3 * error, f"slope {slope:.2f} ± {error:.2f} cannot tell 1 from 2"


def test_euler_maruyama_two_point_is_first_order_on_a_quartic():
    """EM with ±1 noise: in bias = aη + bη² (its η² term is large, so a log–log slope over
    η ∈ [0.07, 0.15] reads ~1.6) the O(η) coefficient a is nonzero by more than 5 standard errors
    (order 1; order 2 means a = 0, the wrong hypothesis, rejected at z > 5)."""
    steps = (0.15, 0.1, 0.07, 0.05)
    rows = noise_order.sweep(pairs=[("euler_maruyama", "two_point")], steps=steps, chains=2**13, time_=50.0)
    bias, error = np.array(rows[0]["bias"]), np.array(rows[0]["error"])
    a, a_error = noise_order.two_term_fit(steps, bias, error, 1)
    assert a / a_error > 5, f"a = {a:.3f} ± {a_error:.3f}"


def test_config_offers_only_noises_that_keep_the_order():
    with pytest.raises(integrators.UnsupportedModel):
        integrators.build("leimkuhler_matthews", MODEL, noise="two_point")
    assert integrators.build("euler_maruyama", MODEL, noise="two_point").weak_order == 1
