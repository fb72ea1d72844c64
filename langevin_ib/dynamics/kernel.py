"""The jittable chunk kernel: advance the ensemble by a chunk with divergence checks, observe and accumulate.

The chain axis is a plain leading array axis. The noise of step k comes from fold_in(noise key, k),
so the numbers depend on the seed alone, not on the chunking. Chains are checked every ``thin``
steps (counted from step 0 in burn-in, from the end of burn-in after it; so at every observation)
and at the end of burn-in: a chain whose position is non-finite or outside |θ|_∞ ≤ divergence_bound,
or whose integrator reported ``Info.failed`` at any step since the previous check, rolls back to its
state at that check (only its position where the integrator gives ``with_position``), is frozen
there, counted, and contributes to no estimator from then on. Its ``diverged_at`` is the step of the
failed check. Chains never interact, so a chain that blows up between two checks cannot
contaminate another; checking per block rather than per step keeps the check out of the inner loop.

Per-chain functions (the statistics, and ``model.observe`` when its jaxpr calls LAPACK) are mapped
over each device's chains one at a time (``lax.map`` in ``shard_map``): jaxlib 0.10's CPU LAPACK
kernels split a batch over the intra-op thread pool and block on it, and two such batched calls at
once deadlock a two-thread pool (found with gdb on the matrix-factorisation run: both pool threads
in ``ParallelBatchMap`` under ``lapack_sgesdd_ffi``); a batch of one runs inline. Memory is per
chain, not per ensemble, and on the u·v run it measured faster than batches of 32. (The projected
integrator's own batched solve can still deadlock; see its module.)
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from langevin_ib.dynamics import accumulators as hist_lib
from langevin_ib.dynamics import sharding
from langevin_ib.dynamics.integrators.base import Hyperparameters, Integrator, largest_magnitude, per_chain
from langevin_ib.models.base import Model
from langevin_ib.dynamics.replay import step_key

CHI_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
LAPACK_PRIMITIVES = re.compile(r"= (svd|eigh|eig|lu|cholesky|triangular_solve|geqrf|geqp3|householder_product|"
                               r"schur|hessenberg|tridiagonal|tridiagonal_solve)\b")


class RunSizes(NamedTuple):
    """A run's static sizes; ``steps``, ``burn_in`` and ``thin`` are every point's unless the grid is given a
    per-point :class:`Budget` (durations in time)."""

    chains: int
    steps: int  # measured steps, after burn-in
    burn_in: int = 0
    thin: int = 1  # observe (and check) every thin steps
    chunk_steps: int = 1000  # steps per chunk (chunk statistics recorded at its end); calls are sized by time
    seed: int = 0
    chain_groups: int = 32  # chain c belongs to group c mod G (accumulators.py)
    divergence_bound: float = 1.0e3  # given to the compiled program as data (grid.py): one compile for every bound


class Budget(NamedTuple):
    """A grid point's schedule in steps: the burn-in, the steps per observation and the observations
    of the window. Each is an int shared by every point (static), or a traced int32 per point, so
    points whose durations are given in time (different step counts at different η) share one program."""

    burn_in: Any
    thin: Any
    observations: Any


class ChainState(NamedTuple):
    integrator: Any  # the integrator's state, leading axis = chains
    diverged_at: jax.Array  # (chains,) int32: the step of divergence, −1 while finite

    @property
    def diverged(self) -> jax.Array:
        return self.diverged_at >= 0


class Keys(NamedTuple):
    """The run's PRNG streams, all derived from the seed."""

    init: jax.Array  # the initial parameters and the integrator's init
    noise: jax.Array  # step k draws from fold_in(noise, k)
    statistics: jax.Array  # the statistics at step k, chain c: fold_in(fold_in(statistics, k), c)


def keys(seed: int) -> Keys:
    root = jax.random.key(seed)
    init, noise = jax.random.split(root)
    return Keys(init, noise, jax.random.fold_in(root, 1))


class Kernel(NamedTuple):
    """What a run integrates, observes and accumulates; static in the compiled chunks."""

    model: Model
    integrator: Integrator
    sizes: RunSizes
    binnings: dict[str, hist_lib.Binning]
    joint: tuple[str, str] | None  # (q, χ) of the joint histogram
    observe: Callable[[Any], dict]  # ensemble position -> name -> (chains, m)
    statistics: Callable[[jax.Array, Any], jax.Array] | None  # (per-chain keys, position) -> (chains, k)
    statistic_every: int  # evaluate the statistics at every statistic_every-th observation


class Staged(NamedTuple):
    """A per-chain statistic with a part every chain shares: ``shared() -> aux``, evaluated once per
    evaluation over the chains, outside the map over them and only in the programs that evaluate the
    statistic (a table of a conditional law, :mod:`langevin_ib.statistics.conditional_table`), and
    ``per_chain(aux, key, params) -> (k,)``."""

    shared: Callable
    per_chain: Callable


