"""Chunk statistics of stochastic-gradient runs, ``fn(kernel, state)`` evaluated at step 0 and every
chunk boundary (:func:`langevin_ib.dynamics.grid.simulate_grid`): quantile bands over chains of χ and of
the balance ratios of the model's rescaling chain, and the positions of the first chains (docs/sgd.md).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from langevin_ib.dynamics import kernel as kernel_lib
from langevin_ib.dynamics.kernel import CHI_QUANTILES
from langevin_ib.models.base import Model

RECORDED_CHAINS = 4096  # positions recorded per boundary (for the χ-drift test)


def balance_ratios(model: Model, position: Any) -> jax.Array:
    """(chains, k − 1, copies): ‖f_{a+1}‖/‖f_a‖ along the model's rescaling chain."""
    norms = jnp.stack([jnp.linalg.norm(f, axis=-1) for f in jax.vmap(model.chain.factors)(position)], axis=1)
    return norms[:, 1:] / norms[:, :-1]


def bands(kernel: kernel_lib.Kernel, state: kernel_lib.ChainState) -> dict:
    """CHI_QUANTILES over alive chains (copies pooled) of χ and of each balance ratio."""
    position = kernel.integrator.position(state.integrator)
    levels = jnp.asarray(CHI_QUANTILES)
    chi = jnp.where(state.diverged[:, None], jnp.nan, kernel.observe(position)[kernel.model.symmetry])
    out = {"chi": jnp.nanquantile(chi.reshape(-1), levels.astype(chi.dtype))}
    if kernel.model.chain is not None:
        ratios = jnp.where(state.diverged[:, None, None], jnp.nan, balance_ratios(kernel.model, position))
        out["balance"] = jnp.stack([jnp.nanquantile(r.reshape(-1), levels.astype(r.dtype)) for r in
                                    jnp.moveaxis(ratios, 1, 0)])
    return out


def positions(kernel: kernel_lib.Kernel, state: kernel_lib.ChainState) -> dict:
    """The positions and divergence flags of the first RECORDED_CHAINS chains."""
    n = min(RECORDED_CHAINS, kernel.sizes.chains)
    position = kernel.integrator.position(state.integrator)
    return {"position": jax.tree.map(lambda x: x[:n], position), "diverged": state.diverged[:n]}
