"""Ensembles over data sets as one program (docs/sweeps.md, "Ensembles over data sets"): a model whose module
draws its data in ``arrays(cfg)`` and reads it through ``bind(cfg, arrays, dtype)`` (hadamard, plain_signal)
makes ``model.data_seed`` data of one compiled program, and each point of a data-seed sweep equals its run
alone bitwise (every array of the two RunResults); a model without ``arrays`` keeps one compile per seed."""

import functools
from pathlib import Path

import numpy as np
import pytest
from test_one_path import arrays
from test_one_path import sweep_and_alone as run_both

pytestmark = pytest.mark.slow  # ~30 s: two sweeps and their runs alone
ROOT = Path(__file__).parents[2]
SMALL = ["run.chains=4", "run.chain_groups=2", "run.burn_in=0", "run.steps=200", "run.thin=50", "run.chunk_steps=100"]


@functools.cache
def sweep_and_alone(config: str, seeds: str):
    """(points, compile groups, the sweep's results by point, the runs alone's) of a data-seed sweep."""
    return run_both(ROOT / "configs" / config, [f"model.data_seed={seeds}", *SMALL])


@pytest.mark.parametrize("config, seeds", [("paper_fig6.yaml", "0,1,2"), ("paper_fig5_plain.yaml", "3,4")])
def test_a_data_seed_sweep_is_one_program_and_each_point_its_run_alone(config, seeds):
    points, grouped, swept, alone = sweep_and_alone(config, seeds)
    assert len(grouped) == 1  # one compile for every data set
    for point in points:
        mine, theirs = arrays(alone[point.index]), arrays(swept[point.index].result)
        assert mine.keys() == theirs.keys()
        assert [k for k in mine if not np.array_equal(mine[k], theirs[k], equal_nan=True)] == []
    # the points ran on their own data: the readout's train MSE differs between every two data sets
    train = [swept[p.index].summary["readout"]["metrics"]["train_mse"]["q50"] for p in points]
    assert len(set(train)) == len(points)


def test_the_analysis_of_each_point_reads_its_own_data_set():
    """The truth each point's readout is compared with is its own data set's (the host build of its config)."""
    from langevin_ib.experiment import job

    points, _, swept, _ = sweep_and_alone("paper_fig5_plain.yaml", "3,4")
    truths = [swept[p.index].arrays["readout_signal_truth"] for p in points]
    for point, truth in zip(points, truths):
        assert np.array_equal(truth, job.build_model(point.experiment).readout.truth["signal"])
    assert not np.array_equal(*truths)


def test_a_model_without_arrays_keeps_one_compile_per_seed():
    from langevin_ib.experiment import sweep, sweep_grid

    _, _, points = sweep_grid.load(ROOT / "configs" / "matrix_factorisation.yaml", ["model.data_seed=0,1", *SMALL])
    assert len(sweep.groups(points)) == 2
    assert "model.data_seed" not in sweep_grid.data_keys("matrix_factorisation")
    assert "model.data_seed" in sweep_grid.data_keys("hadamard")