def calls_lapack(fn: Callable, example: Any) -> bool:
    """Whether fn's jaxpr (nested ones included, as printed) holds a LAPACK-backed primitive."""
    return LAPACK_PRIMITIVES.search(str(jax.make_jaxpr(fn)(example))) is not None


def one_by_one(fn: Callable, chains: int) -> Callable:
    """fn mapped over each device's chains one at a time (see the module docstring)."""
    split = sharding.chain_shardings(chains)[0]
    return jax.shard_map(lambda *local: jax.lax.map(lambda pair: fn(*pair), local),
                         mesh=split.mesh, in_specs=split.spec, out_specs=split.spec)


def joint_axes(model: Model, binnings: dict) -> tuple[str, str] | None:
    """(q, χ) of the joint histogram: kept when the model's quotient and symmetry are both binned."""
    return (model.quotient, model.symmetry) if model.symmetry in binnings and model.quotient in binnings else None


def build(model: Model, integrator: Integrator, sizes: RunSizes, binnings: dict[str, hist_lib.Binning],
          statistics: tuple[Callable[[jax.Array, Any], jax.Array], ...] = (), statistic_every: int = 1) -> Kernel:
    """The kernel of a run. Each of ``statistics``, ``fn(key, params) -> (k,)`` or a :class:`Staged`, is
    one chain's; the kernel concatenates them per chain."""
    joint = joint_axes(model, binnings)
    one_chain = jax.eval_shape(model.init, jax.random.key(0))
    observe = (one_by_one(model.observe, sizes.chains) if calls_lapack(model.observe, one_chain)
               else jax.vmap(model.observe))
    mapped = [one_by_one(fn, sizes.chains) if not isinstance(fn, Staged) else
              (lambda keys, position, fn=fn: one_by_one(functools.partial(fn.per_chain, fn.shared()), sizes.chains)(keys, position))
              for fn in statistics]
    concatenated = (lambda keys, position: jnp.concatenate([fn(keys, position) for fn in mapped], axis=1)) if mapped else None
    return Kernel(model, integrator, sizes, binnings, joint, observe, concatenated, statistic_every)


def initial_parameters(kernel: Kernel, key: jax.Array) -> Any:
    """Chain c's parameters model.init(fold_in(k₁, c)), (k₁, k₂) = split(key) (k₂: :func:`initial_state`)."""
    param_root = jax.random.split(key)[0]
    return jax.vmap(kernel.model.init)(jax.vmap(jax.random.fold_in, (None, 0))(param_root, jnp.arange(kernel.sizes.chains)))


def initial_state(kernel: Kernel, key: jax.Array, params: Any, hyperparameters: Hyperparameters) -> ChainState:
    """The chains at ``params`` (:func:`initial_parameters` of ``key``), k₂ of (k₁, k₂) = split(key)
    seeding the integrator's init."""
    integrator_key = jax.random.split(key)[1]
    return ChainState(kernel.integrator.init(integrator_key, params, hyperparameters),
                      jnp.full(kernel.sizes.chains, -1, jnp.int32))


def integrate(integrator: Integrator, key: jax.Array, state: Any, hyperparameters: Hyperparameters,
              start: jax.Array, length: Any) -> tuple[Any, jax.Array]:
    """``length`` steps (an int, or traced) from absolute step ``start`` (noise of step k from
    fold_in(key, k)); returns the state and, per chain, whether any step failed."""
    def step(k, carry):
        inner, failed = carry
        inner, info = integrator.step(step_key(key, k), inner, hyperparameters)
        return inner, failed | info.failed

    if isinstance(length, int) and length == 1:  # thin = 1: no loop, so the step fuses with the check and observation
        state, info = integrator.step(step_key(key, start), state, hyperparameters)
        return state, info.failed
    chains = jax.tree.leaves(integrator.position(state))[0].shape[0]
    return jax.lax.fori_loop(start, start + length, step, (state, jnp.zeros(chains, bool)))


def rolled_back(kernel: Kernel) -> Callable:
    """``(accept, proposed, old) -> state``: each chain's proposed state where accepted, else its old
    position (the whole old state for an integrator without ``with_position``). Each device decides
    for its own chains: the pass over the state runs only on a device where a chain failed or is
    frozen, and no device waits for another (measured: docs/engineering.md, "Divergence check").
    The pass is a while loop of zero or one trip, which updates the state in place (a ``lax.cond``
    would copy the whole state out of its pass-through branch at every check)."""
    position, with_position = kernel.integrator.position, kernel.integrator.with_position
    split = sharding.chain_shardings(kernel.sizes.chains)[0]

    def local(accept, proposed, old):
        select = lambda new, kept: jax.tree.map(lambda n, o: jnp.where(per_chain(accept, n), n, o), new, kept)
        rolled = lambda state: (select(state, old) if with_position is None
                                else with_position(state, select(position(state), position(old))))
        pending = ~jnp.all(accept)
        return jax.lax.while_loop(lambda carry: carry[0], lambda carry: (carry[0] & False, rolled(carry[1])),
                                  (pending, proposed))[1]

    return jax.shard_map(local, mesh=split.mesh, in_specs=split.spec, out_specs=split.spec)


