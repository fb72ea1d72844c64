"""Minibatch SGD on a model's data: θ ← θ − η·u(g_B + λθ) (+ √(2ηT)ξ for SGLD), u an optax update rule.

Per chain and step: B examples from ``model.data`` (fresh from a generator; with or without
replacement from a finite set; or ``bernoulli``: each of the n examples in with probability B/n, so B
is the expected size), g_B = ∇ mean_b ℓ(θ, z_b) (the mean over the examples drawn), weight decay λθ added to the gradient,
then the optax optimizer's update at learning rate 1 scaled by η (optax's aliases end in
``scale_by_learning_rate``, linear in the rate, so η stays data: a scalar or one per chain). Plain
SGD (``optax.sgd``) is θ' = θ − η(g_B + λθ); its χ drift is :func:`langevin_ib.predictions.chi_drift.sgd_drift`
and its stationary law on linear-Gaussian regression :mod:`langevin_ib.predictions.sgd_linear`.

The ensemble's minibatches are one draw per step (:func:`sampler`) and its noise one draw of
``gaussian_like``, so XLA fuses the data generation, the gradients and the update over all chains;
chain c's minibatch and noise still depend on the step key and c alone, so its trajectory depends
on the seed and its index only, not on the chunking or the chain count.
Exports ``State``, ``Info``, ``Settings``, ``SPEC``, ``build``;
:mod:`.gd` and :mod:`.sgld` are the same update with a full batch and with noise.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from langevin_ib.dynamics.integrators.base import (Hyperparameters, Integrator, IntegratorSpec, Params, gaussian_like,
                                                   per_chain)
from langevin_ib.models.base import Model
from langevin_ib.base import ConfigError

SAMPLING = ("auto", "fresh", "with_replacement", "without_replacement", "bernoulli")


class Settings(NamedTuple):
    """The static part of a stochastic-gradient integrator (its hyperparameters are data)."""

    batch_size: int | None = 1  # B; None: the full batch (GD)
    sampling: str = "auto"  # one of SAMPLING; auto: fresh for a generator, without_replacement for a finite set
    # (bernoulli: each example in with probability batch_size/n, the paper's Fig. 4)
    optimizer: str = "sgd"  # an optax alias, called with learning_rate=1.0 and ``optimizer_args``
    optimizer_args: tuple = ()  # ((name, value), ...), e.g. (("momentum", 0.9), ("nesterov", True))


SPEC = IntegratorSpec(weak_order=1, constrained=False, thermal=False, settings=Settings)


class State(NamedTuple):
    position: Params  # every leaf with a leading chain axis
    optimizer: Any  # the optax state of every chain


class Info(NamedTuple):
    failed: jax.Array  # (chains,) bool, never set (non-finite positions are the runner's check)
    loss: jax.Array  # (chains,) the minibatch loss before the step


def optimizer(settings: Settings) -> optax.GradientTransformation:
    """``optax.<settings.optimizer>(learning_rate=1.0, **optimizer_args)``, the arguments checked against
    its signature first (ConfigError naming the field)."""
    factory = getattr(optax, settings.optimizer, None)
    if not callable(factory) or "learning_rate" not in _parameters(factory):
        raise ConfigError(f"dynamics.optimizer: got {settings.optimizer!r}; expected the name of an optax optimizer "
                          "taking a learning_rate, e.g. 'sgd', 'adam', 'rmsprop'")
    accepted = sorted(set(_parameters(factory)) - {"learning_rate"})
    for name, _ in settings.optimizer_args:
        if name not in accepted:
            raise ConfigError(f"dynamics.optimizer_args: optax.{settings.optimizer} takes no argument {name!r}; "
                              f"it accepts {accepted}")
    try:
        inspect.signature(factory).bind(learning_rate=1.0, **dict(settings.optimizer_args))
    except TypeError as error:
        raise ConfigError(f"dynamics.optimizer_args: {error} (optax.{settings.optimizer})") from None
    return factory(learning_rate=1.0, **dict(settings.optimizer_args))


def _parameters(factory) -> dict:
    try:
        return dict(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return {}


def sampler(model: Model, settings: Settings, integrator: str = "sgd"):
    """``draw(key, chains) -> examples`` of the ensemble's minibatches, every leaf with leading axes
    (chains, B), after checking ``settings`` against the model's data (ConfigError naming the field);
    None for the full batch (GD on ``model.loss``, whose gradient is the mean per-example gradient).
    Chain c's minibatch depends on the key and c alone: it is examples cB…cB + B − 1 of one
    generator call (example i of ``Data.draw(key, n)`` depends on the key and i alone), or indices
    drawn entrywise (with replacement), or a subset drawn from fold_in(key, c) (without), or for
    ``bernoulli`` a (chains, n) mask, chain c's drawn from fold_in(key, c)."""
    data, batch, sampling = model.data, settings.batch_size, settings.sampling
    if batch is None:
        return None
    if data is None:
        raise ConfigError(f"dynamics.integrator: {integrator!r} needs a model with a data source (Model.data: a "
                          "per-example loss and its examples); this model has none: use a Langevin integrator")
    if batch <= 0:
        raise ConfigError(f"dynamics.batch_size: got {batch}; expected a positive int")
    finite = data.examples is not None
    if sampling == "auto":
        sampling = "without_replacement" if finite else "fresh"
    if finite and sampling == "fresh":
        raise ConfigError("dynamics.sampling: got 'fresh' but this model's data are a finite training set; "
                          "use with_replacement or without_replacement (or set the model's fresh_data, if any)")
    if not finite and sampling != "fresh":
        raise ConfigError(f"dynamics.sampling: got {sampling!r} but this model draws fresh examples; use fresh")
    if sampling in ("without_replacement", "bernoulli") and batch > data.size:
        raise ConfigError(f"dynamics.batch_size: got {batch}, more than the {data.size} examples of the training set "
                          f"sampled {sampling.replace('_', ' ')}; use at most that, or sampling: with_replacement")
    if not finite:
        return lambda key, chains: jax.tree.map(lambda x: x.reshape(chains, batch, *x.shape[1:]),
                                                data.draw(key, chains * batch))
    if sampling == "bernoulli":
        mask = lambda key: jax.random.bernoulli(key, batch / data.size, (data.size,))
        return lambda key, chains: jax.vmap(mask)(jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(chains)))
    if sampling == "with_replacement":
        pick = lambda key, chains: jax.random.randint(key, (chains, batch), 0, data.size)
    else:
        subset = lambda key: jax.random.choice(key, data.size, (batch,), replace=False)
        pick = lambda key, chains: jax.vmap(subset)(jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(chains)))
    return lambda key, chains: jax.tree.map(lambda x: x[pick(key, chains)], data.examples)


