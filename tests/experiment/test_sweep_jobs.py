"""Sweeps split over array tasks (``sweep --slurm --jobs K``, here through submitit's local executor):
the merged sweep.csv, sweep.json and histograms.npz equal those of the same sweep on one machine
(every array bitwise, every number but the timings), because a sweep point is bitwise the run alone
whatever points share its program; a resumed split sweep submits only its unfinished tasks, shown by
a finished task's planted result surviving into the merged tables. Sizes: u·v, 16 chains x 60 steps,
3 temperatures, 3 tasks of one point each."""

import csv
import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from langevin_ib import cli
from langevin_ib.experiment import sweep, sweep_grid, sweep_jobs

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "configs" / "uv_small.yaml"
OVERRIDES = ["run.chains=16", "run.burn_in=20", "run.steps=40", "run.chunk_steps=20", "run.chain_groups=4",
             "dynamics.temperature=0.05,0.1,0.2"]
TIMING = ("wall_seconds", "compile_seconds", "run_seconds", "chain_steps_per_second")


def sweep_args(out, *extra):
    return ["sweep", str(CONFIG), "--quiet", *OVERRIDES, "--out", str(out), *extra]


def tables(out) -> tuple[dict, list, dict]:
    """sweep.json's points, sweep.csv's rows and histograms.npz's arrays, the timings left out."""
    content = json.loads((out / "sweep.json").read_text())
    for record in content["points"]:
        record["summary"].pop("timing")
    rows = [{k: v for k, v in row.items() if k not in TIMING}
            for row in csv.DictReader(io.StringIO((out / "sweep.csv").read_text()))]
    with np.load(out / "histograms.npz") as data:
        arrays = {name: data[name] for name in data.files}
    return content["points"], rows, arrays


def assert_equal_arrays(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].tobytes() == b[name].tobytes(), name


@pytest.fixture(scope="module")
def one_machine(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "one"
    assert cli.main(sweep_args(out)) == 0
    return tables(out)


@pytest.mark.slow
def test_three_local_array_tasks_write_the_one_machine_sweep(one_machine, tmp_path):
    out = tmp_path / "split"
    assert cli.main(sweep_args(out, "--executor", "local", "--jobs", "3")) == 0
    points, rows, arrays = tables(out)
    assert (points, rows) == one_machine[:2]
    assert_equal_arrays(arrays, one_machine[2])
    assert not (out / sweep_jobs.TASKS).exists()


@pytest.mark.slow
def test_a_resumed_split_sweep_submits_only_its_unfinished_tasks(one_machine, tmp_path, capsys):
    out = tmp_path / "split"
    _, _, points = sweep_grid.load(str(CONFIG), OVERRIDES)
    tasks = sweep_jobs.partition(sweep.groups(points), 3)
    folder = out / sweep_jobs.TASKS
    for k in (0, 2):  # tasks 0 and 2 finished before a kill, task 1 did not
        sweep_jobs.run_task(k, [(p.index, dict(p.values), p.experiment.to_dict()) for p in tasks[k]], str(folder), False)
    planted = pickle.loads((folder / "0.pkl").read_bytes())
    planted.records[0]["summary"]["conclusion"] = "planted: task 0 was not rerun"
    (folder / "0.pkl").write_bytes(pickle.dumps(planted))
    capsys.readouterr()
    assert cli.main(sweep_args(out, "--executor", "local", "--jobs", "3", "--resume")) == 0
    assert "3 local array task(s), 2 done before, 1 to run: task(s) 1" in capsys.readouterr().out
    merged, rows, arrays = tables(out)
    assert merged[0]["summary"]["conclusion"] == "planted: task 0 was not rerun"
    merged[0]["summary"]["conclusion"] = one_machine[0][0]["summary"]["conclusion"]
    assert (merged, rows) == one_machine[:2]
    assert_equal_arrays(arrays, one_machine[2])


@pytest.mark.parametrize("extra, message", [
    (["--executor", "local", "--jobs", "4"], "--jobs 4: the sweep has 3 point(s); expected 1 to 3"),
    (["--executor", "local", "--jobs", "0"], "--jobs 0: the sweep has 3 point(s); expected 1 to 3"),
    (["--jobs", "2"], "--jobs K goes with --slurm"),
    (["--executor", "local", "--jobs", "2", "--slurm-option", "nodes=2"], "--slurm-option 'nodes=2': expected KEY=VALUE"),
])
def test_bad_jobs_and_slurm_options_are_one_line_exit_2(capsys, tmp_path, extra, message):
    assert cli.main(sweep_args(tmp_path / "o", *extra)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o").exists()
