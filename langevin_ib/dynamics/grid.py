"""The host loop of every simulation: a grid of runs as one compiled program, the chunk kernel
(:mod:`langevin_ib.dynamics.kernel`) applied to each point of a leading axis of grid points in turn.
A single run is a grid of one point (:func:`simulate_run`), so a sweep point is bitwise the run
alone. The points are a loop (``lax.map``), not a ``vmap``: XLA simplifies a size-one point axis
(a run alone) differently from a longer one, and the two then round differently at float32
(measured: docs/engineering.md, "One execution path"); a loop runs the same per-point program for
any number of points, and one trip per chunk and point costs nothing beside the chunk. The initial
parameters are a compiled call of their own: in one program XLA:CPU fused their draw into
Leimkuhler–Matthews' anchor θ − c·ξ in a grid of one point only, and contracted it into another
fused multiply-add (same section).

Each point has its own hyperparameters (data, so one compile serves every value). Without per-point
seeds all points share the run's keys (common random numbers): step k of every point draws the same
noise. With ``seeds`` each point draws from its own keys. Snapshot statistics that depend on T or λ
are built from the point's traced hyperparameters inside the kernel; chunk statistics (the χ
trace, the SGD bands) are evaluated for each point and recorded at step 0 and at every chunk
boundary. The chain axis (axis 1) is split over the devices (:mod:`langevin_ib.dynamics.sharding`);
under several processes each steps its devices' chains, every array is placed by a compiled call
(no host array crosses a process), and the host reads gather the global arrays, so every process
holds the same results.

Each point's durations are data (:class:`~langevin_ib.dynamics.kernel.Budget`): the loop runs
blocks of ``thin`` steps, burn-in blocks then the window's observations, and a point given fewer
steps (durations in time at a larger η) is frozen through the blocks it lacks, so the
points of an η sweep at fixed time share one program and each equals its run alone.

Host contact happens between compiled calls only, and the noise of step k is fold_in(noise key, k),
so the numbers do not depend on ``chunk_steps``. The number of blocks of a call is data too, so calls
of any length run one compiled program: the first call of each program is a probe of
:data:`PROBE_BLOCKS` blocks, and every later call is sized by the time of the one before to take
about :data:`MAX_CALL_SECONDS`, so a signal is answered within about that time (plus the probe)
whatever the chunk length, and the numbers do not change.
"""

from __future__ import annotations

import time
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from langevin_ib.dynamics import accumulators as hist_lib
from langevin_ib.dynamics import kernel as kernel_lib
from langevin_ib.dynamics import sharding
from langevin_ib.dynamics.integrators.base import Hyperparameters, Integrator
from langevin_ib.dynamics.kernel import Budget, RunSizes
from langevin_ib.dynamics.result import ChunkStatistic, RunResult
from langevin_ib.models.base import Model

StatisticsOf = Callable[[Hyperparameters], tuple[Callable, ...]]  # one point's hyperparameters -> its statistics
MAX_CALL_SECONDS = 1.0  # calls are sized to take about this long (signal latency)
PROBE_BLOCKS = 1  # the first call of each program: its time sizes the following calls
CHUNKS = 20  # chunks of a run whose thinning is per point (run.thin_time): the same boundaries at every point


class Schedule(NamedTuple):
    """A grid's chunks in blocks: ``burn_in`` blocks of thin steps (the last cut at the burn-in's end),
    then ``observations`` blocks of the window, in chunks of ``chunk`` blocks; a point with fewer
    blocks of either stays frozen through the others' (:class:`~langevin_ib.dynamics.kernel.Budget`)."""

    burn_in: int
    observations: int
    chunk: int

    def chunks(self) -> list[tuple[bool, int, int]]:
        """(measuring, first block of its phase, blocks) of every chunk."""
        return [(measuring, first, min(self.chunk, phase - first))
                for measuring, phase in ((False, self.burn_in), (True, self.observations))
                for first in range(0, phase, self.chunk)]