def sampling_factor(sampling: str, batch: int, size: int | None) -> float:
    """c in E[g_B g_Bᵀ] = ∇L∇Lᵀ + cΣ/B (docs/sgd.md), Σ the population covariance of the n = ``size``
    per-example gradients: 1 for fresh data or draws with replacement, (n − B)/(n − 1) without; for
    ``bernoulli`` B·E[(n − K)/((n − 1)K) | K ≥ 1], K ~ Binomial(n, B/n) the batch's size (given K the
    batch is a subset without replacement; an empty batch, probability (1 − B/n)ⁿ, is left out)."""
    if size is None or sampling in ("fresh", "with_replacement"):
        return 1.0
    if sampling != "bernoulli":
        return (size - batch) / (size - 1)
    p = batch / size
    weights = [math.comb(size, k) * p**k * (1 - p) ** (size - k) for k in range(1, size + 1)]
    mean = sum(w * (size - k) / ((size - 1) * k) for k, w in zip(range(1, size + 1), weights)) / sum(weights)
    return batch * mean


def make(model: Model, settings: Settings, spec: IntegratorSpec, integrator: str) -> Integrator:
    """The update of the module docstring, with (``spec.thermal``) or without the √(2ηT)ξ term."""
    draw = sampler(model, settings, integrator)
    transform = optimizer(settings)
    if draw is None:
        loss_and_grad = jax.vmap(jax.value_and_grad(model.loss))
    elif settings.sampling == "bernoulli":
        loss_and_grad = jax.vmap(lambda p, mask: model.data.masked_loss_and_gradient(p, model.data.examples, mask))
    else:
        loss_and_grad = jax.vmap(model.data.batch_loss_and_gradient)

    def init(key: jax.Array, position: Params, hyperparameters: Hyperparameters) -> State:
        del key, hyperparameters
        return State(position, jax.vmap(transform.init)(position))

    def step(key: jax.Array, state: State, hyperparameters: Hyperparameters) -> tuple[State, Info]:
        temperature, step_size, weight_decay = hyperparameters
        chains = jax.tree.leaves(state.position)[0].shape[0]
        data_key, noise_key = jax.random.split(key)
        if draw is None:
            loss, grad = loss_and_grad(state.position)
        else:
            loss, grad = loss_and_grad(state.position, draw(data_key, chains))
        grad = jax.tree.map(lambda g, p: g + per_chain(weight_decay, p) * p, grad, state.position)
        updates, opt_state = jax.vmap(transform.update)(grad, state.optimizer, state.position)
        position = jax.tree.map(lambda p, u: p + per_chain(step_size, p) * u, state.position, updates)
        if spec.thermal:
            scale = jnp.sqrt(2.0 * temperature * step_size)
            xi = gaussian_like(noise_key, position)
            position = jax.tree.map(lambda p, n: p + per_chain(scale, p) * n, position, xi)
        return State(position, opt_state), Info(jnp.zeros(chains, bool), loss)

    return Integrator(init, step, lambda state: state.position, spec.weak_order, spec.constrained)


def build(model: Model, settings: Settings = Settings()) -> Integrator:
    """Args:
      model: with ``data`` (:class:`langevin_ib.models.data.Data`).
      settings: batch size, sampling and optax optimizer (static).

    Returns:
      An Integrator stepping θ − η·u(g_B + λθ); ConfigError where the settings do not fit the model.
    """
    return make(model, settings, SPEC, "sgd")
