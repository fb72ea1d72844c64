"""The analysis speed-ups of issue 33 keep their numbers: the χ-drift test's sample cap, the drift terms'
tr(∇²χΣ) by d second derivatives, the SGD chain law's cache and its Φ."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from langevin_ib import models
from langevin_ib.dynamics import kernel, replay
from langevin_ib.dynamics.grid import simulate_run
from langevin_ib.dynamics.integrators import Hyperparameters, sgd
from langevin_ib.dynamics.kernel import RunSizes
from langevin_ib.experiment import sgd_tests
from langevin_ib.models.fields import section
from langevin_ib.predictions import chi_drift, sgd_uv_chain


def uv_model():
    spec = models.REGISTRY["uv"]
    return spec.build(section("model", {"init_u": 1.5, "init_v": 0.5, "init_noise": 0.3, "label_noise": 1.0},
                              spec.FIELDS))


@pytest.mark.slow  # 5 s: a run and its replayed steps
def test_drift_test_takes_at_most_its_sample_cap_in_evenly_spaced_boundaries(monkeypatch):
    """64 chains x 21 recorded boundaries (step 0 and 20 windows of 5 steps), cap 4 x 64 samples: 4 boundaries."""
    model = uv_model()
    hyperparameters = Hyperparameters(0.0, 0.1, 0.0)
    integrator = sgd.build(model, sgd.Settings(1))
    result = simulate_run(model, integrator, hyperparameters, RunSizes(chains=64, steps=100, chunk_steps=5, chain_groups=8),
                          binnings={}, chunk_statistics=sgd_tests.chunk_statistics(model), progress=False)
    recorded, step = result.chunk_statistics["positions"], replay.one_step(integrator, hyperparameters)
    args = (model, step, kernel.keys(0).noise, recorded, 0.1, 0.0, 0.0, 1, 1.0, 0.05, 0.01)
    monkeypatch.setattr(sgd_tests, "DRIFT_SAMPLES", 4 * 64)
    capped = sgd_tests.drift_test(*args)
    assert len(recorded["step"]) == 21 and "at 4 chunk boundaries" in capped["description"]
    monkeypatch.setattr(sgd_tests, "DRIFT_SAMPLES", 2**30)
    assert "at 21 chunk boundaries" in sgd_tests.drift_test(*args)["description"]


def test_noise_term_by_axes_is_the_mean_over_examples():
    """tr(∇²χ Σ̂) = Σ_a e_aᵀ∇²χ Σ̂ e_a equals the mean of g_iᵀ∇²χ g_i over the centred example gradients."""
    model = uv_model()
    params = model.init(jax.random.key(3))
    examples = model.data.draw(jax.random.key(4), 256)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    terms = chi_drift.drift_terms(model, params, examples)
    grads = jax.vmap(lambda z: jax.grad(lambda x: model.data.example_loss(unravel(x), z))(flat))(examples)
    chi = lambda x: jax.flatten_util.ravel_pytree(chi_drift.breaking(model.group, unravel(x)))[0]
    per_example = jax.vmap(lambda g: chi_drift._second(chi, flat, g))(grads - grads.mean(axis=0)[None])
    assert np.asarray(terms["noise"]) == pytest.approx(np.asarray(jnp.mean(per_example, axis=0)), rel=1e-5)
    assert float(jnp.abs(terms["noise"]).max()) > 0


def test_chain_law_is_cached_read_only_and_its_cdf_is_scipys():
    kwargs = dict(step_size=0.1, batch_size=2, label_noise=1.0, target=1.0, theta_max=100.0)
    law = sgd_uv_chain.stationary(**kwargs)
    assert sgd_uv_chain.stationary(**kwargs) is law and not law.masses.flags.writeable
    z = np.linspace(-40, 40, 200001)
    assert np.array_equal(sgd_uv_chain.normal_cdf(z), special.ndtr(z))
