"""A profile's quantiles over chains taken a block of indices at a time (readout_bands on the device,
paper_metrics on the host) are bit for bit those of the whole profile at once, dead and non-finite
chains left out, for a length that COLUMNS divides (256, Fig. 5's fitted curve) and one it does not (40)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from langevin_ib.dynamics import readout_bands
from langevin_ib.dynamics.kernel import CHI_QUANTILES
from langevin_ib.experiment import paper_metrics

CHAINS = 301


@pytest.mark.parametrize("length", [256, 40])
def test_profile_quantiles_in_blocks_are_the_whole_profiles(length):
    rng = np.random.default_rng(length)
    value = rng.standard_normal((CHAINS, length)).astype(np.float32)
    value[5, 3] = np.nan  # a non-finite chain: the host readout leaves it out
    dead = np.arange(CHAINS) % 9 == 0
    levels = jnp.asarray(CHI_QUANTILES, jnp.float32)
    device = jax.jit(readout_bands.profile_quantiles)(jnp.asarray(value), jnp.asarray(dead), levels)
    whole = jnp.moveaxis(jnp.nanquantile(jnp.where(jnp.asarray(dead)[:, None], jnp.nan, value), levels, axis=0), 0, -1)
    assert device.shape == (length, len(CHI_QUANTILES))
    np.testing.assert_array_equal(device, whole)
    kept = ~dead & np.isfinite(value).all(axis=1)
    host = paper_metrics.profile_quantiles(jnp.asarray(value), kept)
    np.testing.assert_array_equal(host, np.quantile(value.astype(np.float64)[kept], paper_metrics.LEVELS, axis=0).T)
    assert readout_bands.width(length) == (16 if length == 256 else 10)
