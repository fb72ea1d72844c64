"""Sweeps: the grid's parsing and errors, and each point equal to the same point run alone."""

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from langevin_ib import cli
from langevin_ib.dynamics import memory
from langevin_ib.experiment import comparisons, job, plan, sweep, sweep_grid
from langevin_ib.base import ConfigError

CONFIG = Path(__file__).parents[2] / "configs" / "uv_small.yaml"


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "uv.yaml"
    path.write_text(CONFIG.read_text())
    return path


def test_values_of_lists_and_ranges():
    assert sweep_grid.parse_values("dynamics.temperature", "0.05,0.1,0.2") == [0.05, 0.1, 0.2]
    assert np.allclose(sweep_grid.parse_values("dynamics.step_size", "logspace(-3,-1,3)"), [1e-3, 1e-2, 1e-1])
    assert sweep_grid.parse_values("dynamics.weight_decay", "linspace(0, 1, 3)") == [0.0, 0.5, 1.0]
    assert sweep_grid.parse_values("run.seed", "range(3)") == [0, 1, 2]
    assert sweep_grid.parse_values("run.seed", [4, 5]) == [4, 5]


@pytest.mark.parametrize("item, message", [
    ("dynamics.temperature=linspace(-0.1,0.1,3)", "must be positive"),
    ("dynamics.step_size=0.1,abc", "is not a number"),
    ("dynamics.temperature=range(0)", "empty grid"),
    ("dynamics.temperature=logspace(a,1,3)", "non-numeric"),
    ("run.thin=1,2", "not sweepable; the sweepable keys are"),
    ("run.seed=0.5,1", "not an integer"),
])
def test_bad_grids_are_one_line_and_exit_2(config, item, message, capsys, tmp_path):
    assert cli.main(["sweep", str(config), item, "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_a_grid_that_cannot_fit_is_refused_before_compile(config, monkeypatch):
    """The sweep sizes its points with the run's memory estimate: one that cannot fit is refused as the run is."""
    monkeypatch.setenv(memory.MEMORY_ENV, "1000")
    _, _, points = sweep_grid.load(config, ["dynamics.temperature=0.1,0.2"])
    with pytest.raises(ConfigError, match="the run needs an estimated .* but 1 kB is available"):
        sweep.run(points, None, progress=False)


def single(experiment):
    experiment, model = job.prepare(experiment)
    statistics = plan.statistics(experiment, model)
    result = job.simulate_model(experiment, model, False)
    compared = comparisons.build(experiment, model, result, statistics)
    return job.histogram_arrays(result, compared), comparisons.fit_all(experiment, compared)


@pytest.fixture(scope="module")
def swept(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    _, _, points = sweep_grid.load(config, ["dynamics.temperature=0.05,0.2", "dynamics.step_size=0.005,0.02"])
    content = sweep.run(points, out, progress=False).content
    return out, points, content


@pytest.mark.slow
def test_each_point_is_bitwise_the_point_run_alone(swept):
    """Common random numbers: every T × η point draws the single run's noise, so its histograms and
    fits are identical to those of the run alone."""
    out, points, content = swept
    stacked = np.load(out / "histograms.npz")
    for point in (points[0], points[3]):
        arrays, fits = single(point.experiment)
        for name, value in arrays.items():
            np.testing.assert_array_equal(stacked[name][point.index], value, err_msg=name)
        assert content["points"][point.index]["summary"]["fits"] == json.loads(json.dumps(fits))


def test_the_table_has_a_row_per_point_test_and_hypothesis(swept):
    out, points, content = swept
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    hypotheses = sum(len(fit["hypotheses"]) for fit in content["points"][0]["summary"]["fits"].values())
    assert len(rows) == len(points) * hypotheses
    assert {float(r["dynamics.temperature"]) for r in rows} == {0.05, 0.2}
    assert all(float(r["p_value"]) >= 0 and r["verdict"] for r in rows)
    assert len(content["compiles"]) == 1 and content["compiles"][0]["passes"] == 1


@pytest.mark.slow
def test_swept_seeds_and_passes(config, tmp_path, monkeypatch):
    """A swept seed gives each point its own keys (equal to the run alone with that seed); a memory
    limit below the grid's splits it into passes without changing a number."""
    _, _, points = sweep_grid.load(config, ["run.seed=3,4", "dynamics.temperature=0.1,0.2"])
    experiment, model = job.prepare(points[0].experiment)
    per_point = job.check_memory(experiment, model, None)[0].total
    monkeypatch.setenv(memory.MEMORY_ENV, str(2 * per_point))  # two points per pass
    content = sweep.run(points, tmp_path, progress=False).content
    assert content["compiles"][0]["passes"] == 2
    stacked = np.load(tmp_path / "histograms.npz")
    arrays, _ = single(points[3].experiment)
    np.testing.assert_array_equal(stacked["theta_counts"][3], arrays["theta_counts"])
    assert not np.array_equal(stacked["theta_counts"][1], stacked["theta_counts"][3])


def test_shape_values_group_into_one_compile_each(config):
    _, _, points = sweep_grid.load(config, ["run.chains=32,64", "dynamics.temperature=0.1,0.2"])
    grouped = sweep.groups(points)
    assert [dict(g.shape) for g in grouped] == [{"run.chains": 32}, {"run.chains": 64}]
    assert all(len(g.points) == 2 for g in grouped)


def test_sweep_figures(swept):
    out, _, content = swept
    written = {path.name for path in out.iterdir()}
    assert {"z_vs_temperature.png", "verdicts.png", "exponent.png", "exponents.json"} <= written
    assert all((out / name).stat().st_size > 0 for name in written)


def sweep_numbers(out):
    content = json.loads((out / "sweep.json").read_text())
    content.pop("timing")
    for record in content["points"]:
        record["summary"].pop("timing")
    with np.load(out / "histograms.npz") as data:
        return content, {k: data[k] for k in data.files}


KILLED_SWEEPS = {  # a Langevin sweep over T; an SGD sweep over η, whose carry also holds the recorded positions
    "langevin": (CONFIG, ["dynamics.temperature=0.05,0.2", "run.steps=3000"]),
    "sgd": (CONFIG.parent / "uv_sgd.yaml", ["dynamics.step_size=0.05,0.1", "run.chains=64", "run.burn_in=50",
                                            "run.steps=200"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", KILLED_SWEEPS)
def test_a_killed_sweep_resumes_bitwise(kind, tmp_path):
    """kill -9 after a checkpoint of the grid carry, then --resume: sweep.json (less timing) and every
    stacked array equal the uninterrupted sweep's."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    config, overrides = KILLED_SWEEPS[kind]

    def start(out, *extra):
        return subprocess.Popen([sys.executable, "-m", "langevin_ib.cli", "sweep", str(config), "--out", str(out),
                                 "--quiet", *overrides,
                                 "run.checkpoint_every_seconds=0", "run.checkpoint_every_chunks=1", *extra],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    whole, killed = start(tmp_path / "whole"), start(tmp_path / "killed")
    while not list((tmp_path / "killed").glob("checkpoint-*.npz")):
        assert killed.poll() is None, killed.communicate()
        time.sleep(0.01)
    killed.kill()
    killed.wait()
    assert not (tmp_path / "killed" / "sweep.json").exists()
    assert whole.wait() == 0, whole.communicate()
    resumed = start(tmp_path / "killed", "--resume")
    assert resumed.wait() == 0, resumed.communicate()
    (a, arrays_a), (b, arrays_b) = sweep_numbers(tmp_path / "whole"), sweep_numbers(tmp_path / "killed")
    assert a == b and arrays_a.keys() == arrays_b.keys()
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)
    assert not list((tmp_path / "killed").glob("checkpoint-*.npz"))


def test_the_burn_in_warning_lists_the_sweep_points_with_a_short_burn_in():
    """uv_small (τ = 0.5 at its start, so 3τ = 1.5): a 100-step burn-in is time 0.1 at η = 0.001 and 3 at
    η = 0.03, so the warning lists point 0 alone; with run.burn_in_time=5 no point is listed. Nothing is compiled."""

    lines = []
    _, _, points = sweep_grid.load(CONFIG, ["dynamics.step_size=0.001,0.03", "run.burn_in=100", "run.steps=200", "run.thin=10"])
    sweep.planned(points, lines.append)
    assert lines[1].startswith("warning: 1 of 2 sweep points have a burn-in time") and "points 0 (dynamics.step_size=0.001: " \
        "0.1 < 3τ = 1.5)" in lines[1], lines
    lines.clear()
    _, _, points = sweep_grid.load(CONFIG, ["dynamics.step_size=0.001,0.03", "run.burn_in_time=4.5", "run.time=0.6",
                                            "run.thin_time=0.03"])
    sweep.planned(points, lines.append)
    assert len(lines) == 1 and lines[0].startswith("sweep: 2 points"), lines


def test_a_sweep_whose_points_differ_in_blocks_says_its_chunk_records_differ_from_the_runs_alone():
    """Burn-in in time (4.5: 4500 steps at η = 0.001, 150 at 0.03) with the thinning in steps (10): 450
    and 15 blocks of burn-in, so the grid's chunk boundaries are not each point's own; all three durations
    in time give every point the same blocks (the test above). Nothing is compiled."""
    lines = []
    _, _, points = sweep_grid.load(CONFIG, ["dynamics.step_size=0.001,0.03", "run.burn_in_time=4.5", "run.steps=200",
                                            "run.thin=10"])
    sweep.planned(points, lines.append)
    assert len(lines) == 2 and lines[1].startswith("warning: the sweep's points differ in their number of blocks"), lines
    assert "(burn-in, window) (15, 20), (450, 20)," in lines[1] and "run.thin_time" in lines[1]
