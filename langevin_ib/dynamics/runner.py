"""Run N chains: vmap over chains, lax.scan over steps, host contact only at chunk boundaries.

The chain axis is a plain leading array axis. The noise of step k comes from fold_in(root, k), so
the numbers depend on the seed alone, not on the chunking. Chains are checked every ``thin`` steps
(counted from step 0 in burn-in, from the end of burn-in after it; so at every observation) and at the
end of burn-in: a chain whose position is non-finite or outside |θ|_∞ ≤ divergence_bound rolls back to
its state at the previous check, is frozen there, counted, and contributes to no estimator from then
on. Its ``diverged_at`` is the step of the failed check. Chains never interact, so a chain that blows
up between two checks cannot contaminate another; checking per block rather than per step keeps the
check out of the inner loop.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from langevin_ib.dynamics import accumulators as hist_lib
from langevin_ib.dynamics import sharding
from langevin_ib.dynamics.integrators.base import Integrator
from langevin_ib.models.base import Model

CHI_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class ChainState(NamedTuple):
    integrator: Any  # the integrator's state, leading axis = chains
    diverged_at: jax.Array  # (chains,) int32: the step of divergence, −1 while finite

    @property
    def diverged(self) -> jax.Array:
        return self.diverged_at >= 0


@dataclasses.dataclass
class RunResult:
    histograms: hist_lib.Histograms  # numpy arrays
    binnings: dict
    joint: tuple[str, str] | None
    chi_trace: dict  # name, step, mean, quantiles (len(steps), len(CHI_QUANTILES)) of χ over alive chains
    diverged: int
    diverged_at: np.ndarray  # steps at which chains diverged
    final_state: ChainState
    chain_statistics: np.ndarray | None  # (chains, k): per-chain sums of the statistics over snapshots
    statistic_snapshots: int
    compile_seconds: float
    run_seconds: float
    chain_steps: int


LAPACK_PRIMITIVES = re.compile(r"= (svd|eigh|eig|lu|cholesky|triangular_solve|geqrf|geqp3|householder_product|"
                               r"schur|hessenberg|tridiagonal|tridiagonal_solve)\b")


def _calls_lapack(fn: Callable, example: Any) -> bool:
    """Whether fn's jaxpr (nested ones included, as printed) holds a LAPACK-backed primitive."""
    return LAPACK_PRIMITIVES.search(str(jax.make_jaxpr(fn)(example))) is not None


def _position_ok(position, bound: float) -> jax.Array:
    """Per chain: every entry finite and |entry| <= bound."""
    per_leaf = [jnp.all((jnp.isfinite(leaf) & (jnp.abs(leaf) <= bound)).reshape(leaf.shape[0], -1), axis=1) for leaf in jax.tree.leaves(position)]
    return functools.reduce(jnp.logical_and, per_leaf)


