"""Sweeps: a grid of experiments over T, η, λ and the seed run as one compiled program per shape.

The grid's points come from :mod:`langevin_ib.experiment.sweep_grid`. Points that differ only in
:data:`~langevin_ib.experiment.sweep_grid.DATA_KEYS` share one compile
(:func:`langevin_ib.dynamics.grid.simulate_grid`); values of the shape keys and a different plan of
tests start a new group, one compile each. A group whose state would not fit in memory runs in passes.
Each point is analysed exactly as a single run (:func:`langevin_ib.experiment.job.analyse`); the tables
are written by :mod:`langevin_ib.experiment.sweep_table`, outputs in docs/sweeps.md.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from langevin_ib.experiment.config import Experiment
from langevin_ib.experiment.sweep_grid import DATA_KEYS, Point
from langevin_ib.experiment.sweep_table import csv_rows, write
from langevin_ib.base import ConfigError

MEMORY_ENV = "LANGEVIN_IB_MEMORY_BYTES"  # overrides the memory the grid may use
MEMORY_FRACTION = 0.5  # of the available memory, for the grid's state between chunks
WORKING_FACTOR = 3  # state in, state out and the chunk's temporaries, per byte of state


@dataclasses.dataclass(frozen=True)
class Group:
    """Points that share one compiled program."""

    shape: Mapping[str, Any]  # the shape keys' values
    points: tuple[Point, ...]


def groups(points: list[Point]) -> list[Group]:
    """Points grouped by their compile: shape-key values, then the plan of tests (which may depend on λ)."""
    from langevin_ib.experiment import job

    out: dict = {}
    models_by_shape: dict = {}
    for point in points:
        shape = {k: v for k, v in point.values.items() if k not in DATA_KEYS}
        key = tuple(sorted(shape.items()))
        if key not in models_by_shape:
            models_by_shape[key] = job.build_model(point.experiment)
        from langevin_ib.experiment import plan
        tests = plan.applicable(point.experiment, models_by_shape[key])
        out.setdefault((key, tests), (shape, []))[1].append(point)
    return [Group(shape, tuple(members)) for shape, members in out.values()]


def available_bytes() -> int:
    """Memory the grid may use: $LANGEVIN_IB_MEMORY_BYTES, else a fraction of the free memory that
    :func:`langevin_ib.dynamics.memory.available` reports (unbounded where it knows none)."""
    if MEMORY_ENV in os.environ:
        return int(float(os.environ[MEMORY_ENV]))
    from langevin_ib.dynamics import memory

    free, _ = memory.available()
    return sys.maxsize if free is None else int(MEMORY_FRACTION * free)


def passes(group_points: int, bytes_per_point: int, chains: int, available: int) -> int:
    """How many passes a group needs; ConfigError if not even one point, or one chain per point, fits."""
    need = WORKING_FACTOR * bytes_per_point
    if group_points * WORKING_FACTOR * max(1, bytes_per_point // chains) > available:
        raise ConfigError(f"sweep: {group_points} points need {group_points * need / 2**20:.1f} MiB "
                          f"({bytes_per_point // chains} B per chain), more than the {available / 2**20:.1f} MiB available "
                          "even at one chain per point; sweep fewer points or set $" + MEMORY_ENV)
    if need > available:
        raise ConfigError(f"sweep: one point of {chains} chains needs {need / 2**20:.1f} MiB, more than the "
                          f"{available / 2**20:.1f} MiB available; lower run.chains")
    per_pass = max(1, available // need)
    return math.ceil(group_points / per_pass)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A group's compile: its planned experiment, model, integrator, sizes, bytes per point and passes."""

    experiment: Experiment
    model: Any
    integrator: Any
    sizes: Any
    bytes_per_point: int
    passes: int


def prepare(grouped: list[Group], available: int) -> list[Prepared]:
    """Build each group's model and integrator and size its passes (ConfigError if it cannot fit)."""
    from langevin_ib.dynamics import grid
    from langevin_ib.dynamics.runner import RunSizes
    from langevin_ib.experiment import job, plan

    prepared = []
    for group in grouped:
        experiment, model = job.prepare(group.points[0].experiment)
        integrator = job.build_integrator(experiment, model)
        sizes = RunSizes(**{k: getattr(experiment.run, k) for k in RunSizes._fields})
        width = sum(w for _, w in plan.statistics(experiment, model).values())
        per_point = grid.point_bytes(model, integrator, sizes, dict(experiment.observables), width)
        prepared.append(Prepared(experiment, model, integrator, sizes, per_point,
                                 passes(len(group.points), per_point, sizes.chains, available)))
    return prepared


def point_steps(grouped: list[Group], prepared: list[Prepared]) -> int:
    """The length of the progress bar: points × steps."""
    return sum(len(g.points) * (p.sizes.burn_in + p.sizes.steps) for g, p in zip(grouped, prepared))


def checkpointers(out: Path, resume: bool):
    """``(group, pass, members) -> Checkpointer`` saving each pass's grid carry as
    ``out/checkpoint-<group>-<pass>.npz``; without ``resume`` the old ones are removed first."""
    from langevin_ib.dynamics import checkpoint

    if not resume:
        for old in Path(out).glob("checkpoint-*.npz"):
            old.unlink()

    def make(group: int, pass_: int, members) -> checkpoint.Checkpointer:
        run = members[0].experiment.run
        config = {"group": members[0].experiment.to_dict(),
                  "points": {str(p.index): {k: v for k, v in checkpoint.flat(p.experiment.to_dict()).items()
                                            if k in DATA_KEYS} for p in members}}
        return checkpoint.Checkpointer(out, config, run.checkpoint_every_seconds, run.checkpoint_every_chunks,
                                       name=f"checkpoint-{group}-{pass_}.npz")
    return make


