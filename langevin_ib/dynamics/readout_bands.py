"""A chunk statistic of a model with a readout (:class:`langevin_ib.models.readout.Readout`): at step 0
and every chunk boundary, the CHI_QUANTILES over alive chains of each readout entry, per index for a
profile (sorted σ_i(UVᵀ), per-column ‖U_j‖/‖V_j‖, …): the paper's panels over time, unpooled.

The readout is evaluated a batch of BATCH chains at a time on each device (``lax.map`` in
``shard_map``), so a readout that evaluates the full-batch loss (attention's test MSE) holds its
temporaries for BATCH chains, not for all. A profile's quantiles are taken a few indices at a time (``lax.map`` over blocks of COLUMNS), so the
sort holds (chains, COLUMNS) values, not a masked and a sorted copy of the whole (chains, len) profile:
the same numbers (each index's quantiles are its own), a third of the memory on Fig. 5's 256-point
fitted curve (docs/engineering.md, "Memory per chain").
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from langevin_ib.dynamics import kernel as kernel_lib
from langevin_ib.dynamics import sharding
from langevin_ib.dynamics.kernel import CHI_QUANTILES

COLUMNS = 16  # profile indices whose quantiles are taken at once (at most)
BATCH = 64  # chains whose readout is evaluated at once on a device


def values_of(readout_of: Callable, position: Any) -> dict:
    """``readout_of`` of every chain of ``position`` (chains leading, split over the devices), BATCH at a time."""
    chains = jax.tree.leaves(position)[0].shape[0]
    split = sharding.chain_shardings(chains)[0]
    return jax.shard_map(lambda local: jax.lax.map(readout_of, local, batch_size=BATCH), mesh=split.mesh,
                         in_specs=split.spec, out_specs=split.spec)(position)


def width(length: int) -> int:
    """The block of indices: the largest divisor of ``length`` up to COLUMNS."""
    return max(d for d in range(1, min(length, COLUMNS) + 1) if length % d == 0)


def profile_quantiles(value: jax.Array, dead: jax.Array, levels: jax.Array) -> jax.Array:
    """(len, Q): per index of ``value`` (chains, len), the quantiles ``levels`` over the chains not ``dead``."""
    length = value.shape[1]
    block = width(length)

    def one(start):
        part = jnp.where(dead[:, None], jnp.nan, jax.lax.dynamic_slice_in_dim(value, start, block, axis=1))
        return jnp.nanquantile(part, levels, axis=0).T  # (block, Q)

    return jax.lax.map(one, jnp.arange(0, length, block)).reshape(length, levels.shape[0])


def bands(kernel: kernel_lib.Kernel, state: kernel_lib.ChainState) -> dict:
    """{name: (Q,) for a metric, (len, Q) for a profile}: quantiles over alive chains."""
    values = values_of(kernel.model.readout.of, kernel.integrator.position(state.integrator))
    out = {}
    for name, value in values.items():
        levels = jnp.asarray(CHI_QUANTILES, value.dtype)
        out[name] = (jnp.nanquantile(jnp.where(state.diverged, jnp.nan, value), levels) if value.ndim == 1
                     else profile_quantiles(value, state.diverged, levels))
    return out
