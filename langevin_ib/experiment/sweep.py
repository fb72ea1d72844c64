"""Sweeps: a grid of experiments over T, η, λ and the seed run as one compiled program per shape.

A sweep is a base config plus axes, key -> values, from ``key=v1,v2``, ``key=logspace(a,b,n)``,
``key=linspace(a,b,n)``, ``key=range(a,b[,step])`` overrides or a ``sweep:`` section of the YAML. The grid
is the Cartesian product of the axes. Points that differ only in :data:`DATA_KEYS` share one compile
(:func:`langevin_ib.dynamics.grid.simulate_grid`); values of :data:`SHAPE_KEYS` and a different plan of
tests start a new group, one compile each. A group whose state would not fit in memory runs in passes.
Each point is fitted exactly as a single run (:mod:`langevin_ib.experiment.job`); outputs are in
docs/sweeps.md.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from langevin_ib import models
from langevin_ib.experiment import config as config_lib
from langevin_ib.experiment.config import Experiment
from langevin_ib.models.fields import ConfigError

DATA_KEYS = ("dynamics.temperature", "dynamics.step_size", "dynamics.weight_decay", "run.seed")
SHAPE_KEYS = ("run.chains",)  # and every int field of the model (model.<field>)
BATCH_KEY = "dynamics.batch_size"  # a shape key of the minibatch integrators (gd has none)
POSITIVE = ("dynamics.temperature", "dynamics.step_size")
MEMORY_ENV = "LANGEVIN_IB_MEMORY_BYTES"  # overrides the memory the grid may use
MEMORY_FRACTION = 0.5  # of the available memory, for the grid's state between chunks
WORKING_FACTOR = 3  # state in, state out and the chunk's temporaries, per byte of state

_CALL = re.compile(r"^\s*(logspace|linspace|range)\s*\((.*)\)\s*$")


@dataclasses.dataclass(frozen=True)
class Point:
    index: int
    values: Mapping[str, Any]  # swept key -> value
    experiment: Experiment


@dataclasses.dataclass(frozen=True)
class Group:
    """Points that share one compiled program."""

    shape: Mapping[str, Any]  # the shape keys' values
    points: tuple[Point, ...]


def sweepable(raw: Mapping) -> tuple[str, ...]:
    """The keys a sweep may vary for this config's model and integrator."""
    from langevin_ib.dynamics import integrators

    name = (raw.get("model") or {}).get("name", "uv")
    try:
        fields = models.lookup(name).FIELDS
    except Exception:  # an unknown model is config.resolve's error to report
        fields = {}
    integrator = (raw.get("dynamics") or {}).get("integrator")
    batched = integrator in integrators.REGISTRY and integrators.takes_settings(integrator) and integrator != "gd"
    return (DATA_KEYS + SHAPE_KEYS + ((BATCH_KEY,) if batched else ())
            + tuple(f"model.{k}" for k, f in fields.items() if f.kind is int))


