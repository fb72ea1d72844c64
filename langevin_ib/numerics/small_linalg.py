"""Linear algebra for the small matrices evaluated at every PIT node, without LAPACK: vmapped over
nodes, LAPACK calls become batched calls, and batched calls can deadlock jaxlib 0.10's two-thread
CPU pool (:func:`langevin_ib.dynamics.grid.simulate_grid`). Sizes are static, so every loop is unrolled."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _pivots(matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(pivots, sign of the row permutation) of Gaussian elimination with partial pivoting:
    det M = sign · Π pivots."""
    size = matrix.shape[0]
    rows = jnp.arange(size)
    reduced, sign, pivots = matrix, jnp.ones_like(matrix[0, 0]), []
    for k in range(size):
        pivot = jnp.argmax(jnp.where(rows >= k, jnp.abs(reduced[:, k]), -1.0))
        reduced = reduced.at[k].set(reduced[pivot]).at[pivot].set(reduced[k])
        sign = jnp.where(pivot == k, sign, -sign)
        diagonal = reduced[k, k]
        multipliers = jnp.where(rows > k, reduced[:, k] / jnp.where(diagonal == 0, 1.0, diagonal), 0.0)
        reduced = reduced - multipliers[:, None] * reduced[k][None, :]
        pivots.append(diagonal)
    return jnp.stack(pivots), sign


def log_abs_det(matrix: jax.Array) -> jax.Array:
    """log |det M| of a square matrix (−inf if singular)."""
    return jnp.sum(jnp.log(jnp.abs(_pivots(matrix)[0])))


def det(matrix: jax.Array) -> jax.Array:
    """det M of a square matrix."""
    pivots, sign = _pivots(matrix)
    return sign * jnp.prod(pivots)


def solve(matrix: jax.Array, vector: jax.Array) -> jax.Array:
    """M⁻¹b by Cramer's rule (for the few-by-few systems of a Newton step)."""
    columns = [det(matrix.at[:, i].set(vector)) for i in range(matrix.shape[0])]
    return jnp.stack(columns) / det(matrix)


def cofactors(jacobian: jax.Array) -> jax.Array:
    """n_i = (−1)^i det(J without column i) for a (k − 1) × k matrix J: Jn = 0, |n|² = det JJᵀ, and
    det [a; J] = a·n (the generalised cross product of J's rows)."""
    size = jacobian.shape[1]
    return jnp.stack([(-1.0) ** i * det(jnp.delete(jacobian, i, axis=1, assume_unique_indices=True))
                      for i in range(size)])


def cholesky(matrix: jax.Array) -> jax.Array:
    """Lower-triangular L with LLᵀ = M (NaN where M is not positive definite)."""
    size = matrix.shape[0]
    lower = jnp.zeros_like(matrix)
    for j in range(size):
        diagonal = jnp.sqrt(matrix[j, j] - jnp.sum(lower[j, :j] ** 2))
        lower = lower.at[j, j].set(diagonal)
        for i in range(j + 1, size):
            lower = lower.at[i, j].set((matrix[i, j] - jnp.sum(lower[i, :j] * lower[j, :j])) / diagonal)
    return lower
