"""The host loop: compile each chunk once, run the chunks, record the chunk-end statistics, time it.

The work is in :mod:`langevin_ib.dynamics.kernel` (its docstring gives the divergence rule and the
noise streams); host contact happens only at chunk boundaries, so the numbers do not depend on
``chunk_steps`` or on the device count.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from langevin_ib.dynamics import accumulators as hist_lib
from langevin_ib.dynamics import kernel as kernel_lib
from langevin_ib.dynamics import sharding
from langevin_ib.dynamics.integrators.base import Hyperparameters, Integrator
from langevin_ib.dynamics.kernel import CHI_QUANTILES, ChainState, RunSizes
from langevin_ib.models.base import Model

__all__ = ["CHI_QUANTILES", "ChainState", "ChunkStatistic", "RunResult", "RunSizes", "simulate"]

ChunkStatistic = Callable[[kernel_lib.Kernel, ChainState], Any]  # (kernel, state) -> pytree of arrays


@dataclasses.dataclass
class RunResult:
    histograms: hist_lib.Histograms  # numpy arrays
    binnings: dict
    joint: tuple[str, str] | None
    chunk_statistics: dict  # name -> {"step": (n,), "value": its pytree, each leaf stacked over the n boundaries}
    diverged: int
    diverged_at: np.ndarray  # steps at which chains diverged
    final_state: ChainState
    chain_statistics: np.ndarray | None  # (chains, k): per-chain sums of the statistics over snapshots
    statistic_snapshots: int
    compile_seconds: float
    run_seconds: float
    chain_steps: int
    symmetry: str | None = None  # the model's χ, whose trace is chunk_statistics["chi"]

    @property
    def chi_trace(self) -> dict:
        """name, step, mean, quantiles (len(steps), len(CHI_QUANTILES)) of χ over alive chains."""
        if "chi" not in self.chunk_statistics:
            return {"name": self.symmetry, "step": np.zeros(0, np.int64), "mean": np.zeros(0),
                    "quantiles": np.zeros((0, len(CHI_QUANTILES)))}
        mean, quantiles = self.chunk_statistics["chi"]["value"]
        return {"name": self.symmetry, "step": self.chunk_statistics["chi"]["step"], "mean": mean, "quantiles": quantiles}


def as_data(hyperparameters: Hyperparameters, dtype, split, replicated) -> Hyperparameters:
    """Arrays of the run's dtype on the devices: per-chain values split with the chains, scalars replicated."""
    arrays = [jnp.asarray(h, dtype) for h in hyperparameters]
    return Hyperparameters(*(jax.device_put(a, split if a.ndim else replicated) for a in arrays))


def stacked(recorded: dict) -> dict:
    """Chunk-statistics records with each leaf stacked over the boundaries."""
    return {name: {"step": np.asarray(r["step"], np.int64), "value": jax.tree.map(lambda *v: np.stack(v), *r["value"])}
            for name, r in recorded.items()}


def unstacked(records: dict) -> dict:
    """The inverse of :func:`stacked`."""
    return {name: {"step": [int(s) for s in r["step"]],
                   "value": [jax.tree.map(lambda v: v[i], r["value"]) for i in range(len(r["step"]))]}
            for name, r in records.items()}


