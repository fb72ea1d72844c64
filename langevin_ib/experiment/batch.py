"""Batches: many experiments (other models, integrators, sizes) from one YAML SPEC, each into its own folder.

A SPEC is a list of points ``{config: path, overrides: [k=v, ...], out: name}``, or a mapping with
such a ``points:`` list or a grid ``configs: [...]`` × ``overrides: {key: [values]}`` (the product),
and an optional ``slurm:`` section; a config with a ``sweep:`` section gives the points of its grid (:data:`SLURM_KEYS`). Points that differ only in
:data:`langevin_ib.experiment.sweep_grid.DATA_KEYS` share one compile and run as a grid
(:func:`langevin_ib.experiment.sweep.simulate`); groups run one after another on all local devices,
each pass checkpointing into ``out`` (checkpoint-<first point>.npz), so a killed batch resumes inside
its running point. Each point is staged and written with batch.csv (:mod:`langevin_ib.experiment.output`).
With an executor (submitit's SLURM or local one) every point is one job running
:func:`langevin_ib.experiment.job.run_and_write`. A point whose folder already holds summary.json
and the same config.yaml is skipped. The table batch.csv (+ batch.json) has sweep.csv's columns
plus ``config`` and ``out``. docs/sweeps.md describes the outputs.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any, Mapping

import yaml

from langevin_ib.experiment import config as config_lib, output, submitted, sweep, sweep_grid, sweep_table
from langevin_ib.experiment.sweep_grid import Point
from langevin_ib.base import ConfigError
from langevin_ib.models.fields import short

POINT_KEYS = ("config", "overrides", "out")
NAME_BYTES = 255  # the longest file name of common file systems (ext4, APFS, NTFS)
SPEC_KEYS = ("points", "configs", "overrides", "slurm")
SLURM_KEYS = {"partition": "slurm_partition", "timeout_min": "timeout_min", "gpus_per_node": "gpus_per_node",
              "cpus_per_task": "cpus_per_task", "mem_gb": "mem_gb"}  # SPEC name -> submitit parameter


@dataclasses.dataclass(frozen=True)
class Spec:
    points: tuple[Point, ...]
    slurm: Mapping[str, Any]


def _config_path(value: Any, where: str, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"batch {where}: config: expected a YAML file path, got {short(value)}")
    path = Path(value)
    if not path.is_absolute() and not path.is_file() and (base / path).is_file():
        path = base / path
    if not path.is_file():
        raise ConfigError(f"batch {where}: config file {short(value)} does not exist")
    return path


def _folder_name(value: Any, where: str) -> str:
    """A point's ``out`` (given, or made of its config and overrides): one folder name inside the batch's --out,
    non-empty, without a separator, not . or .., at most :data:`NAME_BYTES` bytes."""
    if (not isinstance(value, str) or value in ("", ".", "..") or "/" in value or "\\" in value or "\0" in value
            or len(value.encode("utf-8", "surrogatepass")) > NAME_BYTES):
        raise ConfigError(f"batch {where}: out: got {short(value)}; expected a folder name inside the batch's --out "
                          f"(a non-empty string of at most {NAME_BYTES} bytes without '/', not '.' or '..')")
    return value


def _points(start: int, config: Path, overrides: list, name: str | None, where: str) -> list[Point]:
    """The points of one config and its overrides: one, or the grid of the config's ``sweep:`` section."""
    values = {}
    for item in overrides:
        key, sep, text = item.partition("=") if isinstance(item, str) else ("", "", "")
        if not sep:
            raise ConfigError(f"batch {where}: override {short(item)}; expected a string section.key=value")
        values[key.strip()] = config_lib.parse_value(text, f"batch {where}: {key.strip()}: the value {short(text)}")
    try:
        if "sweep" in config_lib.read(config):
            grid = [(p.values, p.experiment) for p in sweep_grid.load(config, overrides)[2]]
        else:
            grid = [({}, config_lib.load(config, overrides))]
    except ConfigError as err:
        raise ConfigError(f"batch {where}: {err}") from None
    base = name if name is not None else config.stem + "".join(f"-{k}={v}" for k, v in values.items())
    return [Point(start + i, {**values, **swept}, experiment,
                  _folder_name(base + "".join(f"-{k}={v:.6g}" for k, v in swept.items()), where), str(config))
            for i, (swept, experiment) in enumerate(grid)]


def load(path: str | Path) -> Spec:
    """Read and check a SPEC: every point's config resolved (ConfigError naming the point otherwise)."""
    raw = config_lib.parse_value(config_lib.read_text(path, "batch SPEC"), f"batch SPEC {str(path)!r}")
    return parse(raw, Path(path).parent)


