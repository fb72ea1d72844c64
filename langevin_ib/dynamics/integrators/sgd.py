"""Minibatch SGD on a model's data, with optional isotropic noise (SGLD), weight decay and any optax
update rule (momentum, Nesterov: ``functools.partial(optax.sgd, momentum=0.9, nesterov=True)``).

Per chain and step: B examples from ``model.data`` (without replacement from a finite set, fresh from a
generator; the full-batch ∇L when ``batch_size`` is None), g = ∇ mean ℓ_B + λθ, the optimizer's
update for learning rate η, then θ += √(2ηT)ξ. Plain SGD is w' = w − η g_B (+ SGLD noise); its
stationary laws are those of :mod:`langevin_ib.predictions.sgd_linear` and the χ drift of
:mod:`langevin_ib.predictions.chi_drift`. Chain i draws its minibatch and noise from
``fold_in(key, i)``, so its trajectory depends on the seed and its index only.

Provisional protocol (adapted when the integrator protocol is merged): ``init(key, position, hyper)``,
``step(key, state, hyper) -> (state, info)``, ``position(state)``, ``weak_order``; ``hyper`` holds
arrays, so a sweep or a schedule over them needs no rebuild; ``batch_size`` is static.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from langevin_ib.dynamics.integrators.base import Integrator, gaussian_like
from langevin_ib.models.base import Model

Params = Any


class Hyper(NamedTuple):
    temperature: jax.Array
    step_size: jax.Array
    weight_decay: jax.Array


class State(NamedTuple):
    position: Params  # every leaf with a leading chain axis
    optimizer: Any  # the optax state of every chain


class Info(NamedTuple):
    loss: jax.Array  # (chains,), the minibatch loss before the step


def build(model: Model, batch_size: int | None = None,
          optimizer: Callable[[jax.Array], optax.GradientTransformation] = optax.sgd) -> Integrator:
    """SGD/SGLD for ``model``.

    Args:
      model: with ``data`` (:class:`langevin_ib.models.data.Data`) unless ``batch_size`` is None.
      batch_size: B, static; None for the full-batch gradient ∇L (GD).
      optimizer: learning rate ↦ optax transformation, called with ``hyper.step_size`` at every step
        (its state must not depend on the rate, as for ``optax.sgd``).
    Returns:
      an Integrator whose ``step(key, state, hyper)`` returns ``(State, Info)``.
    """
    if batch_size is not None and model.data is None:
        raise ValueError("sgd.build: the model declares no data (Model.data); pass batch_size=None for "
                         "full-batch GD on its loss, or give the model a data source (models.data)")

    def minibatch_loss(params: Params, key: jax.Array) -> jax.Array:
        if batch_size is None:
            return model.loss(params)
        return model.data.batch_loss(params, model.data.sample(key, batch_size))

    def init(key: jax.Array, position: Params, hyper: Hyper) -> State:
        del key
        return State(position, jax.vmap(optimizer(hyper.step_size).init)(position))

    def step(key: jax.Array, state: State, hyper: Hyper) -> tuple[State, Info]:
        chains = jax.tree.leaves(state.position)[0].shape[0]
        transform = optimizer(hyper.step_size)

        def one(index, params, opt_state):
            data_key, noise_key = jax.random.split(jax.random.fold_in(key, index))
            loss, grad = jax.value_and_grad(minibatch_loss)(params, data_key)
            grad = jax.tree.map(lambda g, p: g + hyper.weight_decay * p, grad, params)
            updates, opt_state = transform.update(grad, opt_state, params)
            scale = jnp.sqrt(2 * hyper.step_size * hyper.temperature)
            noise = gaussian_like(noise_key, params)
            params = jax.tree.map(lambda p, u, n: p + u + scale * n, params, updates, noise)
            return params, opt_state, loss

        position, opt_state, loss = jax.vmap(one)(jnp.arange(chains), state.position, state.optimizer)
        return State(position, opt_state), Info(loss)

    return Integrator(init, step, lambda state: state.position, weak_order=1)