def simulate(
    model: Model,
    integrator: Integrator,
    *,
    chains: int,
    steps: int,
    burn_in: int = 0,
    thin: int = 1,
    chunk_steps: int = 1000,
    seed: int = 0,
    chain_groups: int = 32,
    divergence_bound: float = 1.0e3,
    binnings: dict[str, hist_lib.Binning],
    statistics: tuple[Callable[[jax.Array, Any], jax.Array], ...] = (),
    statistic_every: int = 1,
    progress: bool = True,
) -> RunResult:
    """Run ``chains`` chains for ``burn_in`` + ``steps`` steps, observing every ``thin`` steps after burn-in.

    Each of ``statistics``, ``fn(key, params) -> (k,)``, is evaluated on every chain at every
    ``statistic_every``-th observation and summed per chain (``RunResult.chain_statistics``
    concatenates them); its key is fold_in(fold_in(seed key, 1), step) folded with the chain index,
    so the sums do not depend on chunking or devices. Each device maps it over its own chains one
    at a time (``lax.map`` in ``shard_map``; memory per chain, not per ensemble, and measured faster
    on the u·v run than batches of 32). jaxlib 0.10's CPU LAPACK kernels split a batch over the
    intra-op thread pool and block on it, and two such batched calls at once deadlock a two-thread
    pool; a batch of one runs inline. ``model.observe`` is mapped
    the same way when its jaxpr calls LAPACK (the SVD of UVᵀ): vmapped, it deadlocked the
    matrix-factorisation run (found with gdb: both pool threads in ``ParallelBatchMap`` under
    ``lapack_sgesdd_ffi``), and optimization barriers between the steps, ``observe`` and the
    statistics did not prevent it. (The projected integrator's own batched solve can still
    deadlock; see its module.)"""
    joint = (model.quotient, model.symmetry) if model.symmetry in binnings and model.quotient in binnings else None
    root = jax.random.key(seed)
    init_root, noise_root = jax.random.split(root)
    chain_ids = jnp.arange(chains)
    group = (chain_ids % chain_groups).astype(jnp.int32)
    split, replicated = sharding.chain_shardings(chains)
    statistic_root = jax.random.fold_in(root, 1)
    statistic_snapshots = (steps // thin) // statistic_every if statistics else 0

    def initial_state(init_root):
        param_root, integrator_key = jax.random.split(init_root)
        params = jax.vmap(model.init)(jax.vmap(jax.random.fold_in, (None, 0))(param_root, chain_ids))
        state = integrator.init(integrator_key, params)
        return ChainState(state, jnp.full(chains, -1, jnp.int32))

    def integrate(state, start, length):
        """``length`` integrator steps from absolute step ``start``; the noise of step k is fold_in(root, k)."""
        step = lambda inner, k: (integrator.step(jax.random.fold_in(noise_root, k), inner), None)
        return jax.lax.scan(step, state, start + jnp.arange(length))[0]

    def checked(state: ChainState, start, length):
        """Integrate, then check: a chain out of bounds rolls back to its state at ``start`` and freezes."""
        proposed = integrate(state.integrator, start, length)
        accept = ~state.diverged & _position_ok(integrator.position(proposed), divergence_bound)
        kept = jax.tree.map(
            lambda new, old: jnp.where(accept.reshape((-1,) + (1,) * (new.ndim - 1)), new, old),
            proposed, state.integrator,
        )
        newly = ~state.diverged & ~accept
        return ChainState(kept, jnp.where(newly, (start + length - 1).astype(jnp.int32), state.diverged_at))

    def advance(state, start, length):
        """``length`` steps with a divergence check every ``thin`` steps counted from ``start`` and at the end."""
        blocks, rest = divmod(length, thin)
        block = lambda inner, b: (checked(inner, start + b * thin, thin), None)
        state = jax.lax.scan(block, state, jnp.arange(blocks))[0]
        return checked(state, start + blocks * thin, rest) if rest else state

    def one_by_one(fn):
        """fn mapped over this device's chains one at a time (see the docstring)."""
        return jax.shard_map(lambda *local: jax.lax.map(lambda pair: fn(*pair), local),
                             mesh=split.mesh, in_specs=split.spec, out_specs=split.spec)

    one_chain = jax.eval_shape(model.init, init_root)
    observe_all = one_by_one(model.observe) if _calls_lapack(model.observe, one_chain) else jax.vmap(model.observe)
    per_chain = [one_by_one(fn) for fn in statistics]

    def statistics_now(position, step):
        keys = jax.vmap(jax.random.fold_in, (None, 0))(jax.random.fold_in(statistic_root, step), chain_ids)
        return jnp.concatenate([fn(keys, position) for fn in per_chain], axis=1)

    def measure_chunk(state, hist, sums, start, length):
        def observe(carry, i):
            state, hist, sums = carry
            state = checked(state, start + i * thin, thin)
            position = integrator.position(state.integrator)
            values = observe_all(position)
            hist = hist_lib.accumulate(hist, values, ~state.diverged, group, binnings, joint)
            if statistics:
                step = start + (i + 1) * thin
                due = ((step - burn_in) // thin) % statistic_every == 0
                sums = jax.lax.cond(due, lambda: sums + statistics_now(position, step), lambda: sums)
            return (state, hist, sums), None

        return jax.lax.scan(observe, (state, hist, sums), jnp.arange(length // thin))[0]

    def chi_summary(state):
        chi = observe_all(integrator.position(state.integrator))[model.symmetry]
        chi = jnp.where(state.diverged[:, None], jnp.nan, chi).reshape(-1)
        return jnp.nanmean(chi), jnp.nanquantile(chi, jnp.asarray(CHI_QUANTILES, chi.dtype))

    compile_seconds = 0.0
    cache: dict = {}

    def call(fn, *args, length=None, donate=(), out_shardings=None):
        """Run fn(*args[, length]) compiled ahead of time, once per distinct static length."""
        nonlocal compile_seconds
        if (fn, length) not in cache:
            t0 = time.perf_counter()
            bound = fn if length is None else functools.partial(fn, length=length)
            jitted = jax.jit(bound, donate_argnums=donate, out_shardings=out_shardings)
            cache[fn, length] = jitted.lower(*args).compile()
            compile_seconds += time.perf_counter() - t0
        return cache[fn, length](*args)

    wall_start = time.perf_counter()
    state = call(initial_state, init_root, out_shardings=split)
    observation_shapes = jax.eval_shape(lambda st: jax.vmap(model.observe)(integrator.position(st.integrator)), state)
    hist = hist_lib.empty(binnings, joint, chain_groups, observation_shapes)
    accumulator_shardings = hist_lib.Accumulators(replicated, replicated, split, split)
    hist = jax.device_put(hist, accumulator_shardings)
    sums = None
    if statistics:
        shape = jax.eval_shape(statistics_now, integrator.position(state.integrator), jnp.int32(0))
        sums = jax.device_put(jnp.zeros(shape.shape, shape.dtype), split)
    trace = {"step": [], "mean": [], "quantiles": []}

    def record_chi(step):
        if model.symmetry is not None:
            summary = call(chi_summary, state)
            trace["step"].append(step)
            trace["mean"].append(float(summary[0]))
            trace["quantiles"].append(np.asarray(summary[1]))

    record_chi(0)
    bar = tqdm(total=burn_in + steps, desc="chain steps", unit="step", disable=not progress, leave=False)
    step = 0
    while step < burn_in:
        length = min(chunk_steps, burn_in - step)
        state = call(advance, state, jnp.int32(step), length=length, donate=(0,), out_shardings=split)
        step += length
        record_chi(step)
        bar.update(length)
    while step < burn_in + steps:
        length = min(chunk_steps, burn_in + steps - step)
        state, hist, sums = call(measure_chunk, state, hist, sums, jnp.int32(step), length=length, donate=(0, 1, 2),
                                 out_shardings=(split, accumulator_shardings, split))
        step += length
        record_chi(step)
        bar.update(length)
    bar.close()
    hist = hist_lib.finalize(hist, chain_groups)
    run_seconds = time.perf_counter() - wall_start - compile_seconds
    diverged_at = np.asarray(state.diverged_at)
    return RunResult(
        histograms=hist,
        binnings=binnings,
        joint=joint,
        chi_trace={
            "name": model.symmetry,
            "step": np.asarray(trace["step"], np.int64),
            "mean": np.asarray(trace["mean"]),
            "quantiles": np.asarray(trace["quantiles"]).reshape(len(trace["step"]), len(CHI_QUANTILES)),
        },
        diverged=int(np.asarray(state.diverged).sum()),
        diverged_at=diverged_at[diverged_at >= 0],
        final_state=state,
        chain_statistics=None if sums is None else np.asarray(sums),
        statistic_snapshots=statistic_snapshots,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        chain_steps=chains * (burn_in + steps),
    )
