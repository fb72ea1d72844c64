"""A stochastic-gradient run of linear-Gaussian regression tests SGD's exact stationary covariance
(summary.json: stationary_covariance; predictions/sgd_linear.py, statistics/hotelling.py).

configs/linear_sgd.yaml made small: 256 chains, burn-in 600 steps (30 relaxation times 1/(η·min S)),
S = diag(1, 4), η = 0.05, B = 1, σ = 1. Truth: C = diag(0.031, 0.037); the Langevin law at the naive
T_eff = 0.031 is T_eff·S⁻¹ = diag(0.0625, 0.0156), whose first entry is 0.031 above the truth: e₁²
spreads by about √2·0.031 = 0.044 per chain, so 256 chains put it ≈ 0.031/(0.044/16) ≈ 11 standard
errors off: it must be rejected, while the exact law must not be (calibrated in docs/statistics.md;
the seed is fixed, so the test is deterministic)."""

import pytest

from langevin_ib.experiment import config, job

SMALL = ["run.chains=256", "run.burn_in=600", "run.steps=100", "run.chunk_steps=700"]


@pytest.mark.slow
def test_a_linear_regression_sgd_run_reports_its_exact_covariance(tmp_path):
    experiment = config.load("configs/linear_sgd.yaml", SMALL)
    summary = job.run_and_write(experiment, tmp_path, progress=False, log=None).summary
    test = summary["stationary_covariance"]
    assert test["samples"] == 256
    assert test["hypotheses"]["sgd"]["verdict"] == "consistent", test
    assert test["hypotheses"]["langevin"]["verdict"] == "rejected", test
    assert summary["stationarity"]["stationary"] is True
    assert "sgd" in summary["conclusion"] and "langevin is rejected" in summary["conclusion"]
