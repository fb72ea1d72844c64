"""The rescaling symmetry shared by most of the zoo: two factors scaled by e^{a} and e^{−a} along
one axis each (u⊙v, UVᵀ columns, ReLU neurons, attention Q/K columns; THEORY.md §2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from langevin_ib.geometry import GroupAction


def _along(factors: jax.Array, ndim: int, axis: int) -> jax.Array:
    shape = [1] * ndim
    shape[axis] = -1
    return factors.reshape(shape)


def pair_scaling(up: str, down: str, dim: int, up_axis: int = -1, down_axis: int = -1) -> GroupAction:
    """(params[up], params[down]) ↦ (e^{a_j}·up, e^{−a_j}·down), index j along the given axes."""

    def act(a: jax.Array, params: dict) -> dict:
        scaled = dict(params)
        scaled[up] = params[up] * _along(jnp.exp(a), params[up].ndim, up_axis)
        scaled[down] = params[down] * _along(jnp.exp(-a), params[down].ndim, down_axis)
        return scaled

    return GroupAction(act, dim)


def balanced_pair(product: jax.Array) -> dict:
    """{u, v} with u·v = product and |u| = |v|, u carrying the sign: the balanced slice of a u⊙v model."""
    root = jnp.sqrt(jnp.abs(product))
    return {"u": jnp.sign(product) * root, "v": root}
