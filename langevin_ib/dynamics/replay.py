"""The run's key scheme, one function shared by the kernel and by whatever re-takes a run's step.

Step k of a run draws all its noise from ``step_key(noise, k)`` = fold_in(noise, k), ``noise`` the
run's noise key (:func:`langevin_ib.dynamics.kernel.keys`), so step k of chain c can be re-taken
from its recorded position alone (:func:`one_step`), as the χ-drift test of stochastic-gradient
runs does (docs/sgd.md).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax

from langevin_ib.dynamics.integrators import Hyperparameters, Integrator
from langevin_ib.numerics.by_identity import ByIdentity


def step_key(noise_key: jax.Array, step: jax.Array) -> jax.Array:
    """The key of absolute step ``step`` of a run with noise key ``noise_key``."""
    return jax.random.fold_in(noise_key, step)


def one_step(integrator: Integrator, hyperparameters: Hyperparameters) -> Callable:
    """``(position, key, s) -> position'``: step s of a run with noise key ``key`` (:func:`step_key`) from
    ``position``, the integrator's state re-initialised from it (exact where the state is the position:
    gd, sgd and sgld with plain optax.sgd, Euler–Maruyama). Chain i of ``position`` draws as the run's
    chain i. The hyperparameters are traced: one compiled step per integrator (and shapes), whatever
    their values (a seed or η sweep's points share it)."""
    return lambda position, key, s: _step(ByIdentity(integrator), position, key, s, hyperparameters)


@functools.partial(jax.jit, static_argnums=0)
def _step(integrator: ByIdentity, position, key: jax.Array, s: jax.Array, hyperparameters: Hyperparameters):
    integrator = integrator.value
    state = integrator.init(jax.random.key(0), position, hyperparameters)
    return integrator.position(integrator.step(step_key(key, s), state, hyperparameters)[0])
