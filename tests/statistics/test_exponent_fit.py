"""The maximum-likelihood exponent of u·v's level-set law (statistics.exponent_fit)."""

import numpy as np

from langevin_ib.statistics import exponent_fit


def test_the_exponent_fit_recovers_a_known_exponent():
    """Multinomial counts (20000 per χ column, 8 columns, 30 θ bins) drawn from the a = 1 law of each
    column: the ML exponent is within 4 s.e. of 1 (a 4σ bound: a false failure has probability ~6e-5),
    and the naive a = 0 is more than 10 s.e. away (rejected)."""
    theta_edges, chi_edges = np.linspace(0, 2, 31), np.linspace(-1, 1, 9)
    centres = (chi_edges[:-1] + chi_edges[1:]) / 2
    probabilities = np.exp(exponent_fit._log_cell_masses(1.0, theta_edges, centres, 0.1, 1.0, 0.0))
    rng = np.random.default_rng(0)
    counts = np.stack([rng.multinomial(20000, p / p.sum()) for p in probabilities.T], axis=1)
    a, se = exponent_fit.exponent_fit(theta_edges, chi_edges, counts, temperature=0.1, target=1.0)
    assert abs(a - 1) < 4 * se and a / se > 10, (a, se)
