"""Calibration of the second-order Rao–Scott Pearson test on autocorrelated data with a known law.

Data: 256 AR(1) chains x_{t+1} = ρ x_t + √(1−ρ²) ξ (stationary law N(0,1), ρ = 0.9, so a cell's
design effect reaches (1+ρ)/(1−ρ) = 19), 400 steps, 32 groups, 20 bins on [−2.5, 2.5].
Over R = 200 replicates at level 5%, the number of rejections of the TRUE law is Binomial(200, 0.05)
if calibrated: mean 10, sd 3.1. We accept up to 24 (mean + 4.5 sd, leaving room for the
Satterthwaite approximation), while Pearson without correction rejects in most replicates, and a
law with the wrong variance (N(0, 1.1²)) is rejected in every replicate.
"""

import numpy as np
from scipy import stats

from langevin_ib.statistics import goodness_of_fit
from langevin_ib.statistics.goodness_of_fit import pearson_test, verdict

EDGES = np.linspace(-2.5, 2.5, 21)


def law(scale):
    p = np.diff(stats.norm.cdf(EDGES, scale=scale))
    return p / p.sum()


def ar1_counts(rng, rho=0.9, chains=256, steps=400, groups=32):
    x = rng.standard_normal(chains)
    group = np.arange(chains) % groups
    counts = np.zeros((groups, len(EDGES) - 1))
    for _ in range(steps):
        x = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal(chains)
        index = np.digitize(x, EDGES) - 1
        inside = (index >= 0) & (index < len(EDGES) - 1)
        np.add.at(counts, (group[inside], index[inside]), 1)
    return counts


def test_rao_scott_is_calibrated_where_plain_pearson_is_not():
    rng = np.random.default_rng(20260122)
    true, wrong = law(1.0), law(1.1)
    corrected = uncorrected = wrong_rejected = 0
    for _ in range(200):
        counts = ar1_counts(rng)
        fit = goodness_of_fit.pearson_test(counts, true, significance=0.05)
        corrected += fit["verdict"] == "rejected"
        uncorrected += stats.chi2.sf(fit["pearson"], fit["nominal_dof"]) < 0.05
        wrong_rejected += goodness_of_fit.pearson_test(counts, wrong, significance=0.05)["verdict"] == "rejected"
    assert corrected <= 24, corrected
    assert uncorrected >= 100, uncorrected
    assert wrong_rejected == 200, wrong_rejected


def test_independent_multinomial_gives_unit_inflation():
    """Independent samples: tr A ≈ Σ(cells − 1), so the inflation is 1 within its sampling error."""
    rng = np.random.default_rng(3)
    p = law(1.0)
    counts = rng.multinomial(2000, p, size=128).astype(float)
    fit = goodness_of_fit.pearson_test(counts, p, significance=0.01)
    # tr A estimate from 128 groups: relative sd ≈ √(2/(127·19)) ≈ 0.03; allow 4 sd
    assert abs(fit["variance_inflation"] - 1) < 0.12, fit
    assert abs(fit["dof"] / fit["nominal_dof"] - 1) < 0.25, fit


def test_groups_with_identical_counts_fall_back_to_plain_pearson():
    """All mass in one bin in every group: no design effect is estimable, and the law is still rejected."""
    counts = np.zeros((8, len(EDGES) - 1))
    counts[:, 10] = 100
    fit = goodness_of_fit.pearson_test(counts, law(1.0), significance=0.01)
    assert fit["dof"] == fit["nominal_dof"] and fit["statistic"] == fit["pearson"], fit
    assert fit["verdict"] == "rejected" and np.isfinite(fit["z"]), fit


def test_one_chain_group_is_untestable_not_rejected():
    """With G = 1 the design effect cannot be estimated (the between-group spread is undefined): the
    verdict is 'untestable' with the reason, never 'rejected' from a NaN statistic."""
    counts = np.random.default_rng(0).multinomial(1000, [0.25] * 4)[None, :]
    result = pearson_test(counts, np.full(4, 0.25), significance=0.01)
    assert result["verdict"] == "untestable" and "chain_groups" in result["reason"]
    assert np.isnan(result["p_value"])


def test_non_finite_probabilities_are_untestable():
    counts = np.random.default_rng(1).multinomial(500, [0.25] * 4, size=8)
    result = pearson_test(counts, np.array([0.5, np.nan, 0.25, 0.25]), significance=0.01)
    assert result["verdict"] == "untestable", result


def test_verdict_of_a_nan_p_value():
    assert verdict(float("nan"), 0.01) == "untestable"
    assert verdict(0.5, 0.01) == "consistent" and verdict(1e-5, 0.01) == "rejected"
