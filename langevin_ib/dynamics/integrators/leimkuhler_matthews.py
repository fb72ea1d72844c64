"""Leimkuhler–Matthews (2013): θ_{n+1} = θ_n − η∇U(θ_n) + √(ηT/2)·(ξ_n + ξ_{n+1}).

Same cost as Euler–Maruyama, O(η²) invariant-measure error; exact stationary variance T/k on
U = kx²/2. The state carries, beside θ_n, not ξ_n but the anchor a_{n−1} = θ_n − √(ηT/2)·ξ_n; then

    a_n = 2θ_n − a_{n−1} − η∇U(θ_n)   (= θ_n + √(ηT/2)·ξ_n − η∇U(θ_n)),   θ_{n+1} = a_n + √(ηT/2)·ξ_{n+1},

the same chain in exact arithmetic. The fresh noise ξ_{n+1} then has one use, so XLA fuses its draw into
the update as it does Euler–Maruyama's; stored, ξ_{n+1} had two (the update and the state), and XLA
split the draw into several passes over memory (docs/engineering.md, "Issue 33: benchmarks and memory").

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
    position: Params  # θ_n
    anchor: Params  # a_{n−1} = θ_n − √(ηT/2)·ξ_n


def build(model: Model, noise: str = "gaussian") -> Integrator:
    """Args:
      model: its ``potential(λ)`` is U = L + (λ/2)|θ|².
      noise: the law of ξ, one of ``SPEC.noises`` (:mod:`langevin_ib.dynamics.noise`).

    Returns:
      The Leimkuhler–Matthews :class:`~langevin_ib.dynamics.integrators.base.Integrator` on U.
    """
    gradient = potential_gradient(model)
    sample = noise_lib.lookup(noise)
    scale = lambda hyperparameters: jnp.sqrt(0.5 * hyperparameters.temperature * hyperparameters.step_size)

    def init(key: jax.Array, position: Params, hyperparameters: Hyperparameters) -> State:
        c = scale(hyperparameters)
        return State(position, jax.tree.map(lambda x, n: x - per_chain(c, x) * n, position, sample(key, position)))

    def step(key: jax.Array, state: State, hyperparameters: Hyperparameters) -> tuple[State, Info]:
        step_size, c = hyperparameters.step_size, scale(hyperparameters)
        force = gradient(state.position, hyperparameters.weight_decay)
        anchor = jax.tree.map(lambda x, a, g: 2 * x - a - per_chain(step_size, x) * g, state.position, state.anchor, force)
        position = jax.tree.map(lambda a, n: a + per_chain(c, a) * n, anchor, sample(key, state.position))
        return State(position, anchor), no_failure(position)

    return Integrator(init, step, lambda state: state.position, SPEC.weak_order, SPEC.constrained,
                      lambda state, position: state._replace(position=position))