def _checked_size(count: int) -> None:
    """ConfigError for a SPEC of ``count`` points, more than :data:`sweep_grid.MAX_POINTS`."""
    if count > sweep_grid.MAX_POINTS:
        raise ConfigError(f"batch SPEC: more than {sweep_grid.MAX_POINTS} points, the most a batch takes; "
                          "split it into several SPECs")


def parse(raw: Any, base: Path) -> Spec:
    """A SPEC's parsed YAML checked into points (configs relative to ``base`` or the working folder)."""
    if isinstance(raw, list):
        raw = {"points": raw}
    if not isinstance(raw, Mapping):
        raise ConfigError("batch SPEC: expected a list of points or a mapping with points: or configs:")
    unknown = sorted(map(str, set(raw) - set(SPEC_KEYS)))
    if unknown:
        raise ConfigError(f"batch SPEC: unknown key {short(unknown[0])}; expected {list(SPEC_KEYS)}")
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
            unknown = sorted(map(str, set(item) - set(POINT_KEYS)))
            if unknown:
                raise ConfigError(f"batch {where}: unknown key {short(unknown[0])}; expected {list(POINT_KEYS)}")
            overrides = item.get("overrides") or []
            if not isinstance(overrides, list):
                raise ConfigError(f"batch {where}: overrides: expected a list of section.key=value")
            name = None if item.get("out") is None else _folder_name(item["out"], where)
            points += _points(len(points), _config_path(item.get("config"), where, base), overrides, name, where)
            _checked_size(len(points))
    else:
        configs = raw["configs"] if isinstance(raw["configs"], list) else [raw["configs"]]
        if not configs:
            raise ConfigError("batch SPEC: configs: expected a config file or a non-empty list of them")
        grid = raw.get("overrides") or {}
        if not isinstance(grid, Mapping):
            raise ConfigError("batch SPEC: overrides: expected a mapping key -> list of values")
        axes = {str(k): v if isinstance(v, list) else sweep_grid.parse_values(str(k), v)
                if isinstance(v, str) and sweep_grid._CALL.match(v) else [v] for k, v in grid.items()}
        empty = [k for k, v in axes.items() if not v]
        if empty:
            raise ConfigError(f"batch SPEC: overrides: {short(empty[0])}: an empty list; expected one value or more")
        _checked_size(len(configs) * math.prod(map(len, axes.values())))
        for config in configs:
            config_path = _config_path(config, f"config {short(config)}", base)
            for combination in itertools.product(*axes.values()):
                overrides = [f"{k}={v}" for k, v in zip(axes, combination)]
                points += _points(len(points), config_path, overrides, None, f"point {len(points)}")
                _checked_size(len(points))
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"batch SPEC: two points write into {short(twice)}; give them distinct out: names")
    slurm = raw.get("slurm") or {}
    if not isinstance(slurm, Mapping) or set(slurm) - set(SLURM_KEYS):
        raise ConfigError(f"batch SPEC: slurm: unknown key {short(sorted(map(str, set(slurm) - set(SLURM_KEYS)))[0])}; "
                          f"expected {list(SLURM_KEYS)}" if isinstance(slurm, Mapping)
                          else f"batch SPEC: slurm: expected a mapping with keys {list(SLURM_KEYS)}")
    return Spec(tuple(points), dict(slurm))


def done(point: Point, out: Path) -> bool:
    """Whether ``out/<name>`` holds this point's results: summary.json and the same config."""
    folder = out / point.name
    if not (folder / "summary.json").is_file() or not (folder / "config.yaml").is_file():
        return False
    try:
        return yaml.safe_load((folder / "config.yaml").read_text()) == yaml.safe_load(point.experiment.to_yaml())
    except yaml.YAMLError:
        return False


def compile_groups(points: list[Point]) -> list[sweep.Group]:
    """Points that can share one compile (:func:`langevin_ib.experiment.sweep.groups`), each group
    labelled with its first point's config."""
    return [sweep.Group({"config": g.points[0].label, **g.shape}, g.points) for g in sweep.groups(points)]


def rows(points: list[Point], summaries: Mapping[int, dict]) -> list[dict]:
    """batch.csv's rows: sweep.csv's (:func:`langevin_ib.experiment.sweep_table.csv_rows`) with the
    point's config and folder, for each of ``points`` with a summary."""
    return [{"point": r["point"], "config": p.label, "out": p.name, **r}
            for p in points if p.index in summaries for r in sweep_table.csv_rows(p, summaries[p.index])]


def checkpoint_name(group: int, pass_: int, members) -> str:
    """A local batch's checkpoint of one pass, named by its first point so that it survives the
    regrouping of a resumed batch, whose finished points are left out."""
    return f"checkpoint-{members[0].index}.npz"


