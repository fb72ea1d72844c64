"""Sweeps: a grid of experiments over T, η, λ and the seed run as one compiled program per shape.

The grid's points come from :mod:`langevin_ib.experiment.sweep_grid`. Points that differ only in
:data:`~langevin_ib.experiment.sweep_grid.DATA_KEYS` share one compile
(:func:`langevin_ib.dynamics.grid.simulate_grid`, the path a single run takes as a grid of one point);
values of the shape keys and a different plan of tests start a new group, one compile each. A group
whose points would not fit in memory at once (the run's estimate, :mod:`langevin_ib.dynamics.memory`)
runs in passes.
Each point is analysed exactly as a single run (:func:`langevin_ib.experiment.job.analyse`); the tables
are written by :mod:`langevin_ib.experiment.sweep_table`, outputs in docs/sweeps.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import numpy as np

from langevin_ib.experiment.config import Experiment
from langevin_ib.experiment.sweep_grid import Point, data_keys
from langevin_ib.experiment.sweep_table import csv_rows, stack


@dataclasses.dataclass(frozen=True)
class Group:
    """Points that share one compiled program."""

    shape: Mapping[str, Any]  # the shape keys' values
    points: tuple[Point, ...]


def groups(points: list[Point]) -> list[Group]:
    """Points grouped by their compile: equal configs up to :func:`~langevin_ib.experiment.sweep_grid.data_keys`,
    then the plan of tests (which may depend on λ). The one grouping of sweeps and batches."""
    from langevin_ib.dynamics.checkpoint import flat
    from langevin_ib.experiment import job, plan

    out: dict = {}
    models_by_config: dict = {}
    for point in points:
        data = data_keys(point.experiment.model.name)
        key = json.dumps({k: v for k, v in flat(point.experiment.to_dict()).items() if k not in data},
                         sort_keys=True, default=str)
        if key not in models_by_config:
            models_by_config[key] = job.build_model(point.experiment)
        with job.precision(point.experiment):
            tests = plan.applicable(point.experiment, models_by_config[key])
        shape = {k: v for k, v in point.values.items() if k not in data}
        out.setdefault((key, tests), (shape, []))[1].append(point)
    return [Group(shape, tuple(members)) for shape, members in out.values()]


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A group's compile: its planned experiment, model, integrator, sizes, bytes per point and passes."""

    experiment: Experiment
    model: Any
    integrator: Any
    sizes: Any
    bytes_per_point: int
    passes: int


def prepare(grouped: list[Group]) -> list[Prepared]:
    """Build each group's model and integrator and size its passes with the run's memory estimate
    (:func:`langevin_ib.experiment.job.check_memory`; a ConfigError if not even one point fits)."""
    from langevin_ib.experiment import job

    prepared = []
    for group in grouped:
        with job.precision(group.points[0].experiment):
            experiment, model = job.prepare(group.points[0].experiment)
            estimate, passes = job.check_memory(experiment, model, None, len(group.points))
            prepared.append(Prepared(experiment, model, job.build_integrator(experiment, model),
                                     job.sizes_of(experiment), estimate.total, passes))
    return prepared


def point_steps(grouped: list[Group]) -> int:
    """The length of the progress bar: the steps of every point."""
    return sum(p.experiment.run.burn_in + p.experiment.run.steps for g in grouped for p in g.points)


def checkpointers(out: Path, resume: bool, name=lambda group, pass_, members: f"checkpoint-{group}-{pass_}.npz"):
    """``(group, pass, members) -> Checkpointer`` saving each pass's grid carry as
    ``out/<name(group, pass, members)>`` (a sweep's: checkpoint-<group>-<pass>.npz); without ``resume``
    the old ones (checkpoint-*.npz) are removed first."""
    from langevin_ib.dynamics import checkpoint

    if not resume:
        for old in Path(out).glob("checkpoint-*.npz"):
            old.unlink(missing_ok=True)  # the processes of a multi-process sweep all clear

    def make(group: int, pass_: int, members) -> checkpoint.Checkpointer:
        run = members[0].experiment.run
        data = data_keys(members[0].experiment.model.name)
        config = {"group": members[0].experiment.to_dict(),
                  "points": {str(p.index): {k: v for k, v in checkpoint.flat(p.experiment.to_dict()).items()
                                            if k in data} for p in members}}
        return checkpoint.Checkpointer(out, config, run.checkpoint_every_seconds, run.checkpoint_every_chunks,
                                       name=name(group, pass_, members))
    return make


