"""The key scheme is one function (dynamics.replay.step_key): a step re-taken from its position by
replay.one_step is the kernel's step, bit for bit."""

import chex
import jax
import jax.numpy as jnp

from langevin_ib import models
from langevin_ib.dynamics import integrators, kernel, replay
from langevin_ib.dynamics.integrators import Hyperparameters


def test_a_replayed_step_is_the_kernels_step():
    model = models.lookup("uv").build(dict(target=1.0, copies=2, init_u=1.0, init_v=1.0, init_noise=0.5, label_noise=0.0))
    integrator = integrators.build("euler_maruyama", model)
    hyperparameters = Hyperparameters(jnp.float32(0.1), jnp.float32(0.01), jnp.float32(0.0))
    keys = kernel.keys(3)
    position = jax.vmap(model.init)(jax.random.split(keys.init, 16))
    state = integrator.init(keys.init, position, hyperparameters)
    step = jnp.int32(7)
    taken = integrator.position(jax.jit(kernel.integrate, static_argnums=(0, 5))(
        integrator, keys.noise, state, hyperparameters, step, 1)[0])
    replayed = replay.one_step(integrator, hyperparameters)(position, keys.noise, step)
    chex.assert_trees_all_equal(taken, replayed)
    chex.assert_tree_shape_prefix(replayed, (16,))
    other = replay.one_step(integrator, hyperparameters)(position, keys.noise, step + 1)
    assert not jnp.array_equal(taken["u"], other["u"])  # another step's key draws other noise


def test_a_replayed_step_compiles_once_whatever_the_hyperparameters():
    """The χ-drift test re-takes steps at every point of a seed or η sweep: the hyperparameters are
    traced, so the points share one compiled step (the integrator is the sweep's own)."""
    model = models.lookup("uv").build(dict(target=1.0, copies=2, init_u=1.0, init_v=1.0, init_noise=0.5, label_noise=0.0))
    integrator = integrators.build("euler_maruyama", model)
    position = jax.vmap(model.init)(jax.random.split(kernel.keys(0).init, 8))
    before = replay._step._cache_size()
    steps = [replay.one_step(integrator, Hyperparameters(jnp.float32(t), jnp.float32(eta), jnp.float32(0.0)))(
        position, kernel.keys(seed).noise, jnp.int32(3)) for seed, t, eta in [(0, 0.1, 0.01), (1, 0.2, 0.02)]]
    assert replay._step._cache_size() == before + 1
    assert not jnp.array_equal(steps[0]["u"], steps[1]["u"])
