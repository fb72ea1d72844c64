"""Standard normal draws from JAX's Threefry hash, two per hash, computed in one XLA:CPU loop.

Entry i (flat, row-major) of a float32 draw is z_i = √2·erf⁻¹(u_i), u_i = max(lo, f·(1 − lo) + lo),
lo = nextafter(−1, 0), f = 1.m − 1 ∈ [0, 1) with m the top 23 bits of word i mod 2 of (h₀, h₁) =
Threefry-2x32₂₀(key; counter (0, ⌊i/2⌋)) (Salmon et al. 2011): ``jax.random.normal``'s map from
bits to normals, fed with both words of each hash where JAX's partitionable mode xors them into one.
Entry i depends on the key and i alone, so a chain's draws do not depend on the chain count, the
chunking or the devices.

Why not ``jax.random.normal``: on CPU JAX lowers the hash to a rolled 5-iteration while loop, and
XLA fuses the cheap tail of erf⁻¹ (and the bit manipulation before it) into every consumer, once per
element the consumer reads: a network's first layer reads each input once per hidden unit. Here the
hash, erf⁻¹ and the interleaving of the two words form one fusion whose root, a concatenate, XLA:CPU
materialises instead of duplicating (seen in the compiled HLO of the SGD step): the ReLU
teacher–student's SGD step went from 1.6 to 0.48 µs of CPU per chain-step (docs/engineering.md,
"Minibatch SGD"). Other PRNG implementations, other dtypes and 2³³ entries or more fall back to
``jax.random.normal`` (other numbers).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
PARITY = 0x1BD11BDA  # Threefry's key-schedule constant


def threefry2x32(key: tuple[jax.Array, jax.Array], x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32 with 20 rounds of the uint32 counters (x0, x1) under the key words (k0, k1)."""
    k0, k1 = key
    schedule = (k0, k1, k0 ^ k1 ^ np.uint32(PARITY))
    x0, x1 = x0 + schedule[0], x1 + schedule[1]
    for block in range(5):
        for rotation in ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = ((x1 << np.uint32(rotation)) | (x1 >> np.uint32(32 - rotation))) ^ x0
        x0 = x0 + schedule[(block + 1) % 3]
        x1 = x1 + schedule[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def to_normal(bits: jax.Array) -> jax.Array:
    """float32 N(0, 1) from uint32 words, as ``jax.random.normal`` maps its bits."""
    unit = jax.lax.bitcast_convert_type((bits >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32) - np.float32(1)
    lo = np.nextafter(np.float32(-1), np.float32(0))
    return np.float32(np.sqrt(2)) * jax.lax.erf_inv(jnp.maximum(lo, unit * (np.float32(1) - lo) + lo))


def normal(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """Independent standard normal draws of ``shape`` (module docstring)."""
    shape, size = tuple(shape), math.prod(shape)
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    if not (typed and str(jax.random.key_impl(key)) == "threefry2x32" and key.shape == ()
            and jnp.dtype(dtype) == jnp.float32 and 0 < size < 2**33):
        return jax.random.normal(key, shape, dtype)
    words = jax.random.key_data(key)
    pairs = jax.lax.iota(jnp.uint32, (size + 1) // 2)
    h0, h1 = threefry2x32((words[0], words[1]), jnp.zeros_like(pairs), pairs)
    return jnp.stack([to_normal(h0), to_normal(h1)], axis=-1).reshape(-1)[:size].reshape(shape)
