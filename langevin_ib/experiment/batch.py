"""Batches: many experiments (other models, integrators, sizes) from one YAML SPEC, each into its own folder.

A SPEC is a list of points ``{config: path, overrides: [k=v, ...], out: name}``, or a mapping with
such a ``points:`` list or a grid ``configs: [...]`` × ``overrides: {key: [values]}`` (the product),
and an optional ``slurm:`` section; a config with a ``sweep:`` section gives the points of its grid (:data:`SLURM_KEYS`). Points that differ only in
:data:`langevin_ib.experiment.sweep_grid.DATA_KEYS` share one compile and run as a grid
(:func:`langevin_ib.experiment.sweep.simulate`); groups run one after another on all local devices.
With an executor (submitit's SLURM or local one) every point is one job running
:func:`langevin_ib.experiment.job.run_and_write`. A point whose folder already holds summary.json
and the same config.yaml is skipped. The table batch.csv (+ batch.json) has sweep.csv's columns
plus ``config`` and ``out``. docs/sweeps.md describes the outputs.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from langevin_ib.dynamics.checkpoint import flat
from langevin_ib.experiment import config as config_lib, sweep, sweep_grid, sweep_table
from langevin_ib.experiment.config import Experiment
from langevin_ib.base import ConfigError

POINT_KEYS = ("config", "overrides", "out")
SPEC_KEYS = ("points", "configs", "overrides", "slurm")
SLURM_KEYS = {"partition": "slurm_partition", "timeout_min": "timeout_min", "gpus_per_node": "gpus_per_node",
              "cpus_per_task": "cpus_per_task", "mem_gb": "mem_gb"}  # SPEC name -> submitit parameter


@dataclasses.dataclass(frozen=True)
class BatchPoint:
    index: int
    name: str  # its folder under the batch's out
    config: str  # the config file
    values: Mapping[str, Any]  # override key -> value
    experiment: Experiment

    @property
    def label(self) -> str:
        return Path(self.config).stem


@dataclasses.dataclass(frozen=True)
class Spec:
    points: tuple[BatchPoint, ...]
    slurm: Mapping[str, Any]


def _config_path(value: Any, where: str, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"batch {where}: config: expected a YAML file path, got {value!r}")
    path = Path(value)
    if not path.is_absolute() and not path.is_file() and (base / path).is_file():
        path = base / path
    if not path.is_file():
        raise ConfigError(f"batch {where}: config file {value!r} does not exist")
    return path


def _points(start: int, config: Path, overrides: list[str], name: str | None, where: str) -> list[BatchPoint]:
    """The points of one config and its overrides: one, or the grid of the config's ``sweep:`` section."""
    values = {}
    for item in overrides:
        key, sep, text = str(item).partition("=")
        if not sep:
            raise ConfigError(f"batch {where}: override {item!r}; expected section.key=value")
        values[key.strip()] = yaml.safe_load(text)
    overrides = [str(o) for o in overrides]
    try:
        if "sweep" in (config_lib._parse(config.read_text(), str(config)) or {}):
            grid = [(p.values, p.experiment) for p in sweep_grid.load(config, overrides)[2]]
        else:
            grid = [({}, config_lib.load(config, overrides))]
    except ConfigError as err:
        raise ConfigError(f"batch {where}: {err}") from None
    base = name if name is not None else config.stem + "".join(f"-{k}={v}" for k, v in values.items())
    return [BatchPoint(start + i, base + "".join(f"-{k}={v:.6g}" for k, v in swept.items()), str(config),
                       {**values, **swept}, experiment) for i, (swept, experiment) in enumerate(grid)]


