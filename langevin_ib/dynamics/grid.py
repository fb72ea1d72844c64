"""A grid of runs as one compiled program: the chunk kernel vmapped over a leading axis of grid points.

Each point has its own hyperparameters (data, so one compile serves every value). Without per-point
seeds all points share the run's keys (common random numbers): step k of every point draws the same
noise, so a grid point is bitwise the run of that point alone. With ``seeds`` each point draws from
its own keys. Snapshot statistics that depend on T or λ are built from the point's traced
hyperparameters inside the vmapped kernel; chunk statistics (the runner's, e.g. the χ trace or the SGD
bands) are vmapped over the points and recorded at the same boundaries as a single run. The chain
axis (axis 1) is split over local devices as in :mod:`langevin_ib.dynamics.runner`.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from langevin_ib.dynamics import accumulators as hist_lib
from langevin_ib.dynamics import kernel as kernel_lib
from langevin_ib.dynamics import sharding
from langevin_ib.dynamics.integrators.base import Hyperparameters, Integrator
from langevin_ib.dynamics.kernel import RunSizes
from langevin_ib.dynamics.runner import ChunkStatistic, RunResult, stacked, unstacked
from langevin_ib.models.base import Model

StatisticsOf = Callable[[Hyperparameters], tuple[Callable, ...]]  # one point's hyperparameters -> its statistics


def schedule(sizes: RunSizes) -> list[tuple[bool, int, int]]:
    """(measuring, start, length) of every chunk, as :func:`langevin_ib.dynamics.runner.simulate` runs them."""
    out, step, end = [], 0, sizes.burn_in + sizes.steps
    while step < end:
        length = min(sizes.chunk_steps, (sizes.burn_in if step < sizes.burn_in else end) - step)
        out.append((step >= sizes.burn_in, step, length))
        step += length
    return out


def point_bytes(model: Model, integrator: Integrator, sizes: RunSizes, binnings: dict, statistics_width: int) -> int:
    """Device bytes one grid point holds between chunks: chain state, accumulators and statistic sums."""
    kernel = kernel_lib.build(model, integrator, sizes, binnings)
    hp = Hyperparameters(jnp.float32(1), jnp.float32(1), jnp.float32(0))
    state = jax.eval_shape(lambda: kernel_lib.initial_state(kernel, jax.random.key(0), hp))
    observed = jax.eval_shape(lambda st: jax.vmap(model.observe)(integrator.position(st.integrator)), state)
    acc = jax.eval_shape(lambda: hist_lib.empty(binnings, kernel.joint, sizes.chain_groups, observed))
    leaves = jax.tree.leaves((state, acc))
    dtype_bytes = leaves[0].dtype.itemsize
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in leaves) + sizes.chains * statistics_width * dtype_bytes


def exclude(bar: Any, seconds: float) -> None:
    """Keep ``seconds`` (a compile) out of a tqdm bar's rate and elapsed time; the bar's postfix counts them."""
    if bar is None or getattr(bar, "disable", True):
        return
    bar.start_t += seconds
    bar.last_print_t += seconds
    bar.compile_seconds = getattr(bar, "compile_seconds", 0.0) + seconds
    bar.set_postfix_str(f"compile {bar.compile_seconds:.1f} s", refresh=False)


def simulate_grid(
    model: Model,
    integrator: Integrator,
    hyperparameters: Hyperparameters,
    sizes: RunSizes,
    *,
    binnings: dict[str, hist_lib.Binning],
    seeds: Sequence[int] | None = None,
    statistics: StatisticsOf | None = None,
    statistic_every: int = 1,
    chunk_statistics: dict[str, ChunkStatistic] | None = None,
    bar: Any = None,
    checkpoint: Any = None,
) -> tuple[list[RunResult], float]:
    """Run every grid point (hyperparameters of shape (points,)) for burn_in + steps steps.

    Returns (one RunResult per point, as :func:`~langevin_ib.dynamics.runner.simulate` returns it, with
    the grid's run time shared equally among the points; the compile seconds of the grid).
    ``chunk_statistics`` as in :func:`~langevin_ib.dynamics.runner.simulate` (default the χ trace), each
    point's recorded as that point's single run records it. ``bar``,
    a tqdm bar counted in point-steps, is advanced after each chunk; compile time is kept out of its
    rate (:func:`exclude`). ``checkpoint`` (:class:`langevin_ib.dynamics.checkpoint.Checkpointer`)
    resumes from its saved grid carry, sees the carry at every chunk boundary and keeps the final one."""
    points = int(np.shape(hyperparameters.temperature)[0])
    if chunk_statistics is None:
        chunk_statistics = {"chi": kernel_lib.chi_quantiles} if model.symmetry is not None else {}
    dtype = jax.tree.leaves(jax.eval_shape(model.init, jax.random.key(0)))[0].dtype
    split_chains, replicated = sharding.chain_shardings(sizes.chains)
    split = NamedSharding(split_chains.mesh, PartitionSpec(None, "chains"))
    hp = jax.device_put(Hyperparameters(*(jnp.asarray(h, dtype) for h in hyperparameters)), replicated)
    if seeds is None:
        keys, key_axis = kernel_lib.keys(sizes.seed), None
    else:
        keys, key_axis = jax.vmap(kernel_lib.keys)(jnp.asarray(seeds)), 0

    def kernel_of(h):
        return kernel_lib.build(model, integrator, sizes, binnings, statistics(h) if statistics else (), statistic_every)

    init = jax.vmap(lambda key, h: kernel_lib.initial_state(kernel_of(h), key, h), (key_axis, 0))

    def advance(length):
        return jax.vmap(lambda key, state, h, start: kernel_lib.advance(kernel_of(h), key, state, h, start, length),
                        (key_axis, 0, 0, None))

    def measure(length):
        return jax.vmap(lambda ks, state, acc, sums, h, start: kernel_lib.measure(kernel_of(h), ks, state, acc, sums,
                                                                                    h, start, length),
                        (key_axis, 0, 0, 0, 0, None))

    compile_seconds = 0.0

    def compiled(fn, *args, donate=(), out_shardings=None):
        nonlocal compile_seconds
        t0 = time.perf_counter()
        out = jax.jit(fn, donate_argnums=donate, out_shardings=out_shardings).lower(*args).compile()
        seconds = time.perf_counter() - t0
        compile_seconds += seconds
        exclude(bar, seconds)
        return out

    wall_start = time.perf_counter()
    state = compiled(init, keys.init, hp, out_shardings=split)(keys.init, hp)
    observed = jax.eval_shape(lambda st: jax.vmap(model.observe)(integrator.position(st.integrator)),
                              jax.tree.map(lambda x: x[0], state))
    one = hist_lib.empty(binnings, kernel_of(Hyperparameters(*(h[0] for h in hp))).joint, sizes.chain_groups, observed)
    acc_shardings = hist_lib.Accumulators(replicated, replicated, split, split)
    acc = jax.device_put(jax.tree.map(lambda x: jnp.broadcast_to(x, (points, *x.shape)), one), acc_shardings)
    sums = None
    if statistics is not None and statistics(Hyperparameters(*(h[0] for h in hp))):
        shape = jax.eval_shape(jax.vmap(lambda ks, st, h: kernel_lib.statistics_at(
            kernel_of(h), ks.statistics, integrator.position(st.integrator), jnp.int32(0)), (key_axis, 0, 0)),
            keys, state, hp)
        sums = jax.device_put(jnp.zeros(shape.shape, shape.dtype), split)
    plan = schedule(sizes)
    programs = {}
    for measuring, _, length in plan:
        if (measuring, length) in programs:
            continue
        if measuring:
            programs[True, length] = compiled(measure(length), keys, state, acc, sums, hp, jnp.int32(0),
                                              donate=(1, 2, 3), out_shardings=(split, acc_shardings, split))
        else:
            programs[False, length] = compiled(advance(length), keys.noise, state, hp, jnp.int32(0),
                                               donate=(1,), out_shardings=split)
    chunk_programs = {name: compiled(jax.vmap(lambda state, h, fn=fn: fn(kernel_of(h), state)), state, hp)
                      for name, fn in chunk_statistics.items()}
    recorded = {name: {"step": [], "value": []} for name in chunk_programs}

    def record(step):
        for name, program in chunk_programs.items():
            recorded[name]["step"].append(step)
            recorded[name]["value"].append(jax.tree.map(np.asarray, program(state, hp)))

    record(0)
    step = 0
    if checkpoint is not None and (restored := checkpoint.restore((state, acc, sums), stacked(recorded))) is not None:
        step, (state, acc, sums), saved = restored
        recorded = unstacked(saved)
        if bar is not None:
            bar.update(points * step)
    for measuring, start, length in plan:
        if start < step:
            continue
        if measuring:
            state, acc, sums = programs[True, length](keys, state, acc, sums, hp, jnp.int32(start))
        else:
            state = programs[False, length](keys.noise, state, hp, jnp.int32(start))
        record(start + length)
        if checkpoint is not None:
            checkpoint.boundary(start + length, (state, acc, sums), stacked(recorded))
        if bar is not None:
            bar.update(points * length)
    if checkpoint is not None:
        checkpoint.save(sizes.burn_in + sizes.steps, (state, acc, sums), stacked(recorded))
    jax.block_until_ready(state)
    run_seconds = time.perf_counter() - wall_start - compile_seconds
    snapshots = (sizes.steps // sizes.thin) // statistic_every if sums is not None else 0
    records = stacked(recorded)  # each leaf (boundaries, points, ...)
    results = []
    for p in range(points):
        acc_p = jax.tree.map(lambda x: x[p], acc)
        state_p = jax.tree.map(lambda x: x[p], state)
        diverged_at = np.asarray(state_p.diverged_at)
        results.append(RunResult(
            histograms=hist_lib.finalize(acc_p, sizes.chain_groups), binnings=binnings,
            joint=(model.quotient, model.symmetry) if model.symmetry in binnings and model.quotient in binnings else None,
            chunk_statistics={name: {"step": r["step"], "value": jax.tree.map(lambda v: v[:, p], r["value"])}
                              for name, r in records.items()},
            diverged=int((diverged_at >= 0).sum()),
            diverged_at=diverged_at[diverged_at >= 0], final_state=state_p,
            chain_statistics=None if sums is None else np.asarray(sums[p]), statistic_snapshots=snapshots,
            compile_seconds=compile_seconds / points, run_seconds=run_seconds / points,
            chain_steps=sizes.chains * (sizes.burn_in + sizes.steps), symmetry=model.symmetry))
    return results, compile_seconds
