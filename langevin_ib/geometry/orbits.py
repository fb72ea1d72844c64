"""Orbits of a declared symmetry, by autodiff (docs/theory.md §2–3; paper eqs. 8, 40–43).

A group action ``act(a, params)``, a ∈ R^m with ``act(0, θ) = θ``, preserves the loss. Everything
here acts on one parameter pytree and is jit/vmap friendly:

- generators ξ_a(θ) = d/dt|₀ act(t e_a, θ) (one ``jax.jvp`` each) and the orbit Gram H_ab = ⟨ξ_a, ξ_b⟩;
- the symmetry-breaking map χ: by default the canonical χ_a(θ) = ½⟨θ, ξ_a(θ)⟩, whose gradient is
  ξ_a for a linear action with symmetric generators (all rescalings), so S = χ⁻¹(0) is the
  orthogonal, dual-normalised slice and det G_χ = det H; or one the model supplies;
- G_χ = Dχ Dχᵀ and the correction L_IB = (T/2)·log det G_χ;
- an orthonormal basis of the slice's tangent space ker Dχ.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from langevin_ib.models.base import GroupAction

Params = Any


def flatten(params: Params) -> tuple[jax.Array, Callable]:
    return ravel_pytree(params)


def generators(group: GroupAction, params: Params) -> jax.Array:
    """Ξ, shape (dim, d): row a is the flattened generator ξ_a(θ)."""
    zero = jnp.zeros(group.dim, flatten(params)[0].dtype)

    def along(direction):
        return flatten(jax.jvp(lambda a: group.act(a, params), (zero,), (direction,))[1])[0]

    return jax.vmap(along)(jnp.eye(group.dim, dtype=zero.dtype))


def orbit_gram(group: GroupAction, params: Params) -> jax.Array:
    """H_ab = ⟨ξ_a, ξ_b⟩ (Euclidean metric on the flattened parameters)."""
    xi = generators(group, params)
    return xi @ xi.T


def breaking(group: GroupAction, params: Params) -> jax.Array:
    """χ(θ) ∈ R^dim: the model's own, or the canonical χ_a = ½⟨θ, ξ_a(θ)⟩."""
    if group.breaking is not None:
        return group.breaking(params)
    return 0.5 * generators(group, params) @ flatten(params)[0]


def breaking_jacobian(group: GroupAction, params: Params) -> jax.Array:
    """Dχ, shape (dim, d), in the flattened coordinates."""
    flat, unravel = flatten(params)
    return jax.jacrev(lambda x: breaking(group, unravel(x)))(flat)


def breaking_gram(group: GroupAction, params: Params) -> jax.Array:
    """(G_χ)_ij = ⟨∇χ^i, ∇χ^j⟩ (paper eq. 42)."""
    jac = breaking_jacobian(group, params)
    return jac @ jac.T


def log_det_breaking_gram(group: GroupAction, params: Params) -> jax.Array:
    return jnp.linalg.slogdet(breaking_gram(group, params))[1]


def correction(group: GroupAction, params: Params, temperature: float) -> jax.Array:
    """L_IB = (T/2)·log det G_χ (paper eq. 8: L_eff = U + L_IB on the slice)."""
    return 0.5 * temperature * log_det_breaking_gram(group, params)


def tangent_basis(group: GroupAction, params: Params) -> jax.Array:
    """E, shape (d, d − dim): an orthonormal basis of ker Dχ = T_θS."""
    jac = breaking_jacobian(group, params)
    _, _, vt = jnp.linalg.svd(jac, full_matrices=True)
    return vt[group.dim:].T