def parse_values(key: str, value: Any) -> list:
    """The values of one axis: a list, ``a,b,c``, ``logspace(a,b,n)``, ``linspace(a,b,n)`` or ``range(a,b[,s])``."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str) and (match := _CALL.match(value)):
        kind, args = match.group(1), [a.strip() for a in match.group(2).split(",")]
        try:
            numbers = [float(a) for a in args]
        except ValueError:
            raise ConfigError(f"sweep {key}: {value!r} has a non-numeric argument") from None
        if kind == "range":
            if not 1 <= len(numbers) <= 3 or any(n != int(n) for n in numbers):
                raise ConfigError(f"sweep {key}: {value!r}; expected range(stop), range(start, stop[, step]) of ints")
            items = list(range(*(int(n) for n in numbers)))
        else:
            if len(numbers) != 3 or numbers[2] != int(numbers[2]) or numbers[2] < 1:
                raise ConfigError(f"sweep {key}: {value!r}; expected {kind}(start, stop, count) with count a positive int")
            items = list((np.logspace if kind == "logspace" else np.linspace)(numbers[0], numbers[1], int(numbers[2])))
    elif isinstance(value, str) and "," in value:
        items = [yaml.safe_load(v.strip()) if v.strip() else None for v in value.split(",")]
    else:
        items = [value]
    if not items:
        raise ConfigError(f"sweep {key}: {value!r} is an empty grid")
    out = []
    for item in items:
        if isinstance(item, str):
            try:
                item = float(item)
            except ValueError:
                pass
        if isinstance(item, bool) or not isinstance(item, (int, float, np.floating, np.integer)):
            raise ConfigError(f"sweep {key}: {item!r} in {value!r} is not a number")
        item = item.item() if isinstance(item, np.generic) else item
        if not math.isfinite(item):
            raise ConfigError(f"sweep {key}: {item!r} in {value!r} is not a finite number")
        if key in DATA_KEYS[:3]:
            item = float(item)
            if key in POSITIVE and not item > 0:
                raise ConfigError(f"sweep {key}: {item!r} in {value!r}; every value must be positive")
            if not item >= 0:
                raise ConfigError(f"sweep {key}: {item!r} in {value!r}; every value must be non-negative")
        elif item != int(item):
            raise ConfigError(f"sweep {key}: {item!r} in {value!r} is not an integer")
        else:
            item = int(item)
        out.append(item)
    return out


def split_overrides(raw: Mapping, overrides: list[str]) -> tuple[dict, dict[str, list]]:
    """(the base config with single-valued overrides applied, axes) from the config's ``sweep:``
    section and the ``key=value`` overrides; a multi-valued override of a non-sweepable key is an error."""
    raw = dict(raw)
    section = raw.pop("sweep", None) or {}
    if not isinstance(section, Mapping):
        raise ConfigError("sweep: expected a mapping from config keys (e.g. dynamics.temperature) to lists or ranges")
    axes: dict[str, list] = {}
    singles = []
    for key, value in section.items():
        axes[str(key)] = value
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if sep and (_CALL.match(text) or "," in text or text.strip().startswith("[")):
            value = yaml.safe_load(text) if text.strip().startswith("[") else text
            axes[key] = value
        else:
            singles.append(item)
    raw = config_lib.apply_overrides(raw, singles)
    allowed = sweepable(raw)
    for key in axes:
        if key not in allowed:
            raise ConfigError(f"sweep {key}: not sweepable; the sweepable keys are {list(allowed)}")
    return raw, {key: parse_values(key, value) for key, value in axes.items()}


def _set(raw: dict, key: str, value: Any) -> dict:
    section, name = key.split(".", 1)
    raw = {**raw, section: {**(raw.get(section) or {}), name: value}}
    return raw


def load(path: str | Path | None, overrides: list[str] = ()) -> tuple[dict, dict[str, list], list[Point]]:
    """(base config, axes, the grid's points, each resolved and checked) of a sweep."""
    if path is None:
        import importlib.resources
        raw = yaml.safe_load(importlib.resources.files("langevin_ib.experiment").joinpath(config_lib.DEFAULT).read_text())
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        raw = config_lib._parse(path.read_text(), str(path))
    raw, axes = split_overrides(raw, list(overrides))
    if not axes:
        raise ConfigError("sweep: nothing to sweep; give a key a list or range, e.g. dynamics.temperature=0.05,0.1,0.2")
    points = []
    for index, combination in enumerate(itertools.product(*axes.values())):
        values = dict(zip(axes, combination))
        point_raw = raw
        for key, value in values.items():
            point_raw = _set(point_raw, key, value)
        points.append(Point(index, values, config_lib.resolve(point_raw)))
    return raw, axes, points


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


def hypothesis_tests(summary: dict) -> dict[str, dict]:
    """test -> {hypothesis: result} of every test a summary scored: the fits, then each summary entry
    with hypotheses (Stein, the PIT tests, the χ-drift test, the SGD stationary law, ...)."""
    tests = {name: fit["hypotheses"] for name, fit in summary["fits"].items()}
    for name, entry in summary.items():
        if name not in tests and isinstance(entry, dict) and entry.get("hypotheses"):
            tests[name] = entry["hypotheses"]
    return tests


def largest_z(z: Any) -> float:
    """A result's z as one number: itself, or for a test with one z per component (Stein's fields, the
    χ-drift test's bins) the finite one of largest |z| (NaN if none)."""
    values = list(z.values()) if isinstance(z, dict) else list(z) if isinstance(z, (list, tuple)) else [z]
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return max(finite, key=abs) if finite else float("nan")


def csv_rows(point: Point, summary: dict) -> list[dict]:
    """One row per test × hypothesis of a point, or one without a test (columns in docs/sweeps.md)."""
    common = {"point": point.index, **point.values}
    moments = {f"{name}_{k}": v for name, m in summary["moments"].items() for k, v in m.items()}
    tail = {**moments, "diverged_fraction": summary["divergence"]["fraction"],
            "chain_steps_per_second": summary["timing"]["chain_steps_per_second"]}
    rows = []
    for test, hypotheses in hypothesis_tests(summary).items():
        for hypothesis, r in hypotheses.items():
            rows.append({**common, "test": test, "hypothesis": hypothesis,
                         "statistic": r.get("statistic", r.get("t_squared")), "dof": r.get("dof", r.get("rank")),
                         "z": largest_z(r["z"]), "p_value": r["p_value"], "verdict": r.get("verdict", ""), **tail})
    return rows or [{**common, "test": "", "hypothesis": "", **tail}]  # no test: the moments alone


def write_csv(path: Path, rows: list[dict]) -> None:
    """The rows as CSV, columns in first-seen order, missing cells empty."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(dict.fromkeys(k for row in rows for k in row)), restval="")
        writer.writeheader()
        writer.writerows(rows)


def write(out: Path, content: dict, rows: list[dict], arrays: list[dict]) -> None:
    """sweep.json, sweep.csv and histograms.npz (every array stacked along a leading grid axis)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(content, indent=2, default=float))
    write_csv(out / "sweep.csv", rows)
    stacked = {}
    for name in dict.fromkeys(k for a in arrays for k in a):
        values = [a.get(name) for a in arrays]
        shapes = {np.shape(v) for v in values if v is not None}
        if len(shapes) == 1 and all(v is not None for v in values):
            stacked[name] = np.stack(values)
        else:  # differs between compile groups: one entry per point
            stacked.update({f"point{i}_{name}": v for i, v in enumerate(values) if v is not None})
    stacked["grid_values"] = np.asarray([[r["values"][k] for k in content["axes"]] for r in content["points"]], float)
    stacked["grid_keys"] = np.asarray(list(content["axes"]))
    np.savez_compressed(out / "histograms.npz", **stacked)
