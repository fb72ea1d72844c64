"""The integrator protocol (optax's ``init``/``update`` pair, blackjax's ``(state, info)`` step).

A module per integrator exports ``State``, ``Info``, ``SPEC`` (its :class:`IntegratorSpec`, the
facts diffrax's ``AbstractSolver`` declares) and ``build(model) -> Integrator``; one whose spec
lists discrete noises of :mod:`langevin_ib.dynamics.noise` takes ``build(model, noise=name)``
(default ``"gaussian"``), one whose spec has ``settings`` takes ``build(model, settings)``.
``init`` and ``step`` act on the whole ensemble: every leaf of a position has a leading chain axis.
The key is always the first argument and is never stored; the noise of all chains comes from one
draw per step, so with JAX's partitionable threefry a chain's noise depends on its index alone, not
on how the chain axis is chunked or sharded. The
hyperparameters are data passed at call time (jax-md's ``apply_fn(state, kT=...)``), each a scalar
or one value per chain, so a sweep runs inside one compiled program. The state is opaque to the
runner, which reads only ``position(state)`` and ``info.failed``; an optimiser's state (an optax
GradientTransformation's) can live in it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from langevin_ib.dynamics import noise as noise_lib
from langevin_ib.models.base import Model

Params = Any
State = Any


class IntegratorSpec(NamedTuple):
    """What an integrator declares, read by the config, the planner and the tests."""

    weak_order: int  # p in the invariant-measure error O(η^p) (STYLE.md, exact references)
    constrained: bool  # whether chains stay on the slice χ = 0 (docs/theory.md §4(c))
    noises: tuple[str, ...] = ("gaussian",)  # the laws of ξ it can draw (:mod:`langevin_ib.dynamics.noise`)
    thermal: bool = True  # whether the step adds √(2ηT)ξ (dynamics.temperature is then required positive)
    settings: type | None = None  # its static settings (gd, sgd, sgld: ``sgd.Settings``), passed to build


class Hyperparameters(NamedTuple):
    """Each a JAX array, shape () for all chains or (chains,) for one value per chain."""

    temperature: jax.Array  # T
    step_size: jax.Array  # η
    weight_decay: jax.Array  # λ in U = L + (λ/2)|θ|²


class Info(NamedTuple):
    """What a step reports; every integrator's Info has ``failed``."""

    failed: jax.Array  # (chains,) bool: the step is invalid for this chain (the runner counts it as diverged)


class InitFn(Protocol):
    def __call__(self, key: jax.Array, position: Params, hyperparameters: Hyperparameters) -> State:
        """The integrator's state at ``position``.

        Args:
          key: PRNG key for any random part of the state (e.g. a first noise draw).
          position: parameter pytree, leading axis = chains.
          hyperparameters: scalars or per-chain arrays.

        Returns:
          The initial state, leading axis = chains.
        """


class StepFn(Protocol):
    def __call__(self, key: jax.Array, state: State, hyperparameters: Hyperparameters) -> tuple[State, Info]:
        """One step of every chain.

        Args:
          key: PRNG key of this step; all chains' noise is one draw from it.
          state: the integrator's state, leading axis = chains.
          hyperparameters: scalars or per-chain arrays.

        Returns:
          (new state, Info with at least ``failed``).
        """


class Integrator(NamedTuple):
    init: InitFn
    step: StepFn
    position: Callable[[State], Params]
    weak_order: int  # p in the invariant-measure error O(η^p)
    constrained: bool  # whether chains stay on the slice χ = 0 (docs/theory.md §4(c))
    # (state, position) -> the state with that position; when given, the runner's check rolls back only the
    # position of a diverged chain (it is frozen, so the rest of its state is never read again)
    with_position: Callable[[State, Params], State] | None = None


class UnsupportedModel(ValueError):
    """The integrator cannot run this model (e.g. a constrained integrator on a model without symmetry)."""


def per_chain(value: jax.Array, leaf: jax.Array) -> jax.Array:
    """``value`` (() or (chains,)) shaped to broadcast against ``leaf`` (chains, ...)."""
    value = jnp.asarray(value)
    return value if value.ndim == 0 else value.reshape((-1,) + (1,) * (leaf.ndim - 1))


def largest_magnitude(tree: Params) -> jax.Array:
    """(chains,): max |θ_i| over every entry of the chain in every leaf; NaN where an entry is NaN (XLA's
    max propagates NaN), so "every entry finite (and within a bound)" is a test of this one number per
    chain: one float reduction per leaf, which XLA:CPU vectorises where a boolean and-reduction runs as
    a scalar loop (docs/engineering.md, "Divergence check")."""
    return functools.reduce(jnp.maximum, [jnp.max(jnp.abs(leaf).reshape(leaf.shape[0], -1), axis=1)
                                          for leaf in jax.tree.leaves(tree)])


def potential_gradient(model: Model) -> Callable[[Params, jax.Array], Params]:
    """∇U(θ) for the ensemble, U = L + (λ/2)|θ|², with λ a scalar or one value per chain: jax.grad of U,
    or the model's ``gradient`` of L (the same in less memory) plus the decay's."""
    if model.gradient is None:
        grad = jax.grad(lambda params, weight_decay: model.potential(weight_decay)(params))
    else:
        decay = jax.grad(lambda params, weight_decay: model.decay(weight_decay)(params))
        grad = lambda params, weight_decay: jax.tree.map(jnp.add, model.gradient(params), decay(params, weight_decay))
    return lambda params, weight_decay: jax.vmap(grad, (0, 0 if jnp.ndim(weight_decay) else None))(params, weight_decay)


def no_failure(position: Params) -> Info:
    """Info of a step that cannot fail (non-finite positions are the runner's check)."""
    return Info(jnp.zeros(jax.tree.leaves(position)[0].shape[0], bool))


gaussian_like = noise_lib.gaussian  # independent N(0, 1) noise shaped like a tree, one draw per leaf


def euler_maruyama_proposal(gradient, key: jax.Array, position: Params, hyperparameters: Hyperparameters,
                            sample: noise_lib.Sampler = gaussian_like) -> Params:
    """θ − η∇U(θ) + √(2Tη)·ξ, ξ = sample(key, θ) (N(0, I) by default), for every chain (docs/theory.md §1)."""
    temperature, step_size, weight_decay = hyperparameters
    force = gradient(position, weight_decay)
    noise = sample(key, position)
    noise_scale = jnp.sqrt(2.0 * temperature * step_size)
    return jax.tree.map(lambda x, g, n: x - per_chain(step_size, x) * g + per_chain(noise_scale, x) * n,
                        position, force, noise)
