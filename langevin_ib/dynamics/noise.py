"""The integrators' noise ξ: Gaussian, or a discrete law with the same low moments and fewer random bits.

A weak-order-p scheme needs of ξ only its moments through some order, not its law (Kloeden & Platen
1992, §14.1–14.2): Euler–Maruyama's invariant-measure error O(η) needs E ξ = E ξ³ = 0, E ξ² = 1;
Leimkuhler–Matthews' O(η²) needs the moments of N(0, 1) through the fifth (E ξ⁴ = 3). A Gaussian
costs one threefry word and an inverse error function per variable; the discrete laws cost a few
bits:

- ``two_point``: ξ = ±1 w.p. ½ each. One bit per variable, 32 variables per word. Moments exact
  through the third (E ξ⁴ = 1, not 3): weak order 1.
- ``three_point``: ξ = ±a w.p. p each, 0 otherwise, p = m/2¹⁶ with m = 10923 (the nearest to 2¹⁶/6)
  and a = (2p)^(−½) (≈ √3), so E ξ = E ξ³ = E ξ⁵ = 0 and E ξ² = 1 exactly; E ξ⁴ = 1/(2p) =
  2.999908, 9.2e-5 below 3 (relative 3.1e-5). Sixteen bits per variable, two variables per word.
  The fourth-moment error enters the invariant measure as O(δ·η) with δ = 9.2e-5, below the
  scheme's O(η²) term for η ≳ 1e-3 (docs/engineering.md, "Noise").

Every draw is one ``jax.random.bits`` draw per leaf for the whole ensemble, unpacked with shifts
and masks: variable j of chain c (flat index c·d + j in a leaf with d entries per chain) takes field
(c·d + j) mod F of word ⌊(c·d + j)/F⌋, F fields per word. With JAX's partitionable threefry a word
depends on the key and its index alone, so a chain's noise depends on the seed, the step and its
index, not on the number of chains, the chunking or the device count (tests/dynamics/test_noise.py).
Where a discrete law is wrong (short-time and path statistics): docs/engineering.md, "Noise".

The words and the Gaussian are ``jax.random.bits`` and ``jax.random.normal`` bit for bit (word i =
h₀ ^ h₁ of Threefry-2x32(key; counter (0, i)), 64-bit words h₀·2³² + h₁), with the hash written out
(:func:`langevin_ib.numerics.fused_random.threefry2x32`): JAX lowers it on CPU to a rolled while loop
that materialises the counters and both words of every variable (20 B per float32 variable, more
than the state), where the written-out hash fuses into the update that reads the noise (memory per
chain: docs/engineering.md, "Memory per chain"). Other PRNGs, JAX's non-partitionable mode and draws of 2³²
entries or more fall back to ``jax.random``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.numerics.fused_random import threefry2x32

Params = Any
Sampler = Callable[[jax.Array, Params], Params]  # (key, tree) -> noise with the tree's structure and dtypes

THREE_POINT_BITS = 16
THREE_POINT_COUNT = round(2**THREE_POINT_BITS / 6)  # m: P(ξ = a) = P(ξ = −a) = m / 2^16
THREE_POINT_PROBABILITY = THREE_POINT_COUNT / 2**THREE_POINT_BITS
THREE_POINT_VALUE = 1 / math.sqrt(2 * THREE_POINT_PROBABILITY)  # a: E ξ² = 2pa² = 1 exactly


def written_out(key: jax.Array, size: int) -> bool:
    """Whether a draw of ``size`` entries from ``key`` can use the written-out hash (module docstring)."""
    return (jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and str(jax.random.key_impl(key)) == "threefry2x32"
            and key.shape == () and jax.config.jax_threefry_partitionable and 0 < size < 2**32)


def hashes(key: jax.Array, shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """(h₀, h₁) = Threefry-2x32(key; counter (0, i)) for each flat index i of ``shape`` (< 2³² entries)."""
    words = jax.random.key_data(key)
    index = jax.lax.iota(jnp.uint32, math.prod(shape)).reshape(shape)
    return threefry2x32((words[0], words[1]), jnp.zeros_like(index), index)


def bits(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """uint32 words of ``shape``: ``jax.random.bits(key, shape, jnp.uint32)`` bit for bit."""
    if not written_out(key, math.prod(shape)):
        return jax.random.bits(key, shape, jnp.uint32)
    high, low = hashes(key, shape)
    return high ^ low


def normal(key: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    """N(0, 1) of ``shape`` and float ``dtype``: ``jax.random.normal(key, shape, dtype)`` bit for bit,
    z = √2·erf⁻¹(max(lo, f·(1 − lo) + lo)), lo = nextafter(−1, 0), f ∈ [0, 1) the top mantissa bits."""
    dtype = jnp.dtype(dtype)
    if dtype not in (jnp.float32, jnp.float64) or not written_out(key, math.prod(shape)):
        return jax.random.normal(key, shape, dtype)
    high, low = hashes(key, shape)
    finfo = jnp.finfo(dtype)
    word = np.dtype(f"uint{finfo.bits}")
    if finfo.bits == 64:
        raw = (high.astype(word) << word.type(32)) | low.astype(word)
    else:
        raw = high ^ low
    one = word.type(np.array(1.0, dtype).view(word))
    unit = jax.lax.bitcast_convert_type((raw >> word.type(finfo.bits - finfo.nmant)) | one, dtype) - dtype.type(1)
    lo = np.nextafter(dtype.type(-1), dtype.type(0))
    return dtype.type(np.sqrt(2)) * jax.lax.erf_inv(jnp.maximum(lo, unit * (dtype.type(1) - lo) + lo))


def gaussian(key: jax.Array, tree: Params) -> Params:
    """Independent standard normal noise with the structure and dtypes of ``tree``, one draw per leaf."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [normal(k, leaf.shape, leaf.dtype) for k, leaf in zip(keys, leaves)])


