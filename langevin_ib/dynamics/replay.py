"""The run's key scheme, one function shared by the kernel and by whatever re-takes a run's step.

Step k of a run draws all its noise from ``step_key(noise, k)`` = fold_in(noise, k), ``noise`` the
run's noise key (:func:`langevin_ib.dynamics.kernel.keys`), so step k of chain c can be re-taken
from its recorded position alone (:func:`one_step`), as the χ-drift test of stochastic-gradient
runs does (docs/sgd.md).
"""

from __future__ import annotations

from typing import Callable

import jax

from langevin_ib.dynamics.integrators import Hyperparameters, Integrator


def step_key(noise_key: jax.Array, step: jax.Array) -> jax.Array:
    """The key of absolute step ``step`` of a run with noise key ``noise_key``."""
    return jax.random.fold_in(noise_key, step)


def one_step(integrator: Integrator, hyperparameters: Hyperparameters) -> Callable:
    """``(position, key, s) -> position'``: step s of a run with noise key ``key`` (:func:`step_key`) from
    ``position``, the integrator's state re-initialised from it (exact where the state is the position:
    gd, sgd and sgld with plain optax.sgd, Euler–Maruyama). Chain i of ``position`` draws as the run's
    chain i."""

    def step(position, key, s):
        state = integrator.init(jax.random.key(0), position, hyperparameters)
        return integrator.position(integrator.step(step_key(key, s), state, hyperparameters)[0])

    return jax.jit(step)