def load(path: str | Path) -> Spec:
    """Read and check a SPEC: every point's config resolved (ConfigError naming the point otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"batch SPEC {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"batch SPEC {str(path)!r} is not valid YAML: {str(err).splitlines()[0]}") from None
    base = path.parent
    if isinstance(raw, list):
        raw = {"points": raw}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"batch SPEC {str(path)!r}: expected a list of points or a mapping with points: or configs:")
    unknown = sorted(set(raw) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"batch SPEC: unknown key {unknown[0]!r}; expected {list(SPEC_KEYS)}")
    if ("points" in raw) == ("configs" in raw):
        raise ConfigError("batch SPEC: give either points: (a list) or configs: with overrides: (a grid)")
    points = []
    if "points" in raw:
        if not isinstance(raw["points"], list) or not raw["points"]:
            raise ConfigError("batch SPEC: points: expected a non-empty list of {config, overrides, out}")
        for i, item in enumerate(raw["points"]):
            where = f"point {i}"
            if not isinstance(item, Mapping):
                raise ConfigError(f"batch {where}: expected a mapping with keys {list(POINT_KEYS)}")
            unknown = sorted(set(item) - set(POINT_KEYS))
            if unknown:
                raise ConfigError(f"batch {where}: unknown key {unknown[0]!r}; expected {list(POINT_KEYS)}")
            overrides = item.get("overrides") or []
            if not isinstance(overrides, list):
                raise ConfigError(f"batch {where}: overrides: expected a list of section.key=value")
            points += _points(len(points), _config_path(item.get("config"), where, base), overrides, item.get("out"),
                              where)
    else:
        configs = raw["configs"] if isinstance(raw["configs"], list) else [raw["configs"]]
        grid = raw.get("overrides") or {}
        if not isinstance(grid, Mapping):
            raise ConfigError("batch SPEC: overrides: expected a mapping key -> list of values")
        axes = {k: (v if isinstance(v, list) else sweep_grid.parse_values(k, v) if isinstance(v, str) and sweep_grid._CALL.match(v)
                    else [v]) for k, v in grid.items()}
        for config in configs:
            config_path = _config_path(config, f"config {config!r}", base)
            for combination in itertools.product(*axes.values()):
                overrides = [f"{k}={v}" for k, v in zip(axes, combination)]
                points += _points(len(points), config_path, overrides, None, f"point {len(points)}")
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"batch SPEC: two points write into {twice!r}; give them distinct out: names")
    slurm = raw.get("slurm") or {}
    if not isinstance(slurm, Mapping) or set(slurm) - set(SLURM_KEYS):
        raise ConfigError(f"batch SPEC: slurm: unknown key {sorted(set(slurm) - set(SLURM_KEYS))[0]!r}; "
                          f"expected {list(SLURM_KEYS)}" if isinstance(slurm, Mapping)
                          else f"batch SPEC: slurm: expected a mapping with keys {list(SLURM_KEYS)}")
    return Spec(tuple(points), dict(slurm))


def done(point: BatchPoint, out: Path) -> bool:
    """Whether ``out/<name>`` holds this point's results: summary.json and the same config."""
    folder = out / point.name
    if not (folder / "summary.json").is_file() or not (folder / "config.yaml").is_file():
        return False
    try:
        return yaml.safe_load((folder / "config.yaml").read_text()) == yaml.safe_load(point.experiment.to_yaml())
    except yaml.YAMLError:
        return False


def compile_groups(points: list[BatchPoint]) -> list[sweep.Group]:
    """Points that can share one compile: equal configs up to the data keys, then equal plans of tests."""
    def key(point):
        rest = {k: v for k, v in flat(point.experiment.to_dict()).items() if k not in sweep_grid.DATA_KEYS}
        return json.dumps(rest, sort_keys=True, default=str)

    out: dict = {}
    for point in points:
        out.setdefault(key(point), []).append(point)
    groups = []
    for members in out.values():
        as_sweep = [sweep_grid.Point(p.index, {k: v for k, v in flat(p.experiment.to_dict()).items() if k in sweep_grid.DATA_KEYS},
                                p.experiment) for p in members]
        for group in sweep.groups(as_sweep):
            groups.append(sweep.Group({"config": members[0].label, **group.shape}, group.points))
    return groups


def write_point(folder: Path, experiment: Experiment, analysed) -> None:
    """config.yaml, summary.json, histograms.npz and the figures of one point, as a single run writes
    them (``analysed``: its :class:`langevin_ib.experiment.job.Analysis`)."""
    from langevin_ib.experiment import job

    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "histograms.npz", **analysed.arrays)
    job.write_json(folder / "summary.json", analysed.summary)
    job.write_figures(folder, analysed)
    (folder / "config.yaml").write_text(experiment.to_yaml())


