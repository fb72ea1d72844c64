"""A chunk statistic of a model with a readout (:class:`langevin_ib.models.readout.Readout`): at step 0
and every chunk boundary, the CHI_QUANTILES over alive chains of each readout entry, per index for a
profile (sorted σ_i(UVᵀ), per-column ‖U_j‖/‖V_j‖, …): the paper's panels over time, unpooled.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from langevin_ib.dynamics import kernel as kernel_lib
from langevin_ib.dynamics.kernel import CHI_QUANTILES


def bands(kernel: kernel_lib.Kernel, state: kernel_lib.ChainState) -> dict:
    """{name: (Q,) for a metric, (len, Q) for a profile}: quantiles over alive chains."""
    values = jax.vmap(kernel.model.readout.of)(kernel.integrator.position(state.integrator))
    out = {}
    for name, value in values.items():
        dead = state.diverged.reshape((-1,) + (1,) * (value.ndim - 1))
        masked = jnp.where(dead, jnp.nan, value)
        out[name] = jnp.moveaxis(jnp.nanquantile(masked, jnp.asarray(CHI_QUANTILES, value.dtype), axis=0), 0, -1)
    return out
