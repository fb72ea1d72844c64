"""accumulators.finalize: the per-chain moments (and each chain's trend) reduced to groups a block of chains at a time, read
from each device's shard, give bit for bit the one-pass reduction over every chain (np.bincount in
chain order), for a point of a grid, a chain count that is no multiple of the block and groups."""

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from langevin_ib.dynamics import accumulators, sharding

POINTS, CHAINS, GROUPS, COPIES = 2, 2 * (3 * 64 + 5), 7, 3


def test_finalize_in_blocks_is_the_one_pass_reduction(monkeypatch):
    monkeypatch.setattr(accumulators, "BLOCK", 64)  # 3 whole blocks and a part on each of the 2 devices
    rng = np.random.default_rng(0)
    # float64 over 16 decades: a sum in another order (e.g. per block, then the blocks) differs in its last bits
    sums = rng.normal(size=(POINTS, CHAINS, 4, COPIES)) * 10 ** rng.uniform(-8, 8, size=(POINTS, CHAINS, 4, COPIES))
    observed = rng.integers(0, 50, size=(POINTS, CHAINS)).astype(np.int32)
    counts = rng.integers(0, 9, size=(POINTS, 2, 2, GROUPS, 12)).astype(np.int32)
    mesh = sharding.chain_shardings(CHAINS)[0].mesh
    split = NamedSharding(mesh, PartitionSpec(None, "chains"))
    with jax.enable_x64(True):  # float64 sums, as a float64 run's
        acc = accumulators.Accumulators({"x": jax.device_put(counts, split)}, None, jax.device_put(observed, split),
                                        {"x": jax.device_put(sums, split)})
    assert len(acc.observed.addressable_shards) == 2
    group = np.arange(CHAINS) % GROUPS
    for point in range(POINTS):
        result = accumulators.finalize(acc, GROUPS, point)
        columns = [observed[point].astype(np.float64) * COPIES,
                   *(sums[point, :, j, :].astype(np.float64).sum(axis=1) for j in (0, 1))]
        expected = np.stack([np.bincount(group, c, GROUPS) for c in columns], axis=1)
        np.testing.assert_array_equal(result.moments["x"], expected)
        assert result.moments["x"].tobytes() == expected.tobytes()
        np.testing.assert_array_equal(result.counts["x"], counts[point].sum(axis=(0, 1)))
        np.testing.assert_array_equal(result.early_counts["x"], counts[point].sum(axis=0)[0])
        trend = np.stack([sums[point, :, j + 2, :].sum(axis=1) - (observed[point] - 1) / 2 * columns[j + 1]
                          for j in (0, 1)], axis=1)  # Σ(k − k̄)(x, x²); chains short of the most observations NaN
        complete = observed[point] == observed[point].max()
        np.testing.assert_array_equal(result.trends["x"][complete], trend[complete])
        assert np.isnan(result.trends["x"][~complete]).all()
    blocked = sum(np.bincount(group[a:a + 64], columns[1][a:a + 64], GROUPS) for a in range(0, CHAINS, 64))
    assert not np.array_equal(blocked, expected[:, 1])  # the check can fail: the order matters for these sums
