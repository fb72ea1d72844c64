"""Streaming estimators accumulated on device: fixed-edge histograms, a joint (q, χ) histogram and
running moments, each kept separately for G independent groups of chains.

Chain c belongs to group c mod G. Because groups are independent and identically distributed,
the spread of a cell's count across groups measures its true variance, autocorrelation included;
:mod:`langevin_ib.statistics.goodness_of_fit` uses it for the Rao–Scott correction. Memory is
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
    """The result, per group: counts[name]: (G, bins + 2) with underflow in column 0 and overflow in
    the last column; joint: (G, bins_q, bins_χ), both coordinates in range; moments[name]: (G, 3) =
    (n, Σx, Σx²)."""

    counts: dict
    joint: np.ndarray | None
    moments: dict


class Accumulators(NamedTuple):
    """The streaming state: integer counts per group (replicated over devices) and, per chain, the
    observation count and the sums Σx, Σx² of every observable (split over devices with the chains).
    Per-chain sums add in the same order whatever the chunking or device count, and
    :func:`finalize` reduces them to groups on the host, so the moments are bitwise reproducible."""

    counts: dict
    joint: jax.Array | None
    observed: jax.Array  # (chains,) int32
    sums: dict  # name -> (chains, 2, m): Σx, Σx² of each of the m copies


def bin_index(values: jax.Array, binning: Binning) -> jax.Array:
    """Index in [0, bins + 1]: 0 is underflow, bins + 1 overflow, i + 1 the bin [e_i, e_{i+1})."""
    scaled = (values - binning.low) * (binning.bins / (binning.high - binning.low))
    return jnp.clip(jnp.floor(scaled), -1, binning.bins).astype(jnp.int32) + 1


def empty(binnings: dict[str, Binning], joint: tuple[str, str] | None, groups: int,
          observations: dict[str, jax.ShapeDtypeStruct]) -> Accumulators:
    """Zero accumulators; ``observations[name]`` is the (chains, m) shape and dtype of one observation."""
    counts = {name: jnp.zeros((groups, b.bins + 2), jnp.int32) for name, b in binnings.items()}
    joint_counts = None
    if joint is not None:
        q, chi = joint
        joint_counts = jnp.zeros((groups, binnings[q].bins, binnings[chi].bins), jnp.int32)
    chains = next(iter(observations.values())).shape[0]
    sums = {name: jnp.zeros((o.shape[0], 2, o.shape[1]), o.dtype) for name, o in observations.items() if name in binnings}
    return Accumulators(counts, joint_counts, jnp.zeros(chains, jnp.int32), sums)


def accumulate(
    acc: Accumulators,
    observations: dict[str, jax.Array],
    alive: jax.Array,
    group: jax.Array,
    binnings: dict[str, Binning],
    joint: tuple[str, str] | None,
) -> Accumulators:
    """Add one observation of every alive chain. observations[name] has shape (chains, m)."""
    copies = next(iter(observations.values())).shape[1]
    weight = jnp.repeat(alive.astype(jnp.int32), copies)
    groups = jnp.repeat(group, copies)
    counts, indices, sums = {}, {}, {}
    for name, binning in binnings.items():
        values = observations[name]
        indices[name] = bin_index(values.reshape(-1), binning)
        counts[name] = acc.counts[name].at[groups, indices[name]].add(weight)
        x = jnp.where(alive[:, None], values, 0)
        sums[name] = acc.sums[name] + jnp.stack([x, x * x], axis=1)
    joint_counts = acc.joint
    if joint is not None:
        q, chi = joint
        iq, ic = indices[q] - 1, indices[chi] - 1
        inside = (iq >= 0) & (iq < binnings[q].bins) & (ic >= 0) & (ic < binnings[chi].bins)
        joint_counts = joint_counts.at[groups, jnp.clip(iq, 0, binnings[q].bins - 1),
                                       jnp.clip(ic, 0, binnings[chi].bins - 1)].add(weight * inside)
    return Accumulators(counts, joint_counts, acc.observed + alive.astype(jnp.int32), sums)


def finalize(acc: Accumulators, groups: int) -> Histograms:
    """Fetch to the host and reduce the per-chain moments to groups (chain c in group c mod G), in float64."""
    group = np.arange(acc.observed.shape[0]) % groups
    observed = np.asarray(acc.observed, np.float64)
    moments = {}
    for name, chain_sums in acc.sums.items():
        chain_sums = np.asarray(chain_sums, np.float64).sum(axis=2)  # over the m copies
        copies = acc.sums[name].shape[2]
        moments[name] = np.stack([
            np.bincount(group, observed * copies, groups),
            np.bincount(group, chain_sums[:, 0], groups),
            np.bincount(group, chain_sums[:, 1], groups),
        ], axis=1)
    joint = None if acc.joint is None else np.asarray(acc.joint)
    return Histograms({name: np.asarray(c) for name, c in acc.counts.items()}, joint, moments)
