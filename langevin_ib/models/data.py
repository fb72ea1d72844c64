"""Data sources of a model: the per-example loss ℓ(θ, z) and where the examples z come from.

A model whose loss is an average over data declares ``Model.data = Data(example_loss, ...)`` with
either a fixed finite training set ``examples`` (a pytree of arrays with a leading example axis,
built once from the model's config and ``data_seed``) or a generator ``draw(key, batch) -> examples``
of fresh ones. The full-batch ``Model.loss`` that Langevin samples is unchanged by declaring data:

    L(θ) = mean_i ℓ(θ, z_i) − offset      (finite set)
    L(θ) = E_z ℓ(θ, z) − offset           (generator)

``offset`` is a θ-independent constant (the label-noise floor, e.g. σ²/2 per copy for u·v), so
gradients, and hence every dynamics, agree. Minibatch SGD (:mod:`langevin_ib.dynamics.integrators.sgd`)
samples a finite set without replacement, and a generator afresh each step: one ``draw(key, C·B)``
for all C chains, chain c taking examples cB…cB + B − 1. So example i of ``draw(key, n)`` must
depend on the key and i alone, as entrywise draws with the example axis first do
(:func:`langevin_ib.numerics.fused_random.normal`, and ``jax.random``'s under partitionable threefry).
"""

from __future__ import annotations

import functools
import operator

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from langevin_ib.models.fields import Field, non_negative, positive
from langevin_ib.numerics import fused_random

Params = Any
Examples = Any


class Data(NamedTuple):
    """``example_loss(params, example) -> scalar``; exactly one of ``examples`` (finite set) and
    ``draw(key, batch_size) -> examples`` (generator); ``offset`` = E ℓ − L (a constant), or None
    where ``loss`` is not the generator's expectation (a teacher–student's fresh data: ``loss`` is then
    the mean over its finite set, an n-sample estimate of E ℓ)."""

    example_loss: Callable[[Params, Any], jax.Array]
    examples: Examples | None = None
    draw: Callable[[jax.Array, int], Examples] | None = None
    offset: float | None = 0.0

    @property
    def size(self) -> int | None:
        """n, the number of examples of a finite set (None for a generator)."""
        return None if self.examples is None else jax.tree.leaves(self.examples)[0].shape[0]

    def sample(self, key: jax.Array, batch_size: int | None) -> Examples:
        """A minibatch: B examples without replacement from the finite set (all of them, in order,
        when ``batch_size`` is None or ≥ n: full-batch GD), or B fresh draws of the generator."""
        if self.examples is None:
            if batch_size is None:
                raise ValueError("Data.sample: a generator needs a batch_size (there is no full batch)")
            return self.draw(key, batch_size)
        if batch_size is None or batch_size >= self.size:
            return self.examples
        index = jax.random.choice(key, self.size, (batch_size,), replace=False)
        return jax.tree.map(lambda x: x[index], self.examples)

    def batch_loss(self, params: Params, examples: Examples) -> jax.Array:
        """The mean per-example loss over ``examples`` (leading axis)."""
        return example_order_mean(jax.vmap(self.example_loss, in_axes=(None, 0))(params, examples))

    def batch_loss_and_gradient(self, params: Params, examples: Examples) -> tuple[jax.Array, Params]:
        """(mean ℓ, mean ∇ℓ) over ``examples`` (leading axis), the per-example terms added in example
        order: the gradient of :meth:`batch_loss` would sum them in a reduction whose order XLA picks
        by the array's layout, which differs between a run and the same run as a point of a grid (a
        vmapped points axis); the explicit order keeps a sweep point bitwise the run alone (docs/sweeps.md)."""
        losses, gradients = jax.vmap(jax.value_and_grad(self.example_loss), in_axes=(None, 0))(params, examples)
        return example_order_mean(losses), jax.tree.map(example_order_mean, gradients)

    def masked_loss_and_gradient(self, params: Params, examples: Examples, mask: jax.Array) -> tuple[jax.Array, Params]:
        """(mean ℓ, mean ∇ℓ) over the examples where ``mask`` (n,) is true (a Bernoulli minibatch), in
        example order; zero for an empty mask."""
        losses, gradients = jax.vmap(jax.value_and_grad(self.example_loss), in_axes=(None, 0))(params, examples)
        weights = mask.astype(losses.dtype)
        count = jnp.maximum(example_order_mean(weights) * weights.shape[0], 1.0)
        weighted = lambda x: example_order_mean(x * weights.reshape((-1,) + (1,) * (x.ndim - 1))) * x.shape[0] / count
        return weighted(losses), jax.tree.map(weighted, gradients)


