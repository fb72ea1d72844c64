"""The maximum-likelihood exponent of u·v's level-set law (statistics.exponent_fit)."""

import numpy as np

from langevin_ib.statistics import exponent_fit


def test_the_exponent_fit_recovers_a_known_exponent():
    """Multinomial counts (20000 per χ column, 8 columns, 30 θ bins) drawn from the a = 1 law of each
    column: the ML exponent is within 4 s.e. of 1 (a 4σ bound: a false failure has probability ~6e-5),
    and the naive a = 0 is more than 10 s.e. away (rejected)."""
    theta_edges, chi_edges = np.linspace(0, 2, 31), np.linspace(-1, 1, 9)
    probabilities = np.exp(exponent_fit._log_cell_masses(1.0, theta_edges, chi_edges, 0.1, 1.0, 0.0))
    rng = np.random.default_rng(0)
    counts = np.stack([rng.multinomial(20000, p / p.sum()) for p in probabilities.T], axis=1)
    a, se = exponent_fit.exponent_fit(theta_edges, chi_edges, counts, temperature=0.1, target=1.0)
    assert abs(a - 1) < 4 * se and a / se > 10, (a, se)


def test_the_jackknife_over_groups_holds_repeated_observations():
    """16 groups of multinomial counts (2000 per χ column each) from the a = 1 law, then every observation
    counted 4 times (as a chain observed 4 times within its correlation time would be): the Fisher s.e.
    halves (it takes the copies as independent), the jackknife s.e. over groups is unchanged (the fit of
    every subset is the same), and a is within 4 jackknife s.e. of 1."""
    theta_edges, chi_edges = np.linspace(0, 2, 21), np.linspace(-2, 2, 9)
    probabilities = np.exp(exponent_fit._log_cell_masses(1.0, theta_edges, chi_edges, 0.1, 1.0, 0.0))
    rng = np.random.default_rng(1)
    groups = np.stack([np.stack([rng.multinomial(2000, p / p.sum()) for p in probabilities.T], axis=1)
                       for _ in range(16)])
    fit = lambda counts: exponent_fit.exponent_fit(theta_edges, chi_edges, counts, temperature=0.1, target=1.0)
    (a, jackknife), (a4, jackknife4) = fit(groups), fit(4 * groups)
    fisher, fisher4 = fit(groups.sum(axis=0))[1], fit(4 * groups.sum(axis=0))[1]
    assert abs(a4 - a) < 1e-4 and abs(jackknife4 / jackknife - 1) < 1e-2, (jackknife, jackknife4)
    assert abs(fisher4 / fisher - 0.5) < 1e-2, (fisher, fisher4)
    assert abs(a - 1) < 4 * jackknife, (a, jackknife)
