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