def simulate(grouped: list[Group], prepared: list[Prepared], on_point, bar=None, checkpoint_for=None) -> float:
    """Run every group, pass by pass, and call ``on_point(point, analysed)`` with each point's
    :class:`langevin_ib.experiment.job.Analysis` (its summary is a single run's summary.json, its
    arrays its histograms.npz); returns the compile seconds. ``checkpoint_for`` (:func:`checkpointers`)
    gives each pass its checkpoint, resumed if present."""
    import contextlib
    from langevin_ib.dynamics import grid, integrators
    from langevin_ib.experiment import job, plan, sgd_tests

    compile_seconds = 0.0
    for g, (group, prep) in enumerate(zip(grouped, prepared)):
        experiment, model = prep.experiment, prep.model
        chunk_statistics = sgd_tests.chunk_statistics(model) if experiment.dynamics.stochastic_gradient else None
        size = math.ceil(len(group.points) / prep.passes)
        for first in range(0, len(group.points), size):
            members = group.points[first:first + size]
            dyn = [p.experiment.dynamics for p in members]
            hyperparameters = integrators.Hyperparameters(np.asarray([d.temperature for d in dyn]),
                                                          np.asarray([d.step_size for d in dyn]),
                                                          np.asarray([d.weight_decay for d in dyn]))
            seeds = [p.experiment.run.seed for p in members]

            def statistics(h, experiment=experiment, model=model):
                traced = dataclasses.replace(experiment, dynamics=dataclasses.replace(
                    experiment.dynamics, temperature=h.temperature, weight_decay=h.weight_decay))
                return tuple(fn for fn, _ in plan.statistics(traced, model).values())

            checkpoint = checkpoint_for(g, first // size, members) if checkpoint_for else None
            with checkpoint.signals() if checkpoint else contextlib.nullcontext():
                results, seconds = grid.simulate_grid(
                    model, prep.integrator, hyperparameters, prep.sizes, binnings=dict(experiment.observables),
                    seeds=None if set(seeds) == {prep.sizes.seed} else seeds, statistics=statistics,
                    statistic_every=experiment.analysis.snapshot_every, chunk_statistics=chunk_statistics,
                    bar=bar, checkpoint=checkpoint)
            compile_seconds += seconds
            for point, result in zip(members, results):
                point_experiment = plan.planned(point.experiment, model)
                planned = plan.statistics(point_experiment, model)
                on_point(point, job.analyse(point_experiment, model, planned, result,
                                            time.perf_counter() - result.run_seconds))
            del results
    return compile_seconds


def progress_bar(total: int, progress: bool, desc: str = "point-steps"):
    """One bar for a whole sweep or batch; :func:`langevin_ib.dynamics.grid.simulate_grid` keeps
    compile time out of its rate and shows it as a postfix."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", unit_scale=True, disable=not progress, leave=False)


def run(points: list[Point], out: Path, *, progress: bool = True, resume: bool = False, log=print) -> dict:
    """Run a sweep's points and write sweep.csv, sweep.json and histograms.npz into ``out``; returns sweep.json's
    content. Each pass checkpoints into ``out`` (:func:`checkpointers`); ``resume`` continues from them."""
    import jax

    from langevin_ib.experiment import plan

    start = time.perf_counter()
    grouped = groups(points)
    available = available_bytes()
    swept = list(points[0].values)
    prepared = prepare(grouped, available)
    log(f"sweep: {len(points)} points over {', '.join(f'{k} ({len(set(p.values[k] for p in points))})' for k in swept)}"
        f" in {len(grouped)} compile(s)"
        + ("" if len(grouped) == 1 else " (one per " + ", ".join(sorted({k for g in grouped for k in g.shape}) or ["plan of tests"]) + ")")
        + f", {sum(p.passes for p in prepared)} pass(es); ~{sum(len(g.points) * p.bytes_per_point for g, p in zip(grouped, prepared)) / 2**20:.1f}"
          f" MiB of state, {available / 2**20:.0f} MiB available")
    bar = progress_bar(point_steps(grouped, prepared), progress)
    rows, records, arrays = [], [], [None] * len(points)

    def on_point(point, analysed):
        records.append({"index": point.index, "values": dict(point.values), "summary": analysed.summary})
        rows.extend(csv_rows(point, analysed.summary))
        arrays[point.index] = analysed.arrays

    compile_seconds = simulate(grouped, prepared, on_point, bar, checkpointers(out, resume) if out else None)
    bar.close()
    wall = time.perf_counter() - start
    records.sort(key=lambda r: r["index"])
    rows.sort(key=lambda r: r["point"])
    chain_steps = sum(p.experiment.run.chains * (p.experiment.run.burn_in + p.experiment.run.steps) for p in points)
    content = {
        "axes": {k: sorted(set(p.values[k] for p in points)) for k in swept},
        "compiles": [{"shape": dict(g.shape), "points": [p.index for p in g.points], "passes": p.passes,
                      "bytes_per_point": p.bytes_per_point, "tests": list(plan.applicable(g.points[0].experiment, p.model))}
                     for g, p in zip(grouped, prepared)],
        "timing": {"wall_seconds": wall, "compile_seconds": compile_seconds,
                   "chain_steps_per_second": chain_steps / max(wall - compile_seconds, 1e-9),
                   "devices": jax.device_count(), "backend": jax.default_backend()},
        "config": points[0].experiment.to_dict(),
        "points": records,
    }
    write(out, content, rows, arrays)
    from langevin_ib.experiment import sweep_plots

    content["figures"] = sweep_plots.plot_all(out)
    for done in Path(out).glob("checkpoint-*.npz"):
        done.unlink()
    return content
