"""A readout's quantiles over chains with its profile evaluated a block of indices at a time (readout_bands
on the device, paper_metrics on the host) are bit for bit those of the whole readout at once, dead and
non-finite chains left out, for a length that COLUMNS divides (256, Fig. 5's fitted curve) and one it
does not (40)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from langevin_ib.dynamics import readout_bands, sharding
from langevin_ib.dynamics.kernel import CHI_QUANTILES
from langevin_ib.experiment import paper_metrics

CHAINS = 302  # split over the 2 devices, 151 each: two batches of 64 and a part


def readout_of(p):
    return {"profile": jnp.cos(p["x"]) * p["x"][0], "metric": jnp.sum(p["x"] ** 2)}


@pytest.mark.parametrize("length", [256, 40])
def test_readout_quantiles_in_blocks_are_the_whole_readouts(length):
    rng = np.random.default_rng(length)
    x = rng.standard_normal((CHAINS, length)).astype(np.float32)
    x[5, 3] = np.nan  # a non-finite chain: the host readout leaves it out
    position = jax.device_put({"x": x}, sharding.chain_shardings(CHAINS)[0])
    dead = np.arange(CHAINS) % 9 == 0
    levels = jnp.asarray(CHI_QUANTILES, jnp.float32)
    whole = jax.vmap(readout_of)(position)
    (n, columns), = readout_bands.profiles_of(readout_of, position).values()
    device = jax.jit(lambda d: readout_bands.profile_quantiles(columns, n, d, levels))(jnp.asarray(dead))
    reference = jnp.nanquantile(jnp.where(jnp.asarray(dead)[:, None], jnp.nan, whole["profile"]), levels, axis=0).T
    assert n == length and device.shape == (length, len(CHI_QUANTILES))
    np.testing.assert_array_equal(device, reference)
    np.testing.assert_array_equal(readout_bands.metrics_of(readout_of, position)["metric"], whole["metric"])
    host = paper_metrics.profile_quantiles(n, columns, ~dead)
    kept = ~dead & np.isfinite(np.asarray(whole["profile"])).all(axis=1)
    assert kept.sum() == (~dead).sum() - 1
    np.testing.assert_array_equal(host, np.quantile(np.asarray(whole["profile"], np.float64)[kept], paper_metrics.LEVELS, axis=0).T)
    assert readout_bands.width(length) == (16 if length == 256 else 10)
