"""Overdamped Langevin, Euler–Maruyama: θ ← θ − η∇U(θ) + √(2Tη)·ξ,  ξ ~ N(0, I).

Discretises dθ = −∇U dt + √(2T) dW (docs/theory.md §1). Its invariant measure carries an O(η) bias
(Talay–Tubaro 1990); on U = kx²/2 the exact discrete stationary variance is T/(k(1 − ηk/2)).

Exports ``State``, ``Info``, ``SPEC``, ``build``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from langevin_ib.dynamics import noise as noise_lib
from langevin_ib.dynamics.integrators.base import (Hyperparameters, Info, Integrator, IntegratorSpec, Params,
                                                   euler_maruyama_proposal, no_failure, potential_gradient)
from langevin_ib.models.base import Model

# weak order 1 needs ξ's moments through the third
SPEC = IntegratorSpec(weak_order=1, constrained=False, noises=("gaussian", "two_point", "three_point"))


class State(NamedTuple):
    position: Params


def build(model: Model, noise: str = "gaussian") -> Integrator:
    """Args:
      model: gives U = L + (λ/2)|θ|² as ``model.potential(λ)``.
      noise: the law of ξ, one of ``SPEC.noises`` (:mod:`langevin_ib.dynamics.noise`).

    Returns:
      An Integrator stepping θ − η∇U(θ) + √(2Tη)·ξ; its Info never reports a failure.
    """
    gradient = potential_gradient(model)
    sample = noise_lib.lookup(noise)

    def step(key: jax.Array, state: State, hyperparameters: Hyperparameters) -> tuple[State, Info]:
        position = euler_maruyama_proposal(gradient, key, state.position, hyperparameters, sample)
        return State(position), no_failure(position)

    return Integrator(lambda key, position, hyperparameters: State(position), step, lambda state: state.position,
                      SPEC.weak_order, SPEC.constrained)