def simulate(
    model: Model,
    integrator: Integrator,
    hyperparameters: Hyperparameters,
    sizes: RunSizes,
    *,
    binnings: dict[str, hist_lib.Binning],
    statistics: tuple[Callable[[jax.Array, Any], jax.Array], ...] = (),
    statistic_every: int = 1,
    chunk_statistics: dict[str, ChunkStatistic] | None = None,
    progress: bool = True,
    checkpoint: Any = None,
) -> RunResult:
    """Run ``sizes.chains`` chains for burn_in + steps steps, observing every ``thin`` steps after burn-in.

    Each of ``statistics``, ``fn(key, params) -> (k,)``, is evaluated on every chain at every
    ``statistic_every``-th observation and summed per chain (``RunResult.chain_statistics``
    concatenates them; keys in :class:`~langevin_ib.dynamics.kernel.Keys`). Each of
    ``chunk_statistics`` is evaluated on the ensemble at step 0 and at every chunk boundary and
    recorded; by default the χ quantile trace (:func:`~langevin_ib.dynamics.kernel.chi_quantiles`)
    of a symmetric model. ``checkpoint`` (:class:`langevin_ib.dynamics.checkpoint.Checkpointer`)
    resumes from its saved carry and sees the carry at every chunk boundary."""
    if chunk_statistics is None:
        chunk_statistics = {"chi": kernel_lib.chi_quantiles} if model.symmetry is not None else {}
    kernel = kernel_lib.build(model, integrator, sizes, binnings, statistics, statistic_every)
    keys = kernel_lib.keys(sizes.seed)
    split, replicated = sharding.chain_shardings(sizes.chains)
    dtype = jax.tree.leaves(jax.eval_shape(model.init, keys.init))[0].dtype
    hyperparameters = as_data(hyperparameters, dtype, split, replicated)
    statistic_snapshots = (sizes.steps // sizes.thin) // statistic_every if statistics else 0

    compile_seconds = 0.0
    cache: dict = {}

    def call(fn, *args, length=None, donate=(), out_shardings=None):
        """Run fn(kernel, *args[, length]) compiled ahead of time, once per distinct static length."""
        nonlocal compile_seconds
        if (fn, length) not in cache:
            t0 = time.perf_counter()
            bound = functools.partial(fn, kernel) if length is None else functools.partial(fn, kernel, length=length)
            jitted = jax.jit(bound, donate_argnums=donate, out_shardings=out_shardings)
            cache[fn, length] = jitted.lower(*args).compile()
            compile_seconds += time.perf_counter() - t0
        return cache[fn, length](*args)

    wall_start = time.perf_counter()
    state = call(kernel_lib.initial_state, keys.init, hyperparameters, out_shardings=split)
    observation_shapes = jax.eval_shape(lambda st: jax.vmap(model.observe)(integrator.position(st.integrator)), state)
    acc = hist_lib.empty(binnings, kernel.joint, sizes.chain_groups, observation_shapes)
    accumulator_shardings = hist_lib.shardings(split, replicated)
    acc = jax.device_put(acc, accumulator_shardings)
    sums = None
    if statistics:
        shape = jax.eval_shape(functools.partial(kernel_lib.statistics_at, kernel), keys.statistics,
                               integrator.position(state.integrator), jnp.int32(0))
        sums = jax.device_put(jnp.zeros(shape.shape, shape.dtype), split)
    recorded = {name: {"step": [], "value": []} for name in chunk_statistics}

    def record(step):
        for name, fn in chunk_statistics.items():
            recorded[name]["step"].append(step)
            recorded[name]["value"].append(jax.tree.map(np.asarray, call(fn, state)))

    record(0)
    step, end = 0, sizes.burn_in + sizes.steps
    if checkpoint is not None and (restored := checkpoint.restore((state, acc, sums), stacked(recorded))) is not None:
        step, (state, acc, sums), records = restored
        recorded = unstacked(records)
    bar = tqdm(total=end, initial=step, desc="chain steps", unit="step", disable=not progress, leave=False)
    while step < end:
        length = min(sizes.chunk_steps, (sizes.burn_in if step < sizes.burn_in else end) - step)
        if step < sizes.burn_in:
            state = call(kernel_lib.advance, keys.noise, state, hyperparameters, jnp.int32(step), length=length,
                         donate=(1,), out_shardings=split)
        else:
            state, acc, sums = call(kernel_lib.measure, keys, state, acc, sums, hyperparameters, jnp.int32(step),
                                    length=length, donate=(1, 2, 3), out_shardings=(split, accumulator_shardings, split))
        step += length
        record(step)
        if checkpoint is not None:
            checkpoint.boundary(step, (state, acc, sums), stacked(recorded))
        bar.update(length)
    bar.close()
    histograms = hist_lib.finalize(acc, sizes.chain_groups)
    run_seconds = time.perf_counter() - wall_start - compile_seconds
    diverged_at = np.asarray(state.diverged_at)
    return RunResult(
        histograms=histograms,
        binnings=binnings,
        joint=kernel.joint,
        chunk_statistics={name: {"step": np.asarray(r["step"], np.int64),
                                 "value": jax.tree.map(lambda *v: np.stack(v), *r["value"])}
                          for name, r in recorded.items()},
        diverged=int(np.asarray(state.diverged).sum()),
        diverged_at=diverged_at[diverged_at >= 0],
        final_state=state,
        chain_statistics=None if sums is None else np.asarray(sums),
        statistic_snapshots=statistic_snapshots,
        compile_seconds=compile_seconds,
        run_seconds=run_seconds,
        chain_steps=sizes.chains * (sizes.burn_in + sizes.steps),
        symmetry=model.symmetry,
    )