def run_local(points: list[BatchPoint], out: Path, progress: bool = True) -> dict:
    """Run the points grouped by compile, one group after another; returns the compile record."""
    grouped = compile_groups(points)
    prepared = sweep.prepare(grouped, sweep.available_bytes())
    bar = sweep.progress_bar(sweep.point_steps(grouped, prepared), progress)
    by_index = {p.index: p for p in points}

    def on_point(point, analysed):
        write_point(out / by_index[point.index].name, point.experiment, analysed)

    compile_seconds = sweep.simulate(grouped, prepared, on_point, bar)
    bar.close()
    return {"compile_seconds": compile_seconds,
            "compiles": [{"shape": dict(g.shape), "points": [p.index for p in g.points], "passes": p.passes}
                         for g, p in zip(grouped, prepared)]}


def run_point(config: dict, folder: str, resume: bool) -> str:
    """One point as a job (submitit pickles this call): a single run into ``folder``."""
    from langevin_ib.dynamics import sharding
    from langevin_ib.experiment import job

    sharding.use_all_cpu_cores()
    summary = job.run_and_write(config_lib.resolve(config), Path(folder), progress=False, resume=resume)
    return summary["conclusion"]


def run_jobs(points: list[BatchPoint], out: Path, slurm: Mapping, executor: str = "slurm", resume: bool = False) -> dict:
    """Submit every point as a job through submitit (``executor``: "slurm" via AutoExecutor, or "local"),
    wait for all, and return the job ids."""
    import submitit

    folder = out / "submitit"
    if executor == "local":
        ex = submitit.LocalExecutor(folder=folder)
        parameters = {k: v for k, v in slurm.items() if k in ("timeout_min", "gpus_per_node")}
    else:
        ex = submitit.AutoExecutor(folder=folder)
        parameters = {SLURM_KEYS[k]: v for k, v in slurm.items()}
    ex.update_parameters(**parameters)
    jobs = [ex.submit(run_point, p.experiment.to_dict(), str(out / p.name), resume) for p in points]
    failed = []
    for point, submitted in zip(points, jobs):
        try:
            submitted.result()
        except Exception as err:  # the job's traceback is in its submitit log
            failed.append(f"{point.name} (job {submitted.job_id}: {str(err).strip().splitlines()[-1]})")
    if failed:
        raise RuntimeError(f"{len(failed)} job(s) failed: " + "; ".join(failed) + f"; logs in {folder}")
    return {"executor": executor, "jobs": {p.name: j.job_id for p, j in zip(points, jobs)}}


def run(spec: Spec, out: Path, *, progress: bool = True, executor: str | None = None, resume: bool = False,
        log=print) -> dict:
    """Run the SPEC's points not yet done into ``out/<name>`` and write batch.csv and batch.json; returns
    batch.json's content. ``executor``: None runs locally, "slurm" or "local" submits through submitit."""
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    todo = [p for p in spec.points if not done(p, out)]
    log(f"batch: {len(spec.points)} points, {len(spec.points) - len(todo)} already done, {len(todo)} to run"
        + (f" as {executor} jobs" if executor and todo else ""))
    record: dict = {}
    if todo and executor is None:
        record = run_local(todo, out, progress)
    elif todo:
        record = run_jobs(todo, out, spec.slurm, executor, resume)
    rows, points, ran = [], [], {p.index for p in todo}
    for p in spec.points:
        summary = json.loads((out / p.name / "summary.json").read_text())
        as_sweep = sweep_grid.Point(p.index, dict(p.values), p.experiment)
        rows += [{"point": r["point"], "config": p.label, "out": p.name, **r} for r in sweep_table.csv_rows(as_sweep, summary)]
        points.append({"index": p.index, "name": p.name, "config": p.config, "values": dict(p.values),
                       "skipped": p.index not in ran, "summary": summary})
    content = {"timing": {"wall_seconds": time.perf_counter() - start, **{k: v for k, v in record.items()
                                                                          if k == "compile_seconds"}},
               **{k: v for k, v in record.items() if k != "compile_seconds"}, "points": points}
    from langevin_ib.experiment import sweep_plots

    content["bias_slopes"] = sweep_plots.plot_batch_bias(out / "bias.png", points, out)
    (out / "batch.json").write_text(json.dumps(content, indent=2, default=float))
    sweep_table.write_csv(out / "batch.csv", rows)
    return content