def bit_fields(key: jax.Array, shape: tuple[int, ...], width: int) -> jax.Array:
    """uint32 array of ``shape`` with independent uniform values in [0, 2^width), 32 // width per
    threefry word; entry i (flat, row-major) is field i mod F of word ⌊i/F⌋."""
    per_word = 32 // width
    size = math.prod(shape)
    words = bits(key, (-(-size // per_word),))
    shifts = jnp.arange(per_word, dtype=jnp.uint32) * jnp.uint32(width)
    fields = (words[:, None] >> shifts[None, :]) & jnp.uint32(2**width - 1 if width < 32 else 0xFFFFFFFF)
    return fields.reshape(-1)[:size].reshape(shape)


def per_leaf(draw: Callable[[jax.Array, jax.Array], jax.Array]) -> Sampler:
    """A sampler drawing ``draw(key, leaf)`` for each leaf from its own split of the key."""
    def sample(key: jax.Array, tree: Params) -> Params:
        leaves, treedef = jax.tree.flatten(tree)
        keys = jax.random.split(key, len(leaves))
        return jax.tree.unflatten(treedef, [draw(k, leaf) for k, leaf in zip(keys, leaves)])

    return sample


def _two_point(key: jax.Array, leaf: jax.Array) -> jax.Array:
    bit = bit_fields(key, leaf.shape, 1)
    return (1 - 2 * bit.astype(jnp.int32)).astype(leaf.dtype)


def _three_point(key: jax.Array, leaf: jax.Array) -> jax.Array:
    field = bit_fields(key, leaf.shape, THREE_POINT_BITS)
    m, a = jnp.uint32(THREE_POINT_COUNT), jnp.asarray(THREE_POINT_VALUE, leaf.dtype)
    return jnp.where(field < m, a, jnp.where(field < 2 * m, -a, jnp.zeros((), leaf.dtype)))


SAMPLERS: dict[str, Sampler] = {
    "gaussian": gaussian,
    "two_point": per_leaf(_two_point),
    "three_point": per_leaf(_three_point),
}
NAMES = tuple(SAMPLERS)
MATCHED_MOMENTS = {"gaussian": math.inf, "two_point": 3, "three_point": 5}  # moments of N(0, 1) matched exactly


def moments(name: str, orders=range(1, 7)) -> dict[int, float]:
    """Exact moments E ξ^k of the named law (float64; the Gaussian's are (k − 1)!! for even k)."""
    if name == "gaussian":
        return {k: 0.0 if k % 2 else float(np.prod(np.arange(k - 1, 0, -2))) for k in orders}
    if name == "two_point":
        return {k: 0.0 if k % 2 else 1.0 for k in orders}
    if name == "three_point":
        return {k: 0.0 if k % 2 else 2 * THREE_POINT_PROBABILITY * THREE_POINT_VALUE**k for k in orders}
    raise KeyError(name)


def lookup(name: str) -> Sampler:
    """The sampler called ``name`` (one of :data:`NAMES`)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown noise {name!r}: use one of {list(NAMES)}")
    return SAMPLERS[name]
