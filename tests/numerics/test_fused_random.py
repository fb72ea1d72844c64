"""langevin_ib.numerics.fused_random: JAX's Threefry hash bit for bit, normals that depend on the
key and their index alone, and their law.

- The hash equals jax.extend.random.threefry_2x32 on 64 counters, bitwise.
- Entry i of a draw does not depend on the draw's shape (prefixes of flat draws agree, odd and even
  sizes, under jit too): what makes a chain's minibatch independent of the chain count.
- Law: n = 2²⁰ draws; Kolmogorov–Smirnov against N(0, 1) at p ≥ 1e-3 (one test, so a false alarm
  is a 1-in-1000 event); the two words of a hash give independent draws: the correlation r of the
  2¹⁹ pairs has sd 2⁻⁹·⁵ under independence, |r|·√(2¹⁹) < 4.
"""

import jax
import jax.extend.random as jex_random
import jax.numpy as jnp
import numpy as np
from scipy import stats

from langevin_ib.numerics import fused_random


def test_hash_is_jax_threefry():
    key = jax.random.key(7)
    words = jax.random.key_data(key)
    counters = jnp.arange(32, dtype=jnp.uint32) * jnp.uint32(2654435761)
    high, low = jnp.flip(counters), counters
    ours = fused_random.threefry2x32((words[0], words[1]), high, low)
    theirs = jex_random.threefry_2x32(words, jnp.concatenate([high, low]))
    np.testing.assert_array_equal(np.concatenate(ours), theirs)


def test_entry_depends_on_key_and_index_only():
    key = jax.random.key(3)
    for small, large in [((5, 3), (7, 3)), ((4,), (9,)), ((1, 2), (6, 2))]:
        prefix = np.asarray(fused_random.normal(key, small)).ravel()
        whole = np.asarray(jax.jit(lambda k, s=large: fused_random.normal(k, s))(key)).ravel()
        np.testing.assert_array_equal(prefix, whole[:prefix.size])
    assert not np.array_equal(fused_random.normal(key, (4,)), fused_random.normal(jax.random.key(4), (4,)))


def test_law_is_standard_normal_with_independent_words():
    draws = np.asarray(fused_random.normal(jax.random.key(11), (2**20,)), np.float64)
    assert stats.kstest(draws, "norm").pvalue >= 1e-3
    pairs = draws.reshape(-1, 2)
    assert abs(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1]) * np.sqrt(len(pairs)) < 4


def test_other_dtypes_fall_back_to_jax():
    with jax.enable_x64(True):
        key = jax.random.key(5)
        np.testing.assert_array_equal(fused_random.normal(key, (6,), jnp.float64),
                                      jax.random.normal(key, (6,), jnp.float64))
