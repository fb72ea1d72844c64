"""The stationarity check: calibrated on stationary chains, and it flags a transient.

Data: 64 AR(1) chains x_{k+1} = ρ x_k + √(1−ρ²) ξ in G = 16 groups, ρ = 0.9 (design effect
(1+ρ)/(1−ρ) = 19), 60 observations (30 per half), 12 bins on [−2.5, 2.5] plus under/overflow.
Stationary: x_0 ~ N(0, 1). Over R = 300 replicates at level 5% the number of flags is
Binomial(300, 0.05) if calibrated (mean 15, sd 3.8); we accept up to binom.ppf(0.999) = 28, so a
calibrated check fails this test once in a thousand seeds, while a check with twice the stated rate
(mean 30) fails it in most. Transient: x_0 = 2 (two stationary sd off), whose mean relaxes as ρ^k:
it must be flagged in at least 90% of replicates. The trend test (each chain's Σ(k − k̄)(x_k, x_k²),
Hotelling's T²) is held to the same bound on the same stationary chains.
"""

import numpy as np
import pytest
from scipy import stats

from langevin_ib.statistics import stationarity

EDGES = np.linspace(-2.5, 2.5, 13)
GROUPS, CHAINS, OBSERVATIONS, RHO = 16, 64, 60, 0.9


