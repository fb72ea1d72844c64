"""Linear algebra for the small matrices evaluated at every PIT node, without LAPACK: vmapped over
nodes, LAPACK calls become batched calls, and batched calls can deadlock jaxlib 0.10's two-thread
CPU pool (:func:`langevin_ib.runner.simulate`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def log_abs_det(matrix: jax.Array) -> jax.Array:
    """log |det M| of a square matrix by Gaussian elimination with partial pivoting (−inf if singular)."""
    size = matrix.shape[0]
    rows = jnp.arange(size)
    reduced, total = matrix, jnp.zeros_like(matrix[0, 0])
    for k in range(size):  # static size: unrolled
        pivot = jnp.argmax(jnp.where(rows >= k, jnp.abs(reduced[:, k]), -1.0))
        reduced = reduced.at[k].set(reduced[pivot]).at[pivot].set(reduced[k])
        diagonal = reduced[k, k]
        multipliers = jnp.where(rows > k, reduced[:, k] / jnp.where(diagonal == 0, 1.0, diagonal), 0.0)
        reduced = reduced - multipliers[:, None] * reduced[k][None, :]
        total = total + jnp.log(jnp.abs(diagonal))
    return total
