"""Sweeps split over SLURM jobs (``langevin-ib sweep ... --slurm --jobs K``): the grid's points, in
compile-group order, cut into K contiguous array tasks submitted through submitit. Each task is a
sweep of its points (:func:`langevin_ib.experiment.sweep.measure`: one compiled program per compile
group it holds, one when K divides the groups' points) checkpointing into ``out/tasks/<k>/`` and
leaving its point records, rows and arrays in ``out/tasks/<k>.pkl``. A sweep point is bitwise the run
alone whatever points share its program, so the merged sweep.csv, sweep.json and histograms.npz are
those of the sweep on one machine (:func:`langevin_ib.experiment.sweep.tabled`; timings aside).
``--resume`` submits only the tasks without their .pkl, which continue from their checkpoints.
"""

from __future__ import annotations

import pickle
import shutil
import time
from pathlib import Path

from langevin_ib.experiment import config as config_lib, output, submitted, sweep
from langevin_ib.experiment.sweep_grid import Point
from langevin_ib.base import ConfigError
from langevin_ib.models.fields import short

TASKS = "tasks"  # the tasks' checkpoints and results, inside the sweep's --out until it is written


def check_jobs(jobs: int, points: list[Point]) -> None:
    """A ConfigError unless 1 <= ``jobs`` <= the number of points."""
    if not 1 <= jobs <= len(points):
        raise ConfigError(f"--jobs {jobs}: the sweep has {len(points)} point(s); expected 1 to {len(points)}")


def slurm_parameters(options: list[str]) -> dict:
    """``--slurm-option KEY=VALUE`` items as submitit's parameters (keys of a batch SPEC's ``slurm:``,
    :data:`langevin_ib.experiment.batch.SLURM_KEYS`); a ConfigError naming an unknown or malformed one."""
    from langevin_ib.experiment.batch import SLURM_KEYS

    parameters = {}
    for item in options:
        key, sep, text = item.partition("=")
        if not sep or key not in SLURM_KEYS:
            raise ConfigError(f"--slurm-option {short(item)}: expected KEY=VALUE with KEY one of {list(SLURM_KEYS)}")
        parameters[SLURM_KEYS[key]] = config_lib.parse_value(text, f"--slurm-option {key}: the value {short(text)}")
    return parameters


def partition(grouped: list[sweep.Group], jobs: int) -> list[list[Point]]:
    """``jobs`` contiguous, near-equal slices of the points taken group after group."""
    ordered = [p for g in grouped for p in g.points]
    bounds = [round(k * len(ordered) / jobs) for k in range(jobs + 1)]
    return [ordered[a:b] for a, b in zip(bounds, bounds[1:])]


def run_task(task: int, points: list[tuple[int, dict, dict]], folder: str, resume: bool) -> int:
    """One array task (submitit pickles this call): the sweep of ``points`` (index, values, config)
    into ``folder/<task>.pkl``, checkpointing into ``folder/<task>/``."""
    from langevin_ib.dynamics import sharding

    sharding.use_all_cpu_cores()
    members = [Point(index, values, config_lib.resolve(config)) for index, values, config in points]
    grouped = sweep.groups(members)
    measured = sweep.measure(grouped, sweep.prepare(grouped), Path(folder) / str(task), resume)
    with output.partial_file(Path(folder) / f"{task}.pkl") as path:
        path.write_bytes(pickle.dumps(measured))
    return task


def submit(tasks: dict[int, list[Point]], folder: Path, executor: str, resume: bool, parameters: dict) -> None:
    """Submit ``tasks`` as one array job through submitit ("slurm" with ``parameters``, or "local" for
    its local executor) and wait; a RuntimeError naming each failed task and where its log is."""
    import submitit

    logs = folder / "submitit"
    ex = submitit.LocalExecutor(folder=logs) if executor == "local" else submitit.AutoExecutor(folder=logs, cluster="slurm")
    if executor == "slurm":
        ex.update_parameters(**parameters)
    ks = list(tasks)
    jobs = ex.map_array(run_task, ks, [[(p.index, dict(p.values), p.experiment.to_dict()) for p in tasks[k]] for k in ks],
                        [str(folder)] * len(ks), [resume] * len(ks))
    submitted.wait(jobs, [f"task {k}" for k in ks], logs, "; rerun with --resume to submit the unfinished ones")


def run(points: list[Point], out: Path, jobs: int, executor: str = "slurm", resume: bool = False,
        parameters: dict | None = None, log=print) -> dict:
    """The sweep of ``points`` as ``jobs`` array tasks (submitit ``parameters``: :func:`slurm_parameters`),
    merged and written into ``out`` as a sweep on one machine writes it
    (:func:`langevin_ib.experiment.sweep.run`); returns sweep.json's content."""
    if executor == "slurm" and shutil.which("sbatch") is None:
        raise ConfigError("--slurm: SLURM is not available here (no sbatch on PATH); run the sweep without --slurm "
                          "to run its points on this machine")
    check_jobs(jobs, points)
    start = time.perf_counter()
    folder = out / TASKS
    with output.staged(out, "sweep") as staging:
        grouped, prepared = sweep.planned(points, log)
        tasks = dict(enumerate(partition(grouped, jobs)))
        if not resume:
            shutil.rmtree(folder, ignore_errors=True)
        todo = {k: members for k, members in tasks.items() if not (folder / f"{k}.pkl").is_file()}
        log(f"sweep: {jobs} {executor} array task(s), {jobs - len(todo)} done before, {len(todo)} to run"
            + (f": task(s) {', '.join(map(str, todo))}" if todo else ""))
        if todo:
            folder.mkdir(parents=True, exist_ok=True)
            submit(todo, folder, executor, resume, parameters or {})
        parts = [pickle.loads((folder / f"{k}.pkl").read_bytes()) for k in tasks]
        content, rows, arrays = sweep.tabled(points, grouped, prepared, parts, time.perf_counter() - start)
        sweep.write(staging, sweep.Sweep(content, rows, sweep.stack(content, arrays)))
    return content