def window(rng, start, observations=OBSERVATIONS, rho=RHO):
    """(first-half, second-half) group counts (G, bins + 2) of AR(1) chains started at ``start``, and
    the chains' trends (CHAINS, 2): Σ_k (k − k̄)(x_k, x_k²)."""
    x = start + np.zeros(CHAINS)
    group = np.arange(CHAINS) % GROUPS
    counts, trends = np.zeros((2, GROUPS, len(EDGES) + 1)), np.zeros((CHAINS, 2))
    for k in range(observations):
        x = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal(CHAINS)
        np.add.at(counts, (int(k >= observations // 2), group, np.digitize(x, EDGES)), 1)
        trends += (k - (observations - 1) / 2) * np.stack([x, x * x], axis=1)
    return counts[0], counts[1], trends


def halves(rng, start):
    return window(rng, start)[:2]


def test_two_sample_test_flags_stationary_chains_at_its_level_and_a_transient():
    rng = np.random.default_rng(20261207)
    replicates, level = 300, 0.05
    p_stationary = [stationarity.two_sample_test(*halves(rng, rng.standard_normal(CHAINS)))["p_value"]
                    for _ in range(replicates)]
    flags = sum(p < level for p in p_stationary)
    assert flags <= stats.binom.ppf(0.999, replicates, level), flags
    transient = [stationarity.two_sample_test(*halves(rng, 2.0))["p_value"] for _ in range(50)]
    assert np.mean(np.asarray(transient) < level) >= 0.9


def test_trend_test_flags_stationary_chains_at_its_level():
    rng = np.random.default_rng(20261208)
    replicates, level = 300, 0.05
    p = [stationarity.trend_test(window(rng, rng.standard_normal(CHAINS))[2])["p_value"] for _ in range(replicates)]
    assert sum(x < level for x in p) <= stats.binom.ppf(0.999, replicates, level)


def test_the_trend_sees_a_growth_of_the_spread_that_the_halves_resolve_less_often():
    """Every chain started at 0 (a point start, as configs/uv_small.yaml's), ρ = 0.95 (τ = 20
    observations) over a window of 20: the spread grows across the whole window, as θ's does at
    η = 0.001 (docs/statistics.md). Measured over 200 replicates: at 0.01 the halves flag 0.70 and
    the trend 0.945. Over R = 100 the trend must flag at least 85 (≥ 4σ below 0.945 fails) and more
    often than the halves by at least 10 (the difference measured, 24, is 4.5σ of a paired difference)."""
    rng = np.random.default_rng(3)
    halves_p, trend_p = [], []
    for _ in range(100):
        early, late, trends = window(rng, 0.0, observations=20, rho=0.95)
        halves_p.append(stationarity.two_sample_test(early, late)["p_value"])
        trend_p.append(stationarity.trend_test(trends)["p_value"])
    flagged_halves, flagged_trend = (int(np.sum(np.asarray(p) < 0.01)) for p in (halves_p, trend_p))
    assert flagged_trend >= 85 and flagged_trend >= flagged_halves + 10, (flagged_trend, flagged_halves)


def test_the_trend_test_leaves_out_diverged_chains_and_finds_a_trend_in_the_spread():
    trends = np.column_stack([np.zeros(40), np.linspace(1.0, 2.0, 40)])  # no trend of x, every x² growing
    trends[:, 0] += np.random.default_rng(0).standard_normal(40)
    trends[3] = np.nan
    result = stationarity.trend_test(trends)
    assert result["chains"] == 39 and result["p_value"] < 1e-10 and np.isfinite(result["z"]) and result["z"] > 6


def test_check_applies_bonferroni_and_suggests_a_later_burn_in():
    rng = np.random.default_rng(1)
    early, late, trends = window(rng, rng.standard_normal(CHAINS))
    stationary = early, late
    entry = stationarity.check({"x": stationary, "y": halves(rng, 2.0)}, window_time=0.6, burn_in_time=0.1,
                               significance=0.01, trends={"x": trends})
    assert entry["level_per_histogram"] == 0.01 / 3 and set(entry["histograms"]) == {"x", "y", "x trend"}
    assert entry["stationary"] is False and entry["drifting"] == ["y"]
    assert entry["suggested_burn_in_time"] > 0.1 + 0.6
    assert stationarity.check({"x": stationary}, 0.6, 0.1, 0.01)["stationary"] is True


def test_check_is_untestable_without_groups_or_counts():
    one_group = tuple(c[:1] for c in halves(np.random.default_rng(2), 0.0))
    entry = stationarity.check({"x": one_group}, 1.0, 1.0, 0.01)
    assert entry["stationary"] is None and "chain_groups" in entry["reason"]
    empty = (np.zeros((4, 5)), np.zeros((4, 5)))
    assert stationarity.check({"x": empty}, 1.0, 1.0, 0.01)["stationary"] is None


@pytest.mark.slow
def test_uv_small_transient_is_not_stationary_and_a_long_burn_in_is(tmp_path):
    """configs/uv_small.yaml (256 chains) at η = 0.001 with its former sizes in steps, a 100-step burn-in
    (time 0.1) and 200 steps: θ's spread is still growing (it relaxes in 1/(2(u² + v²)) ≈ 0.25) and the
    law of θ given χ is biased (docs/theory.md, the χ transient). Measured over seeds 0–19
    (docs/statistics.md): flagged in 20 of 20, θ's trend z = 2.9–6.9. The config as it is, in time
    (burn-in 1, window 2: 1000 and 2000 steps at this η), flagged in 0 of 20. Seed 0, once each."""
    from langevin_ib.experiment import config, job

    def summary(overrides):
        experiment = config.load("configs/uv_small.yaml", ["dynamics.step_size=0.001", *overrides])
        return job.run_and_write(experiment, tmp_path / str(len(overrides)), progress=False, log=None).summary

    transient = summary(["run.burn_in=100", "run.steps=200", "run.thin=10"])
    assert transient["stationarity"]["stationary"] is False
    assert all(r["verdict"] == "untestable" and r["reason"].startswith("not stationary")
               for r in transient["fits"]["level_set"]["hypotheses"].values())
    assert "not stationary" in transient["conclusion"]
    settled = summary([])
    assert settled["stationarity"]["stationary"] is True
    assert "not stationary" not in settled["conclusion"]


@pytest.mark.slow
def test_calibration_script_on_the_harmonic_well(tmp_path):
    """scripts/calibration.py's harmonic case at 40 seeds (the documented table uses 200): Euler–Maruyama
    at η = 0.2 on U = x²/2, whose exact stationary law N(0, T/(k(1 − ηk/2))) is the ``discrete``
    hypothesis. At significance 0.01 the number of its rejections is Binomial(40, 0.01) if the test is
    calibrated: we accept up to binom.ppf(0.999) = 3; its p-values must pass a KS test against uniform
    at 0.001; the continuous Gibbs law (variance 10% smaller) must be rejected at every seed (it was at
    200 of 200); and the stationarity check, on chains started at x = 0 after 100 units of time
    (relaxation time 1), may flag no more runs than the same binomial bound."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("calibration", "scripts/calibration.py")
    calibration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibration)
    seeds = 40
    rows = {(r["test"], r["hypothesis"]): r for r in calibration.table("harmonic_em",
                                                                        calibration.sweep("harmonic_em", seeds, tmp_path))}
    bound = stats.binom.ppf(0.999, seeds, 0.01)
    true = rows["marginal", "discrete"]
    assert true["seeds"] == seeds and true["rejected"] <= bound and true["ks_p"] > 0.001, true
    assert rows["marginal", "gibbs"]["rate"] == 1.0
    assert rows["stationarity", "run flagged (Bonferroni)"]["rejected"] <= bound


@pytest.mark.slow
def test_a_sweep_mixing_both_marks_exactly_the_transient_point(tmp_path):
    """configs/uv_small.yaml with its former sizes in steps, a 100-step burn-in and 200 steps, at
    η = 0.001 (burn-in time 0.1) and η = 0.03 (time 3, window 6): one sweep marks the first point and
    only it."""
    from langevin_ib.experiment import sweep, sweep_grid

    _, _, points = sweep_grid.load("configs/uv_small.yaml", ["dynamics.step_size=0.001,0.03", "run.burn_in=100",
                                                             "run.steps=200", "run.thin=10"])
    content = sweep.run(points, tmp_path, progress=False, log=lambda line: None).content
    flags = {r["values"]["dynamics.step_size"]: r["summary"]["stationarity"]["stationary"] for r in content["points"]}
    assert flags == {0.001: False, 0.03: True}
    with open(tmp_path / "sweep.csv") as f:
        assert "stationary" in f.readline().split(",")
