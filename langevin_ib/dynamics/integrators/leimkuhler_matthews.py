"""Leimkuhler–Matthews (2013): θ_{n+1} = θ_n − η∇U(θ_n) + √(ηT/2)·(ξ_n + ξ_{n+1}).

Same cost as Euler–Maruyama, O(η²) invariant-measure error; exact stationary variance T/k on
U = kx²/2. The state carries the previous step's noise ξ_n (not a key).
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from langevin_ib.dynamics.integrators.base import Integrator, Params, PotentialGradient, gaussian_like


class LeimkuhlerMatthewsState(NamedTuple):
    position: Params
    noise: Params


def build(gradient: PotentialGradient, temperature: float, step_size: float) -> Integrator:
    noise_scale = (0.5 * temperature * step_size) ** 0.5

    def init(key: jax.Array, position: Params) -> LeimkuhlerMatthewsState:
        return LeimkuhlerMatthewsState(position, gaussian_like(key, position))

    def step(key: jax.Array, state: LeimkuhlerMatthewsState) -> LeimkuhlerMatthewsState:
        force = gradient(state.position)
        noise = gaussian_like(key, state.position)
        position = jax.tree.map(
            lambda x, g, n0, n1: x - step_size * g + noise_scale * (n0 + n1),
            state.position, force, state.noise, noise,
        )
        return LeimkuhlerMatthewsState(position, noise)

    return Integrator(init, step, lambda state: state.position, weak_order=2)
