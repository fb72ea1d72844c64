"""The rescaling symmetry of the whole zoo: copies of k factors f_1, …, f_k (f_a ∈ R^{p_a}) with
f_a ↦ e^{t_a − t_{a−1}} f_a, t_0 = t_k = 0, which preserves the product f_1 ⊗ ⋯ ⊗ f_k (docs/theory.md §2).
A pair (k = 2: u⊙v, UVᵀ columns, ReLU neurons, attention Q/K columns) is scaled by (e^{a}, e^{−a});
the deep scalar factorisation is a chain of k scalars."""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from langevin_ib.models.base import GroupAction


class RescalingChain(NamedTuple):
    """``factors(params)``: k arrays (copies, p_a), the factors of every copy; ``scale(params,
    scales)``: params with factor a of copy j multiplied by scales[a, j]; ``observable``: the name
    under which the model observes the strength s = Π_a |f_a|, or, if ``signed`` (scalar factors),
    the product itself; ``balance``: for a pair, the name under which it observes the balance ratio
    |f_2|/|f_1| (an orbit coordinate, :mod:`langevin_ib.predictions.rescaling.balance`), or None; ``with_factors(params,
    factors)``: params with the factors replaced (the inverse of ``factors``), where given."""

    factors: Callable[[dict], tuple]
    scale: Callable[[dict, jax.Array], dict]
    depth: int
    copies: int
    observable: str = "strength"
    signed: bool = False
    balance: str | None = None
    with_factors: Callable[[dict, tuple], dict] | None = None


def action(chain: RescalingChain) -> GroupAction:
    """a ∈ R^{(k−1)·copies} ↦ scales e^{t_a − t_{a−1}} with t = (0, a, 0) along the chain."""

    def act(a: jax.Array, params: dict) -> dict:
        boundary = jnp.zeros((1, chain.copies), a.dtype)
        cumulative = jnp.concatenate([boundary, a.reshape(chain.depth - 1, chain.copies), boundary])
        return chain.scale(params, jnp.exp(cumulative[1:] - cumulative[:-1]))

    return GroupAction(act, (chain.depth - 1) * chain.copies)


def _along(factors: jax.Array, ndim: int, axis: int) -> jax.Array:
    shape = [1] * ndim
    shape[axis] = -1
    return factors.reshape(shape)


def pair(up: str, down: str, copies: int, up_axis: int = -1, down_axis: int = -1, observable: str = "strength",
         signed: bool = False, balance: str | None = None) -> RescalingChain:
    """params[up] and params[down] scaled by e^{a_j} and e^{−a_j}, copy j indexed along the given axes;
    ``balance`` names the observable |down_j|/|up_j|, if the model histograms it."""

    def factors(params: dict) -> tuple:
        take = lambda name, axis: jnp.moveaxis(params[name], axis, 0).reshape(copies, -1)
        return take(up, up_axis), take(down, down_axis)

    def scale(params: dict, scales: jax.Array) -> dict:
        scaled = dict(params)
        scaled[up] = params[up] * _along(scales[0], params[up].ndim, up_axis)
        scaled[down] = params[down] * _along(scales[1], params[down].ndim, down_axis)
        return scaled

    def with_factors(params: dict, new: tuple) -> dict:
        replaced = dict(params)
        for name, axis, f in ((up, up_axis, new[0]), (down, down_axis, new[1])):
            moved = jnp.moveaxis(params[name], axis, 0)
            replaced[name] = jnp.moveaxis(f.reshape(moved.shape), 0, axis)
        return replaced

    return RescalingChain(factors, scale, 2, copies, observable, signed, balance, with_factors)


def declare(chain: RescalingChain) -> dict:
    """The Model fields of a rescaling symmetry: its group action and the chain itself."""
    return {"group": action(chain), "chain": chain}


def strengths(chain: RescalingChain, params: dict) -> tuple[jax.Array, jax.Array]:
    """(s = Π_a |f_a|, the sign of a product of scalar factors or +1) per copy."""
    factors = chain.factors(params)
    strength = jnp.prod(jnp.stack([jnp.linalg.norm(f, axis=1) for f in factors]), axis=0)
    sign = jnp.prod(jnp.stack([jnp.sign(f[:, 0]) for f in factors]), axis=0) if chain.signed else jnp.ones_like(strength)
    return strength, sign


def factor_dims(model, source: str = "chain") -> tuple[int, ...]:
    """p_a, the length of one copy of each factor of the model's rescaling pair or chain (``source``:
    ``chain``, or ``modes`` for the singular modes of a GL(r) model), read from shapes alone."""
    factors = getattr(model, source).factors
    return tuple(int(f.shape[1]) for f in jax.eval_shape(factors, jax.eval_shape(model.init, jax.random.key(0))))
