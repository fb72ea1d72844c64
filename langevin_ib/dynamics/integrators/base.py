"""The integrator protocol: a factory closes over the hyperparameters and returns pure functions.

``init(key, position) -> state`` and ``step(key, state) -> state`` act on the whole ensemble: every
leaf of ``position`` has a leading chain axis and ``gradient`` is the per-chain gradient vmapped
over it. The key is always the first argument and is never stored in the state; the noise of all
chains comes from one draw per step, so with JAX's partitionable threefry a chain's noise depends
on its index alone, not on how the chain axis is chunked or sharded.
``weak_order`` is the order p of the invariant-measure error O(step_size^p), which tests read.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

Params = Any
PotentialGradient = Callable[[Params], Params]


class Integrator(NamedTuple):
    init: Callable[[jax.Array, Params], Any]
    step: Callable[[jax.Array, Any], Any]
    position: Callable[[Any], Params]
    weak_order: int


def gaussian_like(key: jax.Array, tree: Params) -> Params:
    """Independent standard normal noise with the structure and dtypes of ``tree``, one draw per leaf."""
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        treedef, [jax.random.normal(k, leaf.shape, leaf.dtype) for k, leaf in zip(keys, leaves)]
    )