def checked(kernel: Kernel, key: jax.Array, state: ChainState, hyperparameters: Hyperparameters,
            start: jax.Array, length: Any, bound: jax.Array) -> ChainState:
    """Integrate, then check: a chain that failed or left |θ|_∞ ≤ ``bound`` (traced) rolls back to its
    state at ``start`` and freezes."""
    proposed, failed = integrate(kernel.integrator, key, state.integrator, hyperparameters, start, length)
    largest = largest_magnitude(kernel.integrator.position(proposed))
    in_bounds = jnp.isfinite(largest) & (largest <= bound)  # the bound may be inf
    accept = ~state.diverged & ~failed & in_bounds
    kept = rolled_back(kernel)(accept, proposed, state.integrator)
    newly = ~state.diverged & ~accept
    return ChainState(kept, jnp.where(newly, jnp.maximum(start + length - 1, start).astype(jnp.int32), state.diverged_at))


def advance(kernel: Kernel, key: jax.Array, state: ChainState, hyperparameters: Hyperparameters, budget: Budget,
            first: jax.Array, blocks: jax.Array, bound: jax.Array) -> ChainState:
    """Burn-in blocks ``first`` to ``first + blocks`` (traced): block j is steps [j·thin, (j+1)·thin) cut
    at the burn-in's end (none past it), each followed by a check."""
    def block(j, inner):
        start = j * budget.thin
        return checked(kernel, key, inner, hyperparameters, start, jnp.clip(budget.burn_in - start, 0, budget.thin), bound)

    return jax.lax.fori_loop(first, first + blocks, block, state)


def statistics_at(kernel: Kernel, key: jax.Array, position: Any, step: jax.Array) -> jax.Array:
    """(chains, k): the statistics of every chain at ``step``, chain c keyed fold_in(fold_in(key, step), c)."""
    chain_keys = jax.vmap(jax.random.fold_in, (None, 0))(jax.random.fold_in(key, step), jnp.arange(kernel.sizes.chains))
    return kernel.statistics(chain_keys, position)


def accumulate_local(kernel: Kernel) -> Callable:
    """hist_lib.accumulate on each device's own chains and its own block of counts (no collective);
    ``half``: the observations in the window's first half."""
    split = sharding.chain_shardings(kernel.sizes.chains)[0]
    local = lambda acc, observations, alive, group, half: hist_lib.accumulate(acc, observations, alive, group,
                                                                             kernel.binnings, kernel.joint, half)
    return jax.shard_map(local, mesh=split.mesh, in_specs=(*(split.spec,) * 4, PartitionSpec()), out_specs=split.spec)


def measure(kernel: Kernel, keys: Keys, state: ChainState, acc: hist_lib.Accumulators, sums: jax.Array | None,
            hyperparameters: Hyperparameters, budget: Budget, first: jax.Array, count: jax.Array, bound: jax.Array):
    """Observations ``first`` to ``first + count`` (traced) of the window: ``thin`` steps, a check and an
    observation each; accumulate the alive chains, and add the statistics at every ``statistic_every``-th
    observation. A point whose window is shorter (traced ``budget.observations``) stays frozen past its
    end, as a diverged chain does. Returns (state, acc, sums)."""
    sizes = kernel.sizes
    group = (jnp.arange(sizes.chains) % sizes.chain_groups).astype(jnp.int32)
    accumulate = accumulate_local(kernel)
    frozen = not isinstance(budget.observations, int)

    def observe(i, carry):
        state, acc, sums = carry
        active = i < budget.observations
        stepped = checked(kernel, keys.noise, state, hyperparameters, budget.burn_in + i * budget.thin, budget.thin, bound)
        state = jax.tree.map(lambda new, old: jnp.where(active, new, old), stepped, state) if frozen else stepped
        position = kernel.integrator.position(state.integrator)
        acc = accumulate(acc, kernel.observe(position), ~state.diverged & active, group,
                         jnp.asarray(budget.observations // 2, jnp.int32))
        if kernel.statistics is not None:
            step = budget.burn_in + (i + 1) * budget.thin
            due = active & ((i + 1) % kernel.statistic_every == 0)
            sums = jax.lax.cond(due, lambda: sums + statistics_at(kernel, keys.statistics, position, step), lambda: sums)
        return state, acc, sums

    return jax.lax.fori_loop(first, first + count, observe, (state, acc, sums))


def chi_quantiles(kernel: Kernel, state: ChainState) -> tuple[jax.Array, jax.Array]:
    """A chunk-end statistic: mean and CHI_QUANTILES of χ over the alive chains' copies."""
    chi = kernel.observe(kernel.integrator.position(state.integrator))[kernel.model.symmetry]
    chi = jnp.where(state.diverged[:, None], jnp.nan, chi).reshape(-1)
    return jnp.nanmean(chi), jnp.nanquantile(chi, jnp.asarray(CHI_QUANTILES, chi.dtype))