def example_order_mean(x: jax.Array) -> jax.Array:
    """(x₀ + x₁ + … + x_{n−1})/n over the leading axis, added in that order."""
    return functools.reduce(operator.add, [x[i] for i in range(x.shape[0])]) / x.shape[0]


def blocked_gradient(mean_loss: Callable[[Params, Examples], jax.Array], examples: Examples,
                     block: int) -> Callable[[Params], Params]:
    """θ ↦ ∇ mean_i ℓ(θ, z_i) over the n ``examples`` (leading axis) as Σ_b (|b|/n)·∇ mean_{i∈b} ℓ(θ, z_i)
    over consecutive blocks b of ``block`` examples (the largest divisor of n not above it), added in a
    scan: vmapped over chains, the temporaries are one block's activations per chain, not the whole
    set's (docs/engineering.md, "Issue 33: benchmarks and memory"). ``mean_loss(params, batch)`` is the
    mean loss over a batch whose examples all weigh alike (each the same number of output entries)."""
    n = jax.tree.leaves(examples)[0].shape[0]
    size = max(d for d in range(1, min(block, n) + 1) if n % d == 0)
    blocks = jax.tree.map(lambda x: x.reshape(n // size, size, *x.shape[1:]), examples)
    grad = jax.grad(lambda params, batch: mean_loss(params, batch) * (size / n))

    def gradient(params: Params) -> Params:
        add = lambda total, batch: (jax.tree.map(jnp.add, total, grad(params, batch)), None)
        return jax.lax.scan(add, jax.tree.map(jnp.zeros_like, params), blocks)[0]

    return gradient


def check(data: Data) -> Data:
    """``data`` unchanged, or a ValueError saying which of its sources is wrong."""
    if (data.examples is None) == (data.draw is None):
        raise ValueError("Data: give exactly one of examples (a finite training set) and draw (a generator)")
    return data


SCALAR_REGRESSION_FIELDS = {
    "target": Field(float, 1.0, "the target θ* (a float)"),
    "copies": positive(int, 1),
    "init_noise": non_negative(float, 0.0),
    "label_noise": non_negative(float, 0.0),
}  # the config fields of a product of scalar factors fitted to θ* (u·v, the deep scalar chain)


def scalar_regression(product: Callable[[Params], jax.Array], target: float, copies: int, label_noise: float,
                      dtype) -> Data:
    """Fresh y = θ*·x + σε, x, ε ~ N(0, 1) per copy, ℓ = ½Σ_i(θ_i x_i − y_i)² with θ = ``product(params)``:
    E ℓ = ½Σ_i(θ_i − θ*)² + mσ²/2, so offset = mσ²/2 over the models' L = ½Σ(θ − θ*)²."""

    def example_loss(params: Params, example: dict) -> jax.Array:
        return 0.5 * jnp.sum((product(params) * example["x"] - example["y"]) ** 2)

    def draw(key: jax.Array, batch_size: int) -> dict:
        kx, ke = jax.random.split(key)
        x = fused_random.normal(kx, (batch_size, copies), dtype)
        return {"x": x, "y": target * x + label_noise * fused_random.normal(ke, (batch_size, copies), dtype)}

    return Data(example_loss, draw=draw, offset=0.5 * copies * label_noise**2)
