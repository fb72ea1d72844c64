"""A chunk statistic of a model with a readout (:class:`langevin_ib.models.readout.Readout`): at step 0
and every chunk boundary, the CHI_QUANTILES over alive chains of each readout entry, per index for a
profile (sorted σ_i(UVᵀ), per-column ‖U_j‖/‖V_j‖, …): the paper's panels over time, unpooled.

Memory is O(chains × COLUMNS), not O(chains × the readout): the readout is evaluated BATCH chains at
a time on each device (``lax.map`` in ``shard_map``), so a readout that evaluates the full-batch loss
(attention's test MSE) holds its temporaries for BATCH chains; and a profile is evaluated a block of
COLUMNS indices at a time (the readout re-evaluated per block, keeping those indices), its quantiles
taken, then the next block: Fig. 5's 256-point fitted curve is never held whole for every chain. The
same numbers (each index's quantiles are its own; docs/engineering.md, "Memory per chain").
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from langevin_ib.dynamics import kernel as kernel_lib
from langevin_ib.dynamics import sharding
from langevin_ib.dynamics.kernel import CHI_QUANTILES

COLUMNS = 16  # profile indices evaluated and sorted at once (at most)
BATCH = 64  # chains whose readout is evaluated at once on a device


def width(length: int) -> int:
    """The block of indices: the largest divisor of ``length`` up to COLUMNS."""
    return max(d for d in range(1, min(length, COLUMNS) + 1) if length % d == 0)


def batched(fn: Callable, position: Any) -> Any:
    """``fn`` (one chain) of every chain of ``position`` (chains leading, split over the devices), BATCH at a
    time, or one at a time where ``fn`` calls LAPACK (the batched kernels' deadlock: :mod:`.kernel`)."""
    split = sharding.chain_shardings(jax.tree.leaves(position)[0].shape[0])[0]
    batch = 1 if kernel_lib.calls_lapack(fn, jax.tree.map(lambda x: x[0], position)) else BATCH
    return jax.shard_map(lambda local: jax.lax.map(fn, local, batch_size=batch), mesh=split.mesh,
                         in_specs=split.spec, out_specs=split.spec)(position)


def metrics_of(readout_of: Callable, position: Any) -> dict:
    """The readout's scalar entries of every chain: name -> (chains,)."""
    names = [k for k, v in jax.eval_shape(readout_of, jax.tree.map(lambda x: x[0], position)).items() if v.ndim == 0]
    return batched(lambda p: {k: v for k, v in readout_of(p).items() if k in names}, position)


def profiles_of(readout_of: Callable, position: Any) -> dict:
    """name -> (length, start -> (chains, width(length)) indices [start, start + width) of every chain's profile)."""
    shapes = jax.eval_shape(readout_of, jax.tree.map(lambda x: x[0], position))

    def columns(name, block):
        return lambda start: batched(lambda p: jax.lax.dynamic_slice_in_dim(readout_of(p)[name], start, block), position)

    return {k: (v.shape[0], columns(k, width(v.shape[0]))) for k, v in shapes.items() if v.ndim == 1}


def profile_quantiles(columns: Callable, length: int, dead: jax.Array, levels: jax.Array) -> jax.Array:
    """(length, Q): per index, the quantiles ``levels`` over the chains not ``dead``; ``columns(start)`` gives
    the (chains, width(length)) values of indices [start, start + width)."""
    def one(start):
        return jnp.nanquantile(jnp.where(dead[:, None], jnp.nan, columns(start)), levels, axis=0).T  # (width, Q)

    return jax.lax.map(one, jnp.arange(0, length, width(length))).reshape(length, levels.shape[0])


def bands(kernel: kernel_lib.Kernel, state: kernel_lib.ChainState) -> dict:
    """{name: (Q,) for a metric, (len, Q) for a profile}: quantiles over alive chains."""
    position = kernel.integrator.position(state.integrator)
    out = {}
    for name, value in metrics_of(kernel.model.readout.of, position).items():
        out[name] = jnp.nanquantile(jnp.where(state.diverged, jnp.nan, value), jnp.asarray(CHI_QUANTILES, value.dtype))
    for name, (length, columns) in profiles_of(kernel.model.readout.of, position).items():
        dtype = jax.eval_shape(columns, 0).dtype
        out[name] = profile_quantiles(columns, length, state.diverged, jnp.asarray(CHI_QUANTILES, dtype))
    return out
