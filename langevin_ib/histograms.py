"""Streaming estimators accumulated on device: fixed-edge histograms, a joint (q, χ) histogram and
running moments, each kept separately for G independent groups of chains.

Chain c belongs to group c mod G. Because groups are independent and identically distributed,
the spread of a cell's count across groups measures its true variance, autocorrelation included;
:mod:`langevin_ib.goodness_of_fit` uses it for the Rao–Scott correction. Memory is
O(G × bins), independent of the number of steps.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Binning(NamedTuple):
    low: float
    high: float
    bins: int

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.low, self.high, self.bins + 1)


class Histograms(NamedTuple):
    """counts[name]: (G, bins + 2) with underflow in column 0 and overflow in the last column;
    joint: (G, bins_q, bins_χ), both coordinates in range; moments[name]: (G, 3) = (n, Σx, Σx²)."""

    counts: dict
    joint: jax.Array | None
    moments: dict


def bin_index(values: jax.Array, binning: Binning) -> jax.Array:
    """Index in [0, bins + 1]: 0 is underflow, bins + 1 overflow, i + 1 the bin [e_i, e_{i+1})."""
    scaled = (values - binning.low) * (binning.bins / (binning.high - binning.low))
    return jnp.clip(jnp.floor(scaled), -1, binning.bins).astype(jnp.int32) + 1


def empty(binnings: dict[str, Binning], joint: tuple[str, str] | None, groups: int, dtype) -> Histograms:
    counts = {name: jnp.zeros((groups, b.bins + 2), jnp.int32) for name, b in binnings.items()}
    joint_counts = None
    if joint is not None:
        q, chi = joint
        joint_counts = jnp.zeros((groups, binnings[q].bins, binnings[chi].bins), jnp.int32)
    moments = {name: jnp.zeros((groups, 3), dtype) for name in binnings}
    return Histograms(counts, joint_counts, moments)


def accumulate(
    hist: Histograms,
    observations: dict[str, jax.Array],
    alive: jax.Array,
    group: jax.Array,
    binnings: dict[str, Binning],
    joint: tuple[str, str] | None,
) -> Histograms:
    """Add one observation of every alive chain. observations[name] has shape (chains, m)."""
    copies = next(iter(observations.values())).shape[1]
    weight = jnp.repeat(alive.astype(jnp.int32), copies)
    groups = jnp.repeat(group, copies)
    counts, indices, moments = {}, {}, {}
    for name, binning in binnings.items():
        values = observations[name].reshape(-1)
        indices[name] = bin_index(values, binning)
        counts[name] = hist.counts[name].at[groups, indices[name]].add(weight)
        w = weight.astype(values.dtype)
        x = jnp.where(weight > 0, values, 0)
        per_group = jax.ops.segment_sum(jnp.stack([w, w * x, w * x * x], axis=1), groups, hist.moments[name].shape[0])
        moments[name] = hist.moments[name] + per_group
    joint_counts = hist.joint
    if joint is not None:
        q, chi = joint
        iq, ic = indices[q] - 1, indices[chi] - 1
        inside = (iq >= 0) & (iq < binnings[q].bins) & (ic >= 0) & (ic < binnings[chi].bins)
        joint_counts = joint_counts.at[groups, jnp.clip(iq, 0, binnings[q].bins - 1),
                                       jnp.clip(ic, 0, binnings[chi].bins - 1)].add(weight * inside)
    return Histograms(counts, joint_counts, moments)