def simulate(grouped: list[Group], prepared: list[Prepared], on_point, bar=None, checkpoint_for=None) -> float:
    """Run every group, pass by pass, and call ``on_point(point, analysed)`` with each point's
    :class:`langevin_ib.experiment.job.Analysis` (its summary is a single run's summary.json, its
    arrays its histograms.npz); returns the compile seconds. ``checkpoint_for`` (:func:`checkpointers`)
    gives each pass its checkpoint, resumed if present. Each point runs the program its run alone
    runs (:func:`langevin_ib.experiment.job.simulate_model`), with the point's hyperparameters as data,
    in its precision (:func:`langevin_ib.experiment.job.precision`)."""
    from langevin_ib.experiment import job

    compile_seconds = 0.0
    for g, (group, prep) in enumerate(zip(grouped, prepared)):
        with job.precision(prep.experiment):
            compile_seconds += _passes(g, group, prep, on_point, bar, checkpoint_for)
    return compile_seconds


def _passes(g: int, group: Group, prep: Prepared, on_point, bar, checkpoint_for) -> float:
    """The passes of group ``g`` (:func:`simulate`); returns their compile seconds."""
    import contextlib
    from langevin_ib.dynamics import grid, integrators
    from langevin_ib.experiment import job, plan

    compile_seconds = 0.0
    experiment, model = prep.experiment, prep.model
    size = math.ceil(len(group.points) / prep.passes)
    for first in range(0, len(group.points), size):
        members = group.points[first:first + size]
        dyn = [p.experiment.dynamics for p in members]
        hyperparameters = integrators.Hyperparameters(np.asarray([d.temperature for d in dyn]),
                                                      np.asarray([d.step_size for d in dyn]),
                                                      np.asarray([d.weight_decay for d in dyn]))
        seeds = [p.experiment.run.seed for p in members]
        data = job.data_of(experiment, [p.experiment for p in members])
        checkpoint = checkpoint_for(g, first // size, members) if checkpoint_for else None
        with checkpoint.signals() if checkpoint else contextlib.nullcontext():
            results, seconds = grid.simulate_grid(
                model, prep.integrator, hyperparameters, prep.sizes, binnings=dict(experiment.observables),
                seeds=None if set(seeds) == {prep.sizes.seed} else seeds,
                per_point=job.budget_of([p.experiment for p in members]),
                statistics=job.statistics_of(experiment, model),
                statistic_every=experiment.analysis.snapshot_every,
                chunk_statistics=job.chunk_statistics_of(experiment, model), bar=bar, checkpoint=checkpoint,
                data=data)
        compile_seconds += seconds
        for point, result in zip(members, results):
            point_model = model if data is None else job.build_model(point.experiment)  # its own data set
            point_experiment = plan.planned(point.experiment, point_model)
            planned = plan.statistics(point_experiment, point_model)
            on_point(point, job.analyse(point_experiment, point_model, planned, result,
                                        time.perf_counter() - result.run_seconds,
                                        prep.integrator if data is None else job.build_integrator(point_experiment, point_model)))
        del results
    return compile_seconds


def progress_bar(total: int, progress: bool, desc: str = "point-steps"):
    """One bar for a whole sweep or batch; :func:`langevin_ib.dynamics.grid.simulate_grid` keeps
    compile time out of its rate and shows it as a postfix."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", unit_scale=True, disable=not progress, leave=False)


class Sweep(NamedTuple):
    """What a sweep computed: sweep.json's content, sweep.csv's rows and histograms.npz's stacked arrays."""

    content: dict
    rows: list[dict]
    arrays: dict


def run(points: list[Point], out: Path | None, *, progress: bool = True, resume: bool = False, log=print) -> Sweep:
    """Run a sweep's points and write sweep.csv, sweep.json, histograms.npz and the figures into ``out``
    (staged: :func:`langevin_ib.experiment.output.staged`; None writes nothing). Each pass checkpoints
    into ``out`` (:func:`checkpointers`); ``resume`` continues from them."""
    import contextlib

    from langevin_ib.experiment import output

    with output.staged(out, "sweep") if out is not None else contextlib.nullcontext() as staging:
        content, rows, arrays = _run(points, out, progress, resume, log)
        swept = Sweep(content, rows, stack(content, arrays))
        del arrays
        if staging is not None:
            write(staging, swept)
    return swept


def write(out: Path, swept: Sweep) -> list[str]:
    """sweep.json, sweep.csv, histograms.npz, the figures and their JSON data (bias.json, exponents.json)
    into the folder ``out``; returns the names of the figures and data files."""
    from langevin_ib.experiment import output, sweep_plots, sweep_table

    sweep_table.write(out, swept.content, swept.rows, swept.arrays)
    figures, data = sweep_plots.outputs(swept.content, swept.arrays)
    for name, value in data.items():
        (out / f"{name}.json").write_text(json.dumps(value, indent=2))
    return output.save_figures(out, figures) + [f"{name}.json" for name in data]


def _run(points: list[Point], out: Path | None, progress: bool, resume: bool, log) -> tuple[dict, list, list]:
    """sweep.json's content, sweep.csv's rows and each point's arrays of a sweep checkpointing into ``out``."""
    start = time.perf_counter()
    grouped, prepared = planned(points, log)
    bar = progress_bar(point_steps(grouped), progress)
    measured = measure(grouped, prepared, out, resume, bar)
    bar.close()
    return tabled(points, grouped, prepared, [measured], time.perf_counter() - start)


def planned(points: list[Point], log) -> tuple[list[Group], list[Prepared]]:
    """The sweep's compile groups and their preparation, announced in one ``log`` line."""
    from langevin_ib.dynamics import memory
    from langevin_ib.experiment import job, window

    grouped = groups(points)
    swept = list(points[0].values)
    prepared = prepare(grouped)
    free, where = memory.available()
    log(f"sweep: {len(points)} points over {', '.join(f'{k} ({len(set(p.values[k] for p in points))})' for k in swept)}"
        f" in {len(grouped)} compile(s)"
        + ("" if len(grouped) == 1 else " (one per " + ", ".join(sorted({k for g in grouped for k in g.shape}) or ["plan of tests"]) + ")")
        + f", {sum(p.passes for p in prepared)} pass(es); memory estimate "
          f"{memory.size(sum(len(g.points) * p.bytes_per_point for g, p in zip(grouped, prepared)))}"
          + (f" of {memory.size(free)} available ({where})" if free is not None else ""))
    members = [(point, prep.model) for group, prep in zip(grouped, prepared) for point in group.points]
    with job.precision(points[0].experiment):
        warning = window.short_burn_ins(*zip(*members))
    for line in (warning, window.unequal_blocks(points)):
        if line:
            log(line)
    return grouped, prepared


class Measured(NamedTuple):
    """What simulating some of a sweep's points gives: sweep.json's point records, sweep.csv's rows,
    each point's arrays (by point index) and the compile seconds."""

    records: list
    rows: list
    arrays: dict
    compile_seconds: float


def measure(grouped: list[Group], prepared: list[Prepared], out: Path | None, resume: bool, bar=None) -> Measured:
    """Simulate and analyse the points of ``grouped``, each pass checkpointing into ``out``."""
    measured = Measured([], [], {}, 0.0)

    def on_point(point, analysed):
        measured.records.append({"index": point.index, "values": dict(point.values), "summary": analysed.summary})
        measured.rows.extend(csv_rows(point, analysed.summary))
        measured.arrays[point.index] = analysed.arrays

    seconds = simulate(grouped, prepared, on_point, bar, checkpointers(out, resume) if out else None)
    return measured._replace(compile_seconds=seconds)


def tabled(points: list[Point], grouped: list[Group], prepared: list[Prepared], parts: list[Measured],
           wall: float) -> tuple[dict, list, list]:
    """sweep.json's content, sweep.csv's rows and the arrays in point order, from the ``parts`` that
    together measured every point (one, or the tasks of a split sweep)."""
    import jax

    from langevin_ib.experiment import plan

    records = sorted((r for part in parts for r in part.records), key=lambda r: r["index"])
    rows = sorted((r for part in parts for r in part.rows), key=lambda r: r["point"])
    arrays = {i: a for part in parts for i, a in part.arrays.items()}
    compile_seconds = sum(part.compile_seconds for part in parts)
    swept = list(points[0].values)
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
    return content, rows, [arrays[p.index] for p in points]
