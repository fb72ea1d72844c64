"""Run N chains: vmap over chains, lax.scan over steps, host contact only at chunk boundaries.

The chain axis is a plain leading array axis. The noise of step k comes from fold_in(root, k), so
the numbers depend on the seed alone, not on the chunking. A chain whose position becomes non-finite or leaves
|θ|_∞ ≤ divergence_bound is frozen, counted and contributes to no estimator from that step on.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from langevin_ib import histograms as hist_lib
from langevin_ib.integrators.base import Integrator
from langevin_ib.models.base import Model

CHI_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class ChainState(NamedTuple):
    integrator: Any  # the integrator's state, leading axis = chains
    diverged: jax.Array  # (chains,) bool
    diverged_at: jax.Array  # (chains,) int32: the step of divergence, −1 while finite


@dataclasses.dataclass
class RunResult:
    histograms: hist_lib.Histograms  # numpy arrays
    binnings: dict
    joint: tuple[str, str] | None
    chi_trace: dict  # name, step, mean, quantiles (len(steps), len(CHI_QUANTILES)) of χ over alive chains
    diverged: int
    diverged_at: np.ndarray  # steps at which chains diverged
    final_state: ChainState
    compile_seconds: float
    run_seconds: float
    chain_steps: int


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
    dtype=jnp.float32,
    progress: bool = True,
) -> RunResult:
    """Run ``chains`` chains for ``burn_in`` + ``steps`` steps, observing every ``thin`` steps after burn-in."""
    joint = (model.quotient, model.symmetry) if model.symmetry in binnings and model.quotient in binnings else None
    root = jax.random.key(seed)
    init_root, noise_root = jax.random.split(root)
    chain_ids = jnp.arange(chains)
    group = (chain_ids % chain_groups).astype(jnp.int32)

    def initial_state(init_root):
        param_root, integrator_key = jax.random.split(init_root)
        params = jax.vmap(model.init)(jax.vmap(jax.random.fold_in, (None, 0))(param_root, chain_ids))
        state = integrator.init(integrator_key, params)
        return ChainState(state, jnp.zeros(chains, bool), jnp.full(chains, -1, jnp.int32))

    def one_step(state: ChainState, k):
        proposed = integrator.step(jax.random.fold_in(noise_root, k), state.integrator)
        ok = _position_ok(integrator.position(proposed), divergence_bound)
        newly = ~state.diverged & ~ok
        frozen = state.diverged | newly
        kept = jax.tree.map(
            lambda new, old: jnp.where(frozen.reshape((-1,) + (1,) * (new.ndim - 1)), old, new),
            proposed, state.integrator,
        )
        return ChainState(kept, frozen, jnp.where(newly, k.astype(jnp.int32), state.diverged_at)), None

    def advance(state, start, length):
        return jax.lax.scan(one_step, state, start + jnp.arange(length))[0]

    def burn_chunk(state, start, length):
        return advance(state, start, length)

    def measure_chunk(state, hist, start, length):
        def observe(carry, i):
            state, hist = carry
            state = advance(state, start + i * thin, thin)
            values = jax.vmap(model.observe)(integrator.position(state.integrator))
            hist = hist_lib.accumulate(hist, values, ~state.diverged, group, binnings, joint)
            return (state, hist), None

        return jax.lax.scan(observe, (state, hist), jnp.arange(length // thin))[0]

    def chi_summary(state):
        chi = jax.vmap(model.observe)(integrator.position(state.integrator))[model.symmetry]
        chi = jnp.where(state.diverged[:, None], jnp.nan, chi).reshape(-1)
        return jnp.nanmean(chi), jnp.nanquantile(chi, jnp.asarray(CHI_QUANTILES, chi.dtype))

    compile_seconds = 0.0
    cache: dict = {}

    def call(fn, *args, length=None, donate=()):
        """Run fn(*args[, length]) compiled ahead of time, once per distinct static length."""
        nonlocal compile_seconds
        if (fn, length) not in cache:
            t0 = time.perf_counter()
            bound = fn if length is None else functools.partial(fn, length=length)
            cache[fn, length] = jax.jit(bound, donate_argnums=donate).lower(*args).compile()
            compile_seconds += time.perf_counter() - t0
        return cache[fn, length](*args)

    wall_start = time.perf_counter()
    state = call(initial_state, init_root)
    hist = hist_lib.empty(binnings, joint, chain_groups, dtype)
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
        state = call(burn_chunk, state, jnp.int32(step), length=length, donate=(0,))
        step += length
        record_chi(step)
        bar.update(length)
    while step < burn_in + steps:
        length = min(chunk_steps, burn_in + steps - step)
        state, hist = call(measure_chunk, state, hist, jnp.int32(step), length=length, donate=(0, 1))
        step += length
        record_chi(step)
        bar.update(length)
    bar.close()
    hist = jax.tree.map(np.asarray, hist)
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
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        chain_steps=chains * (burn_in + steps),
    )
