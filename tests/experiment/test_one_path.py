"""One execution path: a sweep point runs the program its run alone runs (a grid of one point,
:func:`langevin_ib.dynamics.grid.simulate_run`), so its every number is the run alone's.

Compared: every array of the two RunResults (histogram counts, joint counts, moments, per-chain
snapshot-statistic sums, chunk statistics, final chain state, divergence steps). The Langevin case
is u·v with Leimkuhler–Matthews and the Stein and PIT snapshot statistics on (configs/uv_small.yaml,
2 points over η, and 2 over T); the three-factor chain of configs/deep_scalar.yaml, Stein and the
level-set and fibre PIT on, 2 points over λ (the fibre law's table is computed from the traced λ/2T);
configs/matrix_factorisation_gl.yaml, its singular-value fibre PIT among the snapshot statistics, 2
points over T (c = T/λ = 1 and 2, read from one c = 1 table at σ²/c²; on one device without snapshot
statistics, as that table takes most of a minute to build in each process), and configs/matrix_factorisation.yaml
(column scaling, chains only) over T: the matrix models, whose initial Leimkuhler–Matthews anchor
differed at float32 rounding until the initial parameters became a compiled call of their own
(docs/engineering.md, "One execution path");
the SGD case configs/uv_sgd.yaml (2 points over η); the time case an η sweep at fixed time (run.time,
run.burn_in_time, run.thin_time: 200 and 50 steps thinned by 20 and 5, one program). A single run
traces T and λ in its snapshot statistics as a sweep does (:func:`langevin_ib.experiment.job.statistics_of`).
One device runs in a subprocess with its own XLA_FLAGS; two devices in-process, as the suite runs
(tests/conftest.py).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).parents[2]
CASES = {
    "langevin": ("configs/uv_small.yaml", ["dynamics.step_size=0.005,0.02", "run.burn_in=100", "run.steps=100", "run.thin=10",
                                           "run.chains=32", "analysis.snapshot_every=5"]),  # in steps: one budget
    "time": ("configs/uv_small.yaml", ["dynamics.step_size=0.005,0.02", "run.time=1.0", "run.burn_in_time=0.2",
                                       "run.thin_time=0.1", "run.chains=16", "run.chain_groups=8",
                                       "analysis.snapshot_every=2"]),
    "temperature": ("configs/uv_small.yaml", ["dynamics.temperature=0.1,0.2", "run.steps=100", "run.chains=32",
                                              "analysis.snapshot_every=5"]),
    "weight_decay": ("configs/deep_scalar.yaml", ["dynamics.weight_decay=0.05,0.1", "run.chains=32", "run.burn_in=20",
                                                  "run.steps=100", "run.chain_groups=8", "analysis.snapshot_every=2"]),
    "gl_temperature": ("configs/matrix_factorisation_gl.yaml", ["dynamics.temperature=0.01,0.02", "run.chains=8",
                                                               "run.chain_groups=4", "run.burn_in=20", "run.steps=40",
                                                               "analysis.snapshot_every=2"]),
    "matrix_temperature": ("configs/matrix_factorisation.yaml", ["dynamics.temperature=0.01,0.02", "run.chains=8",
                                                                  "run.chain_groups=4", "run.burn_in=20", "run.steps=40",
                                                                  "analysis.snapshot_every=0"]),
    "sgd": ("configs/uv_sgd.yaml", ["dynamics.step_size=0.02,0.05", "run.chains=32", "run.burn_in=20", "run.steps=40",
                                    "run.chain_groups=8"]),
}

ONE_DEVICE = {"gl_temperature": ["analysis.snapshot_every=0"]}  # overrides of the one-device run (module docstring)


def arrays(result) -> dict:
    """Every array of a RunResult, by name."""
    out = {f"counts/{k}": v for k, v in result.histograms.counts.items()}
    out |= {f"moments/{k}": v for k, v in result.histograms.moments.items()}
    out |= {f"trends/{k}": v for k, v in result.histograms.trends.items()}
    out["joint"] = result.histograms.joint
    out["chain_statistics"] = result.chain_statistics
    out["diverged_at"] = result.diverged_at
    out |= {f"state/{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(result.final_state))}
    out |= {f"chunk/{name}/{i}": np.asarray(leaf) for name, record in result.chunk_statistics.items()
            for i, leaf in enumerate(jax.tree.leaves(record))}
    return {k: v for k, v in out.items() if v is not None}


def sweep_and_alone(config: Path, overrides: list[str]):
    """(points, compile groups, the sweep's results by point, the runs alone's results by point) of the sweep
    that ``overrides`` make of ``config`` (run by :func:`langevin_ib.experiment.sweep.simulate`)."""
    from langevin_ib.experiment import job, sweep, sweep_grid

    _, _, points = sweep_grid.load(config, overrides)
    grouped = sweep.groups(points)
    swept = {}
    sweep.simulate(grouped, sweep.prepare(grouped), lambda point, analysed: swept.__setitem__(point.index, analysed))
    alone = {}
    for point in points:
        experiment, model = job.prepare(point.experiment)
        with job.precision(experiment):
            alone[point.index] = job.simulate_model(experiment, model, False)
    return points, grouped, swept, alone


def differences(case: str, extra: list[str] = ()) -> dict:
    """name -> largest |difference| of every array in which a sweep point and its run alone differ,
    over both points of the case with ``extra`` overrides."""
    config, overrides = CASES[case]
    points, _, swept, alone = sweep_and_alone(ROOT / config, [*overrides, *extra])
    out = {}
    for point in points:
        mine, theirs = arrays(alone[point.index]), arrays(swept[point.index].result)
        assert mine.keys() == theirs.keys()
        for name in mine:
            if not np.array_equal(mine[name], theirs[name], equal_nan=True):
                gap = np.abs(mine[name].astype(float) - theirs[name].astype(float))
                out[f"{point.index}/{name}"] = float(np.nanmax(gap))
    return out


@pytest.fixture(scope="module")
def one_device():
    """case -> differences on one device, every case in one subprocess (one JAX start-up), as the
    two-device cases below share this process."""
    code = (f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_one_path; "
            "print(json.dumps({case: test_one_path.differences(case, test_one_path.ONE_DEVICE.get(case, []))"
            " for case in test_one_path.CASES}))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_on_one_device_a_sweep_point_is_bitwise_its_run_alone(case, one_device):
    assert one_device[case] == {}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_on_two_devices_a_sweep_point_is_bitwise_its_run_alone(case):
    assert jax.device_count() == 2
    assert differences(case) == {}


def test_an_eta_sweep_at_fixed_time_is_one_program_of_different_steps():
    """The time case's points: one compile group, the steps of each its own (time/η), the same observations."""
    from langevin_ib.experiment import job, sweep, sweep_grid

    config, overrides = CASES["time"]
    _, _, points = sweep_grid.load(ROOT / config, overrides)
    assert len(sweep.groups(points)) == 1
    assert [(p.experiment.run.burn_in, p.experiment.run.steps, p.experiment.run.thin) for p in points] == [
        (40, 200, 20), (10, 50, 5)]
    budget = job.budget_of([p.experiment for p in points])
    assert budget.observations.tolist() == [10, 10] and budget.thin.tolist() == [20, 5]