def budgets(sizes: RunSizes, per_point: Budget | None) -> Budget:
    """The budget of every point: ``per_point``'s int32 arrays of shape (points,) (an int where shared),
    or the static one of ``sizes`` (every point the same steps)."""
    if per_point is None:
        return Budget(sizes.burn_in, sizes.thin, sizes.steps // sizes.thin)
    return Budget(*(b if isinstance(b, int) else np.asarray(b, np.int64) for b in per_point))


def schedule_of(sizes: RunSizes, budget: Budget) -> Schedule:
    """The grid's :class:`Schedule`: chunks of ``chunk_steps`` steps where the thinning is shared, else
    :data:`CHUNKS` chunks of the longest point."""
    burn_in = int(np.max(-(-np.asarray(budget.burn_in) // np.asarray(budget.thin))))
    observations = int(np.max(budget.observations))
    if isinstance(budget.thin, int):
        return Schedule(burn_in, observations, max(1, sizes.chunk_steps // budget.thin))
    return Schedule(burn_in, observations, max(1, -(-(burn_in + observations) // CHUNKS)))


def steps_at(budget: Budget, plan: Schedule, done: int) -> np.ndarray:
    """The step each point has reached after ``done`` blocks of the grid (burn-in blocks, then the
    window's); ``budget`` of (points,) arrays."""
    if done <= plan.burn_in:
        return np.minimum(done * budget.thin, budget.burn_in)
    return budget.burn_in + np.minimum(done - plan.burn_in, budget.observations) * budget.thin


def steps_named(steps: np.ndarray) -> str:
    """The steps of a grid's points as a checkpoint message names them."""
    low, high = int(np.min(steps)), int(np.max(steps))
    return f"step {low}" if low == high else f"steps {low} to {high} (by point)"


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


def piece(blocks: int, seconds: float, limit: float) -> int:
    """Blocks per call after a call of ``blocks`` blocks took ``seconds``: as many as take about ``limit``."""
    return int(max(1, min(blocks * limit / seconds, 2**31 - 1))) if seconds > 0 else blocks


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
    per_point: Budget | None = None,
    statistics: StatisticsOf | None = None,
    statistic_every: int = 1,
    chunk_statistics: dict[str, ChunkStatistic] | None = None,
    bar: Any = None,
    checkpoint: Any = None,
    max_call_seconds: float = MAX_CALL_SECONDS,
    data: tuple[Callable, Any] | None = None,
) -> tuple[list[RunResult], float]:
    """Run every grid point (hyperparameters of shape (points,)) for burn_in + steps steps, observing
    every ``thin`` steps after burn-in: the steps of ``sizes``, or each point's of ``per_point`` (as data
    of the one program: durations given in time).

    Returns (one RunResult per point, with the grid's run time shared equally among the points; the
    compile seconds of the grid). ``statistics(h)``, each ``fn(key, params) -> (k,)``, are evaluated
    on every chain at every ``statistic_every``-th observation and summed per chain
    (``RunResult.chain_statistics``; keys in :class:`~langevin_ib.dynamics.kernel.Keys`). Each of
    ``chunk_statistics`` is evaluated at step 0 and at every chunk boundary; by default the χ quantile
    trace (:func:`~langevin_ib.dynamics.kernel.chi_quantiles`) of a symmetric model. ``bar``, a tqdm
    bar counted in point-steps, advances after each call; compile time is kept out of its rate
    (:func:`exclude`). ``checkpoint`` (:class:`langevin_ib.dynamics.checkpoint.Checkpointer`) resumes
    from its saved grid carry, sees the carry at every chunk boundary and keeps the final one. Calls
    are sized by the time of the one before (:func:`piece`), the first of each program a probe of
    :data:`PROBE_BLOCKS` blocks; the block counts are data, so this compiles nothing more. ``data``,
    ``(parts, arrays)``: each point's (model, integrator, statistics) are ``parts(its arrays)``, built in the
    point's traced body (``arrays`` a pytree with the points leading: a sweep over data sets is one program);
    ``model`` then gives only shapes."""
    points = int(np.shape(hyperparameters.temperature)[0])
    if chunk_statistics is None:
        chunk_statistics = {"chi": kernel_lib.chi_quantiles} if model.symmetry is not None else {}
    budget = budgets(sizes, per_point)
    plan = schedule_of(sizes, budget)
    host = Budget(*(np.broadcast_to(np.asarray(b, np.int64), (points,)) for b in budget))
    shared = {f: b for f, b in budget._asdict().items() if isinstance(b, int)}
    varying = {f: np.asarray(b, np.int32) for f, b in budget._asdict().items() if f not in shared}
    dtype = jax.tree.leaves(jax.eval_shape(model.init, jax.random.key(0)))[0].dtype
    split_chains, replicated = sharding.chain_shardings(sizes.chains)
    split = NamedSharding(split_chains.mesh, PartitionSpec(None, "chains"))
    hp = Hyperparameters(*(np.asarray(h, dtype) for h in hyperparameters))
    bound = np.asarray(sizes.divergence_bound, dtype)  # data, so runs that differ only in it share the programs
    arrays = None if data is None else jax.tree.map(lambda x: np.asarray(x, dtype if np.issubdtype(
        np.asarray(x).dtype, np.floating) else None), data[1])
    hp, varying, bound, arrays = jax.jit(lambda *a: a, out_shardings=replicated)(hp, varying, bound, arrays)
    if seeds is None:
        keys, key_axis = placed(kernel_lib.keys(sizes.seed), replicated), None
    else:
        keys, key_axis = placed(jax.vmap(kernel_lib.keys)(jnp.asarray(seeds)), replicated), 0

    def kernel_of(h, a):
        m, i, s = (model, integrator, statistics) if data is None else data[0](a)
        return kernel_lib.build(m, i, sizes, binnings, s(h) if s else (), statistic_every)

    def each(fn):
        """``(keys, *per_point) -> fn(key, *point)`` for every point in turn, the keys shared or per point."""
        if key_axis is None:
            return lambda ks, *args: jax.lax.map(lambda point: fn(ks, *point), args)
        return lambda ks, *args: jax.lax.map(lambda point: fn(*point), (ks, *args))

    parameters = each(lambda key, h, a: kernel_lib.initial_parameters(kernel_of(h, a), key))
    init = each(lambda key, p, h, a: kernel_lib.initial_state(kernel_of(h, a), key, p, h))
    advance = lambda key, state, hp, v, arrays, bound, first, count: each(
        lambda k, st, h, b, a: kernel_lib.advance(kernel_of(h, a), k, st, h, Budget(**shared, **b), first, count,
                                                  bound)
    )(key, state, hp, v, arrays)
    measure = lambda ks, state, acc, sums, hp, v, arrays, bound, first, count: each(
        lambda k, st, ac, su, h, b, a: kernel_lib.measure(kernel_of(h, a), k, st, ac, su, h, Budget(**shared, **b),
                                                          first, count, bound)
    )(ks, state, acc, sums, hp, v, arrays)

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
    params = compiled("parameters", parameters, keys.init, hp, arrays, out_shardings=split)(
        keys.init, hp, arrays)  # see the docstring
    state = compiled("init", init, keys.init, params, hp, arrays, donate=(1,), out_shardings=split)(
        keys.init, params, hp, arrays)
    first = Hyperparameters(*(h[0] for h in hp))
    observed = jax.eval_shape(lambda st: jax.vmap(model.observe)(integrator.position(st.integrator)),
                              jax.tree.map(lambda x: x[0], state))
    one = hist_lib.empty(binnings, kernel_lib.joint_axes(model, binnings), sizes.chain_groups, observed)
    acc_shardings = hist_lib.Accumulators(split, split, split, split)
    acc = jax.jit(lambda: jax.tree.map(lambda x: jnp.broadcast_to(x, (points, *x.shape)), one),
                  out_shardings=acc_shardings)()
    sums = None
    if statistics is not None and statistics(first):
        shape = jax.eval_shape(each(lambda ks, st, h, a: kernel_lib.statistics_at(
            kernel_of(h, a), ks.statistics, integrator.position(st.integrator), jnp.int32(0))), keys, state, hp, arrays)
        sums = jax.jit(lambda: jnp.zeros(shape.shape, shape.dtype), out_shardings=split)()

    def call(measuring, first, count, carry):
        """``count`` blocks from block ``first`` of the burn-in (advance) or the window (measure)."""
        state, acc, sums = carry
        at = (np.int32(first), np.int32(count))
        if measuring:
            return compiled("measure", measure, keys, state, acc, sums, hp, varying, arrays, bound, *at,
                            donate=(1, 2, 3), out_shardings=(split, acc_shardings, split))(
                keys, state, acc, sums, hp, varying, arrays, bound, *at)
        state = compiled("advance", advance, keys.noise, state, hp, varying, arrays, bound, *at, donate=(1,),
                         out_shardings=split)(keys.noise, state, hp, varying, arrays, bound, *at)
        return state, acc, sums

    chunk_programs = {name: compiled(name, lambda state, h, a, fn=fn: jax.lax.map(
        lambda p: fn(kernel_of(p[1], p[2]), p[0]), (state, h, a)), state, hp, arrays)
                      for name, fn in chunk_statistics.items()}
    recorded = {name: {"step": [], "value": []} for name in chunk_programs}  # "step": blocks done

    def record(done, state):
        for name, program in chunk_programs.items():
            recorded[name]["step"].append(done)
            recorded[name]["value"].append(jax.tree.map(np.asarray, sharding.gathered(program(state, hp, arrays))))

    record(0, state)
    done, carry = 0, (state, acc, sums)
    if checkpoint is not None and (restored := checkpoint.restore(carry, stacked(recorded))) is not None:
        done, carry, saved = restored
        recorded = unstacked(saved)
        if bar is not None:
            bar.update(int(steps_at(host, plan, done).sum()))
    pieces: dict = {}  # blocks per call of each program, from the time of its last call
    for measuring, start, length in plan.chunks():
        offset = plan.burn_in if measuring else 0  # blocks of the grid before this phase
        end = offset + start + length
        if end <= done:  # done before the checkpoint resumed here, its boundary recorded
            continue
        at = max(offset + start, done)  # a checkpoint may stop a chunk between two of its calls
        while at < end:
            count = min(pieces.get(measuring, PROBE_BLOCKS), end - at)
            t0, compiling = time.perf_counter(), compile_seconds
            carry = jax.block_until_ready(call(measuring, at - offset, count, carry))
            seconds = float(sharding.agreed_max(time.perf_counter() - t0 - (compile_seconds - compiling)))
            pieces[measuring] = piece(count, seconds, max_call_seconds)
            if bar is not None:
                bar.update(int((steps_at(host, plan, at + count) - steps_at(host, plan, at)).sum()))
            at += count
            if at < end and checkpoint is not None:
                checkpoint.between(at, carry, stacked(recorded), steps_named(steps_at(host, plan, at)))
        record(end, carry[0])
        if checkpoint is not None:
            checkpoint.boundary(end, carry, stacked(recorded), steps_named(steps_at(host, plan, end)))
    total = plan.burn_in + plan.observations
    if checkpoint is not None:
        checkpoint.save(total, carry, stacked(recorded))
    state, acc, sums = sharding.gathered(carry)
    run_seconds = time.perf_counter() - wall_start - compile_seconds
    records = stacked(recorded)  # each leaf (boundaries, points, ...)
    steps = {name: np.stack([steps_at(host, plan, int(b)) for b in r["step"]]) if len(r["step"]) else
             np.zeros((0, points), np.int64) for name, r in records.items()}  # (boundaries, points)
    results = []
    for p in range(points):
        state_p = jax.tree.map(lambda x: x[p], state)
        diverged_at = np.asarray(state_p.diverged_at)
        kept = {name: np.flatnonzero(np.diff(s[:, p], prepend=-1) > 0) for name, s in steps.items()}  # frozen ones dropped
        results.append(RunResult(
            histograms=hist_lib.finalize(acc, sizes.chain_groups, p), binnings=binnings,
            joint=kernel_lib.joint_axes(model, binnings),
            chunk_statistics={name: {"step": steps[name][kept[name], p],
                                     "value": jax.tree.map(lambda v: v[kept[name], p], r["value"])}
                              for name, r in records.items()},
            diverged=int((diverged_at >= 0).sum()),
            diverged_at=diverged_at[diverged_at >= 0], final_state=state_p,
            chain_statistics=None if sums is None else np.asarray(sums[p]),
            statistic_snapshots=int(host.observations[p]) // statistic_every if sums is not None else 0,
            compile_seconds=compile_seconds / points, run_seconds=run_seconds / points,
            chain_steps=sizes.chains * int(host.burn_in[p] + host.observations[p] * host.thin[p]), symmetry=model.symmetry))
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
    per_point: Budget | None = None,
    data: tuple[Callable, Any] | None = None,
) -> RunResult:
    """One run (scalar hyperparameters) as a grid of one point (:func:`simulate_grid`); ``statistics``
    as there, or a tuple of statistics that do not depend on the hyperparameters; ``per_point`` and
    ``data`` as there, of one point."""
    bar = tqdm(total=sizes.burn_in + sizes.steps, desc="chain steps", unit="step", disable=not progress, leave=False)
    one = Hyperparameters(*(np.asarray([h]) for h in hyperparameters))
    statistics_of = statistics if callable(statistics) else (lambda h: statistics)
    results, _ = simulate_grid(model, integrator, one, sizes, binnings=binnings, statistics=statistics_of,
                               statistic_every=statistic_every, chunk_statistics=chunk_statistics, bar=bar,
                               checkpoint=checkpoint, per_point=per_point, data=data)
    bar.close()
    return results[0]
