"""Teacher–student regression for a Flax network whose parameters the engine keeps as a named pytree.

Gaussian inputs of ``input_shape`` and the labels of a random ``teacher`` (initialised from
``data_seed``) plus Gaussian label noise are drawn once on the host; L = ½·mean((f(x) − y)²).
``to_flax``/``from_flax`` convert between the engine's pytree and the module's variables. A positive
``teacher_scale`` (``init_scale``) replaces Flax's initialiser of the teacher (the student) by i.i.d.
N(0, scale²) entries, as in the paper's Experimental Setup (docs/paper.md).

Data: the finite set {(x_i, y_i)}, ℓ = ½·mean over the output's entries of (f(x_i) − y_i)², whose
mean is L exactly; or, with ``fresh``, a generator of fresh x ~ N(0, I) and teacher labels plus noise
(the paper's Experimental Setup), whose expectation, the population loss, L only estimates from its
n samples (no closed form: ``offset`` is None).
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.models.data import Data, blocked_gradient
from langevin_ib.numerics import fused_random


def regression(network: nn.Module, teacher: nn.Module, input_shape: tuple[int, ...], label_noise: float,
               data_seed: int, to_flax: Callable, from_flax: Callable, dtype,
               fresh: bool = False, teacher_scale: float = 0.0,
               init_scale: float = 0.0, teacher_map: Callable | None = None,
               block: int = 1) -> tuple[Callable, Callable, Callable, Data]:
    """(init(key) -> params, loss(params) -> scalar, gradient(params) -> ∇loss, data) for ``network``
    fitted to ``teacher``'s labels; the gradient sums the finite set's in blocks of ``block`` examples
    (:func:`langevin_ib.models.data.blocked_gradient`); ``teacher_map(variables, rng)``, if given,
    transforms the teacher's variables (drawing from ``rng``)."""
    rng = np.random.default_rng(data_seed)
    inputs = rng.standard_normal(input_shape)
    teacher_params = teacher.init(jax.random.key(data_seed), jnp.zeros((1, *input_shape[1:])))
    if teacher_scale > 0:
        teacher_params = jax.tree.map(lambda x: teacher_scale * rng.standard_normal(x.shape), teacher_params)
    if teacher_map is not None:
        teacher_params = teacher_map(teacher_params, rng)
    clean = np.asarray(teacher.apply(teacher_params, inputs))
    labels = clean + label_noise * rng.standard_normal(clean.shape)
    inputs, labels = jnp.asarray(inputs, dtype), jnp.asarray(labels, dtype)

    def init(key: jax.Array) -> dict:
        params = from_flax(network.init(key, inputs[:1]))
        if init_scale > 0:
            leaves, treedef = jax.tree.flatten(params)
            keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
            params = jax.tree.unflatten(treedef, [init_scale * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])
        return jax.tree.map(lambda x: x.astype(dtype), params)

    def loss(params: dict) -> jax.Array:
        return 0.5 * jnp.mean((network.apply(to_flax(params), inputs) - labels) ** 2)

    def example_loss(params: dict, example: dict) -> jax.Array:
        return 0.5 * jnp.mean((network.apply(to_flax(params), example["x"]) - example["y"]) ** 2)

    teacher_cast = jax.tree.map(lambda x: jnp.asarray(x, dtype), teacher_params)

    def draw(key: jax.Array, batch_size: int) -> dict:
        kx, ke = jax.random.split(key)
        x = fused_random.normal(kx, (batch_size, *input_shape[1:]), dtype)
        y = teacher.apply(teacher_cast, x)
        return {"x": x, "y": y + label_noise * fused_random.normal(ke, y.shape, dtype)}

    data = Data(example_loss, draw=draw, offset=None) if fresh else Data(example_loss, {"x": inputs, "y": labels})
    return init, loss, blocked_gradient(example_loss, {"x": inputs, "y": labels}, block), data
