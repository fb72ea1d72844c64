"""A sweep of an SGD configuration (u·v, configs/uv_sgd.yaml, shrunk to 64 chains × 60 steps) over
η (data: one compile) and the batch size (a shape: one compile per value): every point's SGD results
(bands, χ-drift test, noise equilibrium, effective temperature, stationary law) and arrays are those
of the same point run alone, and the table and figures carry the drift and stationary-law rows."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from langevin_ib.experiment import job, plan, sweep, sweep_grid
from langevin_ib.experiment.sweep_grid import BATCH_KEY

CONFIG = Path(__file__).parents[2] / "configs" / "uv_sgd.yaml"
SMALL = ["run.chains=64", "run.burn_in=20", "run.steps=40", "run.chain_groups=8"]
SGD_ENTRIES = ("bands", "effective_temperature", "chi_drift", "noise_equilibrium", "stationary_law")


def alone(experiment):
    """The summary and histograms.npz arrays of a single run of ``experiment``."""
    experiment, model = job.prepare(experiment)
    statistics = plan.statistics(experiment, model)
    analysed = job.analyse(experiment, model, statistics, job.simulate_model(experiment, model, False), 0.0)
    return analysed.summary, analysed.arrays


def as_json(value):
    return json.dumps(value, sort_keys=True, default=float)  # NaN == NaN as text


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sgd-sweep")
    _, _, points = sweep_grid.load(CONFIG, SMALL + ["dynamics.step_size=0.02,0.05", f"{BATCH_KEY}=2,4"])
    return out, points, sweep.run(points, out, progress=False, log=lambda line: None).content


@pytest.mark.slow
def test_each_sgd_point_is_the_point_run_alone(swept):
    """η = 0.02 with B = 4 (a second compile group) and η = 0.05 with B = 2 (the second point of a
    grid): summaries' SGD entries and every array identical to the single run's."""
    out, points, content = swept
    assert [len(c["points"]) for c in content["compiles"]] == [2, 2]  # one compile per batch size
    stacked = np.load(out / "histograms.npz")
    for point in (points[1], points[2]):
        summary, arrays = alone(point.experiment)
        swept_summary = content["points"][point.index]["summary"]
        for entry in SGD_ENTRIES:
            assert as_json(swept_summary[entry]) == as_json(summary[entry]), entry
        assert swept_summary["conclusion"] == summary["conclusion"]
        assert {"bands_chi", "bands_balance", "noise_equilibrium_a"} <= set(arrays)
        for name, value in arrays.items():
            np.testing.assert_array_equal(stacked[name][point.index], value, err_msg=name)


@pytest.mark.slow
def test_the_sgd_table_and_figures(swept):
    out, points, content = swept
    with open(out / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    pairs = {(r["test"], r["hypothesis"]) for r in rows}
    assert pairs == {("chi_drift", "sgd"), ("chi_drift", "langevin"), ("stationary_law", "naive"),
                     ("stationary_law", "geometric"), ("stationary_law", "sgd_diffusion"),
                     ("stationary_law", "sgd_chain")}
    assert len(rows) == len(points) * len(pairs)
    drift = content["points"][0]["summary"]["chi_drift"]["hypotheses"]["sgd"]
    row = next(r for r in rows if r["point"] == "0" and r["test"] == "chi_drift" and r["hypothesis"] == "sgd")
    assert float(row["z"]) == max((z for z in drift["z"] if np.isfinite(z)), key=abs)  # the largest |z| of the bins
    written = {path.name for path in out.iterdir()}
    assert {"z_vs_step_size.png", "z_vs_batch_size.png"} <= written
    assert "exponent.png" not in written  # its Gibbs family needs T > 0
