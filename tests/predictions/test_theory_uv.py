"""The u·v densities: normalisation, positivity, and the Jacobian checked independently.

The independent check integrates the weight-decayed Gibbs measure e^{−U(u,v)/T} directly on a
fine (u, v) grid and bins θ = uv; the coarea/fibre formulas of theory_uv must reproduce it.
"""

import numpy as np
import pytest
from scipy import integrate, special

from langevin_ib.predictions import theory_uv

T, TARGET = 0.1, 1.0


@pytest.mark.parametrize("hypothesis,chi", [("naive", 0.0), ("paper_eq7", 0.0), ("geometric", 0.3), ("geometric", -1.0)])
def test_density_is_positive_and_normalisable(hypothesis, chi):
    f = lambda x: theory_uv.density(hypothesis, x, temperature=T, target=TARGET, chi=chi)
    grid = np.linspace(-3, 3, 2001)
    assert np.all(f(grid[grid != 0]) > 0)
    total = sum(integrate.quad(f, a, b, limit=200)[0] for a, b in [(-np.inf, 0), (0, np.inf)])
    assert np.isfinite(total) and total > 0


def test_balanced_slice_density_is_not_normalisable_at_zero():
    """On χ = 0 the density is e^{−L/T}/|θ|: its mass on [ε, 1] grows like log(1/ε) (orbit degenerates at 0)."""
    f = lambda x: theory_uv.density("geometric", x, temperature=T, target=TARGET, chi=0.0)
    masses = [integrate.quad(f, eps, 1.0, limit=200)[0] for eps in (1e-4, 1e-8, 1e-12)]
    gibbs_at_zero = np.exp(-TARGET**2 / (2 * T))
    np.testing.assert_allclose(np.diff(masses), gibbs_at_zero * np.log(1e4), rtol=1e-3)


@pytest.mark.parametrize("hypothesis", theory_uv.HYPOTHESES)
def test_bin_probabilities_normalise(hypothesis):
    p = theory_uv.bin_probabilities(np.linspace(0.05, 2, 40), hypothesis, temperature=T, target=TARGET, weight_decay=0.5)
    assert np.all(p > 0) and np.isclose(p.sum(), 1.0)
    cols = theory_uv.level_set_probabilities(np.linspace(0, 2, 30), np.linspace(-1, 1, 9), hypothesis,
                                             temperature=T, target=TARGET, weight_decay=0.2)
    assert np.all(cols > 0) and np.allclose(cols.sum(axis=0), 1.0)


@pytest.mark.parametrize("theta", [0.01, 0.3, 1.0, 2.5])
def test_fibre_weight_is_two_k0(theta):
    weight = theory_uv.fibre_weight(np.array([theta]), temperature=T, weight_decay=0.3)
    np.testing.assert_allclose(weight, 2 * special.k0(0.3 * theta / T), rtol=1e-6)


def test_level_set_cell_matches_direct_double_integral():
    theta_edges, chi_edges = np.array([0.4, 0.6, 0.9]), np.array([0.05, 0.2, 0.6])
    p = theory_uv.level_set_probabilities(theta_edges, chi_edges, "geometric", temperature=T, target=TARGET,
                                          weight_decay=0.2)
    f = lambda c, x: theory_uv.density("geometric", x, temperature=T, target=TARGET, chi=c, weight_decay=0.2)
    cells = np.array([[integrate.dblquad(f, theta_edges[i], theta_edges[i + 1], chi_edges[j], chi_edges[j + 1])[0]
                       for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(p, cells / cells.sum(axis=0), rtol=1e-8)


def _grid_marginal(edges, weight_decay):
    """Bin θ = uv under e^{−U/T} du dv on a fine grid in (u, v): no Jacobian is derived by hand."""
    axis = np.linspace(-4, 4, 4001)
    u, v = np.meshgrid(axis, axis, indexing="ij")
    theta = u * v
    weight = np.exp(-(0.5 * (theta - TARGET) ** 2 + 0.5 * weight_decay * (u**2 + v**2)) / T)
    mass, _ = np.histogram(theta, bins=edges, weights=weight)
    return mass / mass.sum()


def test_weight_decay_marginal_matches_direct_integration_and_naive_does_not():
    edges, weight_decay = np.linspace(0.2, 1.8, 17), 0.5
    direct = _grid_marginal(edges, weight_decay)
    kwargs = dict(temperature=T, target=TARGET, weight_decay=weight_decay)
    np.testing.assert_allclose(theory_uv.bin_probabilities(edges, "geometric", **kwargs), direct, rtol=2e-3)
    assert np.max(np.abs(theory_uv.bin_probabilities(edges, "naive", **kwargs) / direct - 1)) > 0.1
