"""Overdamped Langevin, Euler–Maruyama: θ ← θ − η∇U(θ) + √(2Tη)·ξ,  ξ ~ N(0, I).

Discretises dθ = −∇U dt + √(2T) dW (docs/theory.md §1). Its invariant measure carries an O(η) bias
(Talay–Tubaro 1990); on U = kx²/2 the exact discrete stationary variance is T/(k(1 − ηk/2)).
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from langevin_ib.dynamics.integrators.base import Integrator, Params, PotentialGradient, gaussian_like


class EulerMaruyamaState(NamedTuple):
    position: Params


def build(gradient: PotentialGradient, temperature: float, step_size: float) -> Integrator:
    noise_scale = (2.0 * temperature * step_size) ** 0.5

    def init(key: jax.Array, position: Params) -> EulerMaruyamaState:
        del key
        return EulerMaruyamaState(position)

    def step(key: jax.Array, state: EulerMaruyamaState) -> EulerMaruyamaState:
        force = gradient(state.position)
        noise = gaussian_like(key, state.position)
        return EulerMaruyamaState(
            jax.tree.map(lambda x, g, n: x - step_size * g + noise_scale * n, state.position, force, noise)
        )

    return Integrator(init, step, lambda state: state.position, weak_order=1)
