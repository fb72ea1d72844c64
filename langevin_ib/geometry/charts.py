"""Charts of the quotient on the slice (docs/theory.md §3): the area-formula Jacobian
J_φ = √det((Dφ E)ᵀ(Dφ E)) of a chart φ restricted to the slice, E an orthonormal basis of
T_θS = ker Dχ, so that p(q) = ρ_S/J_φ is a density in the chart's coordinates.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from langevin_ib.geometry.orbits import Params, flatten, tangent_basis
from langevin_ib.geometry.slice import slice_log_density
from langevin_ib.models.base import GroupAction


def chart_pushforward(chart: Callable[[Params], jax.Array], group: GroupAction, params: Params) -> jax.Array:
    """Dφ E, shape (k, d − dim): the chart's derivative along the slice."""
    flat, unravel = flatten(params)
    d_chart = jax.jacfwd(lambda x: jnp.ravel(chart(unravel(x))))(flat)
    return d_chart @ tangent_basis(group, params)


def chart_log_jacobian(chart: Callable[[Params], jax.Array], group: GroupAction, params: Params) -> jax.Array:
    """log J_φ = ½ log det((Dφ E)ᵀ(Dφ E)) = Σ log σ_i(Dφ E): the area-formula Jacobian of φ
    restricted to the slice (from singular values, not the normal matrix, whose condition number
    is squared)."""
    pushed = chart_pushforward(chart, group, params)
    return jnp.sum(jnp.log(jnp.linalg.svd(pushed, compute_uv=False)))


def quotient_log_density(potential: Callable, chart: Callable, group: GroupAction, params: Params,
                         temperature: float) -> jax.Array:
    """log p(q) at q = φ(θ), θ on the slice: log ρ_S − log J_φ (one branch of the area formula)."""
    return slice_log_density(potential, group, params, temperature) - chart_log_jacobian(chart, group, params)
