"""Leimkuhler–Matthews (2013): θ_{n+1} = θ_n − η∇U(θ_n) + √(ηT/2)·(ξ_n + ξ_{n+1}).

Same cost as Euler–Maruyama, O(η²) invariant-measure error; exact stationary variance T/k on
U = kx²/2. The state carries the previous step's noise ξ_n (not a key).

Exports ``State``, ``Info``, ``SPEC``, ``build``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from langevin_ib.dynamics import noise as noise_lib
from langevin_ib.dynamics.integrators.base import (Hyperparameters, Info, Integrator, IntegratorSpec, Params, no_failure,
                                                   per_chain, potential_gradient)
from langevin_ib.models.base import Model

# O(η²) needs ξ's moments through the fifth: with two_point noise (build(model, noise="two_point") still runs it)
# the bias of E[x²] on U = x⁴/4 falls as O(η) (docs/noise_order.md), so the config does not offer it
SPEC = IntegratorSpec(weak_order=2, constrained=False, noises=("gaussian", "three_point"))


class State(NamedTuple):
    position: Params
    noise: Params  # ξ_n


def build(model: Model, noise: str = "gaussian") -> Integrator:
    """Args:
      model: its ``potential(λ)`` is U = L + (λ/2)|θ|².
      noise: the law of ξ, one of ``SPEC.noises`` (:mod:`langevin_ib.dynamics.noise`).

    Returns:
      The Leimkuhler–Matthews :class:`~langevin_ib.dynamics.integrators.base.Integrator` on U.
    """
    gradient = potential_gradient(model)
    sample = noise_lib.lookup(noise)

    def init(key: jax.Array, position: Params, hyperparameters: Hyperparameters) -> State:
        del hyperparameters
        return State(position, sample(key, position))

    def step(key: jax.Array, state: State, hyperparameters: Hyperparameters) -> tuple[State, Info]:
        temperature, step_size, weight_decay = hyperparameters
        force = gradient(state.position, weight_decay)
        noise = sample(key, state.position)
        noise_scale = jnp.sqrt(0.5 * temperature * step_size)
        position = jax.tree.map(
            lambda x, g, n0, n1: x - per_chain(step_size, x) * g + per_chain(noise_scale, x) * (n0 + n1),
            state.position, force, state.noise, noise,
        )
        return State(position, noise), no_failure(position)

    return Integrator(init, step, lambda state: state.position, SPEC.weak_order, SPEC.constrained,
                      lambda state, position: state._replace(position=position))