def run_local(todo: list[Point], points: list[Point], out: Path, progress: bool = True, resume: bool = False) -> dict:
    """Run the ``todo`` points grouped by compile, one group after another, each pass checkpointing
    into ``out`` (``resume`` continues from there); each finished point is written into its folder
    together with batch.csv (rows of every finished point of ``points``). Returns the compile record."""
    from langevin_ib.experiment import job

    grouped = compile_groups(todo)
    prepared = sweep.prepare(grouped)
    bar = sweep.progress_bar(sweep.point_steps(grouped), progress)
    pending = {p.index for p in todo}
    summaries = {p.index: json.loads((out / p.name / "summary.json").read_text()) for p in points if p.index not in pending}

    def on_point(point, analysed):
        summaries[point.index] = analysed.summary
        with output.staged(out / point.name, "run") as staging, output.partial_file(out / "batch.csv") as table:
            job.write_outputs(staging, analysed)
            sweep_table.write_csv(table, rows(points, summaries))

    compile_seconds = sweep.simulate(grouped, prepared, on_point, bar, sweep.checkpointers(out, resume, checkpoint_name))
    bar.close()
    return {"compile_seconds": compile_seconds,
            "compiles": [{"shape": dict(g.shape), "points": [p.index for p in g.points], "passes": p.passes}
                         for g, p in zip(grouped, prepared)]}


def run_point(config: dict, folder: str, resume: bool) -> str:
    """One point as a job (submitit pickles this call): a single run into ``folder``."""
    from langevin_ib.dynamics import sharding
    from langevin_ib.experiment import job

    sharding.use_all_cpu_cores()
    analysed = job.run_and_write(config_lib.resolve(config), Path(folder), progress=False, resume=resume)
    return analysed.summary["conclusion"]


def run_jobs(points: list[Point], out: Path, slurm: Mapping, executor: str = "slurm", resume: bool = False) -> dict:
    """Submit every point as a job through submitit (``executor``: "slurm", or "local" for its local
    executor), wait for all, and return the job ids."""
    import submitit

    folder = out / "submitit"
    if executor == "local":
        ex = submitit.LocalExecutor(folder=folder)
        parameters = {k: v for k, v in slurm.items() if k in ("timeout_min", "gpus_per_node")}
    else:
        ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
        parameters = {SLURM_KEYS[k]: v for k, v in slurm.items()}
    ex.update_parameters(**parameters)
    jobs = [ex.submit(run_point, p.experiment.to_dict(), str(out / p.name), resume) for p in points]
    submitted.wait(jobs, [p.name for p in points], folder)
    return {"executor": executor, "jobs": {p.name: j.job_id for p, j in zip(points, jobs)}}


def run(spec: Spec, out: Path, *, progress: bool = True, executor: str | None = None, resume: bool = False,
        log=print) -> dict:
    """Run the SPEC's points not yet done into ``out/<name>`` and write batch.csv and batch.json; returns
    batch.json's content. ``executor``: None runs locally, "slurm" or "local" submits through submitit.
    ``out`` is checked (:func:`langevin_ib.experiment.output.batch_folder`) before anything is compiled."""
    from langevin_ib.experiment import job

    start = time.perf_counter()
    if executor == "slurm" and shutil.which("sbatch") is None:
        raise ConfigError("--slurm: SLURM is not available here (no sbatch on PATH); run the batch without --slurm "
                          "to run its points on this machine")
    points = list(spec.points)
    output.batch_folder(out, [p.name for p in points])
    todo = [p for p in points if not done(p, out)]
    log(f"batch: {len(points)} points, {len(points) - len(todo)} already done, {len(todo)} to run"
        + (f" as {executor} jobs" if executor and todo else ""))
    with output.translated(out):
        record: dict = {}
        if todo and executor is None:
            record = run_local(todo, points, out, progress, resume)
        elif todo:
            record = run_jobs(todo, out, spec.slurm, executor, resume)
        summaries = {p.index: json.loads((out / p.name / "summary.json").read_text()) for p in points}
        ran = {p.index for p in todo}
        records = [{"index": p.index, "name": p.name, "config": p.config, "values": dict(p.values),
                    "skipped": p.index not in ran, "summary": summaries[p.index]} for p in points]
        content = {"timing": {"wall_seconds": time.perf_counter() - start,
                              **{k: v for k, v in record.items() if k == "compile_seconds"}},
                   **{k: v for k, v in record.items() if k != "compile_seconds"}, "points": records}
        from langevin_ib.experiment import sweep_plots

        figure, content["bias_slopes"] = sweep_plots.plot_batch_bias(records, out)
        if figure is not None:
            with output.partial_file(out / "bias.png") as path:
                figure.savefig(path, dpi=figure.dpi)
        with output.partial_file(out / "batch.json") as path:
            job.write_json(path, content)  # strict JSON: null for a non-finite number, as summary.json
        with output.partial_file(out / "batch.csv") as path:
            sweep_table.write_csv(path, rows(points, summaries))
    for finished in out.glob("checkpoint-*.npz"):
        finished.unlink()
    return content
