"""Teacher–student regression for a Flax network whose parameters the engine keeps as a named pytree.

Gaussian inputs of ``input_shape`` and the labels of a random ``teacher`` (initialised from
``data_seed``) plus Gaussian label noise are drawn once on the host; L = ½·mean((f(x) − y)²).
``to_flax``/``from_flax`` convert between the engine's pytree and the module's variables.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def regression(network: nn.Module, teacher: nn.Module, input_shape: tuple[int, ...], label_noise: float,
               data_seed: int, to_flax: Callable, from_flax: Callable, dtype) -> tuple[Callable, Callable]:
    """(init(key) -> params, loss(params) -> scalar) for ``network`` fitted to ``teacher``'s labels."""
    rng = np.random.default_rng(data_seed)
    inputs = rng.standard_normal(input_shape)
    teacher_params = teacher.init(jax.random.key(data_seed), jnp.zeros((1, *input_shape[1:])))
    clean = np.asarray(teacher.apply(teacher_params, inputs))
    labels = clean + label_noise * rng.standard_normal(clean.shape)
    inputs, labels = jnp.asarray(inputs, dtype), jnp.asarray(labels, dtype)

    def init(key: jax.Array) -> dict:
        return jax.tree.map(lambda x: x.astype(dtype), from_flax(network.init(key, inputs[:1])))

    def loss(params: dict) -> jax.Array:
        return 0.5 * jnp.mean((network.apply(to_flax(params), inputs) - labels) ** 2)

    return init, loss
