"""The host loop of every simulation: a grid of runs as one compiled program, the chunk kernel
(:mod:`langevin_ib.dynamics.kernel`) applied to each point of a leading axis of grid points in turn.
A single run is a grid of one point (:func:`simulate_run`), so a sweep point is bitwise the run
alone. The points are a loop (``lax.map``), not a ``vmap``: XLA simplifies a size-one point axis
(a run alone) differently from a longer one, and the two then round differently at float32
(measured: docs/engineering.md, "One execution path"); a loop runs the same per-point program for
any number of points, and one trip per chunk and point costs nothing beside the chunk.

Each point has its own hyperparameters (data, so one compile serves every value). Without per-point
seeds all points share the run's keys (common random numbers): step k of every point draws the same
noise. With ``seeds`` each point draws from its own keys. Snapshot statistics that depend on T or λ
are built from the point's traced hyperparameters inside the kernel; chunk statistics (the χ
trace, the SGD bands) are evaluated for each point and recorded at step 0 and at every chunk
boundary. The chain axis (axis 1) is split over the devices (:mod:`langevin_ib.dynamics.sharding`);
under several processes each steps its devices' chains, every array is placed by a compiled call
(no host array crosses a process), and the host reads gather the global arrays, so every process
holds the same results.

Host contact happens between compiled calls only, and the noise of step k is fold_in(noise key, k),
so the numbers do not depend on ``chunk_steps``. A call that takes longer than twice
:data:`MAX_CALL_SECONDS` makes the loop split the rest of the run into calls of fewer steps (a
multiple of ``thin``, so the checks fall on the same steps): from then on a signal is answered
within about that time whatever the chunk length, and the numbers do not change. (The first call is
not split: it is what measures a call's cost.)
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from langevin_ib.dynamics import accumulators as hist_lib
from langevin_ib.dynamics import kernel as kernel_lib
from langevin_ib.dynamics import sharding
from langevin_ib.dynamics.integrators.base import Hyperparameters, Integrator
from langevin_ib.dynamics.kernel import RunSizes
from langevin_ib.dynamics.result import ChunkStatistic, RunResult
from langevin_ib.models.base import Model

StatisticsOf = Callable[[Hyperparameters], tuple[Callable, ...]]  # one point's hyperparameters -> its statistics
MAX_CALL_SECONDS = 1.0  # a compiled call longer than this splits the following ones (signal latency)


def schedule(sizes: RunSizes) -> list[tuple[bool, int, int]]:
    """(measuring, start, length) of every chunk: burn-in, then measured steps, in chunks of ``chunk_steps``."""
    out, step, end = [], 0, sizes.burn_in + sizes.steps
    while step < end:
        length = min(sizes.chunk_steps, (sizes.burn_in if step < sizes.burn_in else end) - step)
        out.append((step >= sizes.burn_in, step, length))
        step += length
    return out


def stacked(recorded: dict) -> dict:
    """Chunk-statistics records with each leaf stacked over the boundaries."""
    return {name: {"step": np.asarray(r["step"], np.int64), "value": jax.tree.map(lambda *v: np.stack(v), *r["value"])}
            for name, r in recorded.items()}


def unstacked(records: dict) -> dict:
    """The inverse of :func:`stacked`."""
    return {name: {"step": [int(s) for s in r["step"]],
                   "value": [jax.tree.map(lambda v: v[i], r["value"]) for i in range(len(r["step"]))]}
            for name, r in records.items()}


def exclude(bar: Any, seconds: float) -> None:
    """Keep ``seconds`` (a compile) out of a tqdm bar's rate and elapsed time; the bar's postfix counts them."""
    if bar is None or getattr(bar, "disable", True):
        return
    bar.start_t += seconds
    bar.last_print_t += seconds
    bar.compile_seconds = getattr(bar, "compile_seconds", 0.0) + seconds
    bar.set_postfix_str(f"compile {bar.compile_seconds:.1f} s", refresh=False)


def shorter(length: int, seconds: float, thin: int, limit: float) -> int | None:
    """Steps per call after a call of ``length`` steps took ``seconds``: None while within twice
    ``limit`` (so timing noise does not compile new lengths), else a multiple of ``thin`` expected to
    take about ``limit``."""
    if seconds <= 2 * limit or length <= thin:
        return None
    return max(thin, int(length * limit / seconds) // thin * thin)


def placed(keys: kernel_lib.Keys, where: NamedSharding) -> kernel_lib.Keys:
    """``keys`` placed ``where`` through their host bits and a compiled call, which works across processes."""
    bits = jax.tree.map(lambda k: np.asarray(jax.random.key_data(k)), keys)
    return jax.jit(lambda b: jax.tree.map(jax.random.wrap_key_data, b), out_shardings=where)(bits)


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
    max_call_seconds: float = MAX_CALL_SECONDS,
) -> tuple[list[RunResult], float]:
    """Run every grid point (hyperparameters of shape (points,)) for burn_in + steps steps, observing
    every ``thin`` steps after burn-in.

    Returns (one RunResult per point, with the grid's run time shared equally among the points; the
    compile seconds of the grid). ``statistics(h)``, each ``fn(key, params) -> (k,)``, are evaluated
    on every chain at every ``statistic_every``-th observation and summed per chain
    (``RunResult.chain_statistics``; keys in :class:`~langevin_ib.dynamics.kernel.Keys`). Each of
    ``chunk_statistics`` is evaluated at step 0 and at every chunk boundary; by default the χ quantile
    trace (:func:`~langevin_ib.dynamics.kernel.chi_quantiles`) of a symmetric model. ``bar``, a tqdm
    bar counted in point-steps, advances after each call; compile time is kept out of its rate
    (:func:`exclude`). ``checkpoint`` (:class:`langevin_ib.dynamics.checkpoint.Checkpointer`) resumes
    from its saved grid carry, sees the carry at every chunk boundary and keeps the final one."""
    points = int(np.shape(hyperparameters.temperature)[0])
    if chunk_statistics is None:
        chunk_statistics = {"chi": kernel_lib.chi_quantiles} if model.symmetry is not None else {}
    dtype = jax.tree.leaves(jax.eval_shape(model.init, jax.random.key(0)))[0].dtype
    split_chains, replicated = sharding.chain_shardings(sizes.chains)
    split = NamedSharding(split_chains.mesh, PartitionSpec(None, "chains"))
    hp = Hyperparameters(*(np.asarray(h, dtype) for h in hyperparameters))
    hp = jax.jit(lambda h: h, out_shardings=replicated)(hp)
    if seeds is None:
        keys, key_axis = placed(kernel_lib.keys(sizes.seed), replicated), None
    else:
        keys, key_axis = placed(jax.vmap(kernel_lib.keys)(jnp.asarray(seeds)), replicated), 0

    def kernel_of(h):
        return kernel_lib.build(model, integrator, sizes, binnings, statistics(h) if statistics else (), statistic_every)

    def each(fn):
        """``(keys, *per_point) -> fn(key, *point)`` for every point in turn, the keys shared or per point."""
        if key_axis is None:
            return lambda ks, *args: jax.lax.map(lambda point: fn(ks, *point), args)
        return lambda ks, *args: jax.lax.map(lambda point: fn(*point), (ks, *args))

    init = each(lambda key, h: kernel_lib.initial_state(kernel_of(h), key, h))

    def advance(length):
        return lambda key, state, hp, start: each(
            lambda k, st, h: kernel_lib.advance(kernel_of(h), k, st, h, start, length))(key, state, hp)

    def measure(length):
        return lambda ks, state, acc, sums, hp, start: each(
            lambda k, st, a, su, h: kernel_lib.measure(kernel_of(h), k, st, a, su, h, start, length)
        )(ks, state, acc, sums, hp)

    compile_seconds = 0.0
    programs: dict = {}

    def compiled(name, fn, *args, donate=(), out_shardings=None):
        """``fn`` compiled ahead of time for ``args``, once per ``name``."""
        nonlocal compile_seconds
        if name not in programs:
            t0 = time.perf_counter()
            programs[name] = jax.jit(fn, donate_argnums=donate, out_shardings=out_shardings).lower(*args).compile()
            seconds = time.perf_counter() - t0
            compile_seconds += seconds
            exclude(bar, seconds)
        return programs[name]

    wall_start = time.perf_counter()
    state = compiled("init", init, keys.init, hp, out_shardings=split)(keys.init, hp)
    first = Hyperparameters(*(h[0] for h in hp))
    observed = jax.eval_shape(lambda st: jax.vmap(model.observe)(integrator.position(st.integrator)),
                              jax.tree.map(lambda x: x[0], state))
    one = hist_lib.empty(binnings, kernel_lib.joint_axes(model, binnings), sizes.chain_groups, observed)
    acc_shardings = hist_lib.Accumulators(split, split, split, split)
    acc = jax.jit(lambda: jax.tree.map(lambda x: jnp.broadcast_to(x, (points, *x.shape)), one),
                  out_shardings=acc_shardings)()
    sums = None
    if statistics is not None and statistics(first):
        shape = jax.eval_shape(each(lambda ks, st, h: kernel_lib.statistics_at(
            kernel_of(h), ks.statistics, integrator.position(st.integrator), jnp.int32(0))), keys, state, hp)
        sums = jax.jit(lambda: jnp.zeros(shape.shape, shape.dtype), out_shardings=split)()

    def call(measuring, start, length, carry):
        """``length`` steps from ``start``: burn-in (advance) or measured (measure)."""
        state, acc, sums = carry
        if measuring:
            return compiled((True, length), measure(length), keys, state, acc, sums, hp, np.int32(0),
                            donate=(1, 2, 3), out_shardings=(split, acc_shardings, split)
                            )(keys, state, acc, sums, hp, np.int32(start))
        state = compiled((False, length), advance(length), keys.noise, state, hp, np.int32(0), donate=(1,),
                         out_shardings=split)(keys.noise, state, hp, np.int32(start))
        return state, acc, sums

    chunk_programs = {name: compiled(name, lambda state, h, fn=fn: jax.lax.map(lambda p: fn(kernel_of(p[1]), p[0]),
                                                                                (state, h)), state, hp)
                      for name, fn in chunk_statistics.items()}
    recorded = {name: {"step": [], "value": []} for name in chunk_programs}

    def record(step, state):
        for name, program in chunk_programs.items():
            recorded[name]["step"].append(step)
            recorded[name]["value"].append(jax.tree.map(np.asarray, sharding.gathered(program(state, hp))))

    record(0, state)
    step, carry = 0, (state, acc, sums)
    if checkpoint is not None and (restored := checkpoint.restore(carry, stacked(recorded))) is not None:
        step, carry, saved = restored
        recorded = unstacked(saved)
        if bar is not None:
            bar.update(points * step)
    piece = None  # steps per call once a call has taken longer than max_call_seconds
    for measuring, start, length in schedule(sizes):
        end = start + length
        if end <= step:  # done before the checkpoint resumed here, its boundary recorded
            continue
        at = max(start, step)  # a checkpoint may stop a chunk between two of its calls
        while at < end:
            length = end - at if piece is None else min(piece, end - at)
            t0, compiling = time.perf_counter(), compile_seconds
            carry = jax.block_until_ready(call(measuring, at, length, carry))
            seconds = float(sharding.agreed_max(time.perf_counter() - t0 - (compile_seconds - compiling)))
            piece = shorter(length, seconds, sizes.thin, max_call_seconds) or piece
            at += length
            if bar is not None:
                bar.update(points * length)
            if at < end and checkpoint is not None:
                checkpoint.between(at, carry, stacked(recorded))
        record(end, carry[0])
        if checkpoint is not None:
            checkpoint.boundary(end, carry, stacked(recorded))
    if checkpoint is not None:
        checkpoint.save(sizes.burn_in + sizes.steps, carry, stacked(recorded))
    state, acc, sums = sharding.gathered(carry)
    run_seconds = time.perf_counter() - wall_start - compile_seconds
    snapshots = (sizes.steps // sizes.thin) // statistic_every if sums is not None else 0
    records = stacked(recorded)  # each leaf (boundaries, points, ...)
    results = []
    for p in range(points):
        state_p = jax.tree.map(lambda x: x[p], state)
        diverged_at = np.asarray(state_p.diverged_at)
        results.append(RunResult(
            histograms=hist_lib.finalize(jax.tree.map(lambda x: x[p], acc), sizes.chain_groups), binnings=binnings,
            joint=kernel_lib.joint_axes(model, binnings),
            chunk_statistics={name: {"step": r["step"], "value": jax.tree.map(lambda v: v[:, p], r["value"])}
                              for name, r in records.items()},
            diverged=int((diverged_at >= 0).sum()),
            diverged_at=diverged_at[diverged_at >= 0], final_state=state_p,
            chain_statistics=None if sums is None else np.asarray(sums[p]), statistic_snapshots=snapshots,
            compile_seconds=compile_seconds / points, run_seconds=run_seconds / points,
            chain_steps=sizes.chains * (sizes.burn_in + sizes.steps), symmetry=model.symmetry))
    return results, compile_seconds


def simulate_run(
    model: Model,
    integrator: Integrator,
    hyperparameters: Hyperparameters,
    sizes: RunSizes,
    *,
    binnings: dict[str, hist_lib.Binning],
    statistics: StatisticsOf | tuple[Callable, ...] = (),
    statistic_every: int = 1,
    chunk_statistics: dict[str, ChunkStatistic] | None = None,
    progress: bool = False,
    checkpoint: Any = None,
) -> RunResult:
    """One run (scalar hyperparameters) as a grid of one point (:func:`simulate_grid`); ``statistics``
    as there, or a tuple of statistics that do not depend on the hyperparameters."""
    bar = tqdm(total=sizes.burn_in + sizes.steps, desc="chain steps", unit="step", disable=not progress, leave=False)
    one = Hyperparameters(*(np.asarray([h]) for h in hyperparameters))
    statistics_of = statistics if callable(statistics) else (lambda h: statistics)
    results, _ = simulate_grid(model, integrator, one, sizes, binnings=binnings, statistics=statistics_of,
                               statistic_every=statistic_every, chunk_statistics=chunk_statistics, bar=bar,
                               checkpoint=checkpoint)
    bar.close()
    return results[0]
