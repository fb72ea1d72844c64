"""statistics.drift.binned_test on synthetic increments with a known conditional mean.

Δ = −x + ε, ε ~ N(0, 1) with a per-chain random effect (sd 0.5) so that samples of a chain are
dependent: 400 chains × 20 boundaries × 2 copies. Hotelling's T² over the chains' per-bin residual
sums, F(10, 390), threshold 2.35 (the 0.99 quantile): the true mean −x is consistent, −0.9x (10 % off,
a residual 0.1x of z ≈ 2–6 in the outer deciles) is rejected; a bin whose residuals are all zero
makes the chains' covariance singular: ``untestable``.
"""

import numpy as np
from scipy import stats

from langevin_ib.statistics import drift


def samples(seed=0, shape=(20, 400, 2)):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    chain_effect = 0.5 * rng.normal(size=(1, shape[1], 1))
    return x, -x + chain_effect + rng.normal(size=shape)


def test_true_mean_consistent_wrong_mean_rejected():
    x, increment = samples()
    out = drift.binned_test(x, increment, {"true": -x, "wrong": -0.9 * x}, np.ones(x.shape, bool), 0.01)
    assert out["samples"] == x.size and abs(out["threshold"] - stats.f.ppf(0.99, 10, 390)) < 1e-9
    assert out["hypotheses"]["true"]["verdict"] == "consistent"
    assert out["hypotheses"]["wrong"]["verdict"] == "rejected"


def test_a_bin_without_spread_is_untestable():
    x, _ = samples()
    out = drift.binned_test(x, -x, {"exact": -x}, np.ones(x.shape, bool), 0.01)
    assert np.isnan(out["hypotheses"]["exact"]["statistic"]) and out["hypotheses"]["exact"]["verdict"] == "untestable"


def test_too_few_tested_samples_is_untestable_with_the_reason():
    # every chain balanced to rounding leaves no sample above resolution (u·v started at u = v)
    x, increment = samples()
    tested = np.zeros(x.shape, bool)
    tested[0, :5, 0] = True
    out = drift.binned_test(x, increment, {"h": -x}, tested, 0.01)
    assert out["hypotheses"]["h"]["verdict"] == "untestable" and "5 tested samples" in out["reason"]
