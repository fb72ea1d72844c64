"""Predicted stationary law of x under U = kx²/2: Gaussian, mean 0, with variance

- ``gibbs``: T/k, the continuous-time Gibbs law;
- ``discrete``: the integrator's exact discrete stationary variance, read from its declared weak
  order: 1 means Euler–Maruyama's T/(k(1 − ηk/2)), 2 Leimkuhler–Matthews' T/k (STYLE.md, exact
  references).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from langevin_ib.dynamics import integrators
from langevin_ib.models.base import Model
from langevin_ib.statistics.comparison import Comparison, HistogramTest, one_observable

HYPOTHESES = ("gibbs", "discrete")


def variance(hypothesis: str, *, temperature: float, stiffness: float, step_size: float, weak_order: int) -> float:
    if weak_order not in (1, 2):
        raise ValueError(f"weak_order={weak_order}: the exact discrete variance is known for 1 (Euler–Maruyama) "
                         "and 2 (Leimkuhler–Matthews) only")
    if hypothesis == "gibbs" or weak_order == 2:
        return temperature / stiffness
    return temperature / (stiffness * (1 - step_size * stiffness / 2))


def bin_probabilities(edges, hypothesis: str, **kwargs) -> np.ndarray:
    """Probability of each bin under N(0, variance), normalised over the binned range."""
    mass = np.diff(stats.norm.cdf(np.asarray(edges, float), scale=np.sqrt(variance(hypothesis, **kwargs))))
    return mass / mass.sum()


def _marginal(model: Model, dynamics, result) -> Comparison:
    return one_observable(result, "x", "x histogram against Gaussian stationary laws", bin_probabilities, HYPOTHESES,
                          temperature=dynamics.temperature, stiffness=dict(model.closed_form[1])["stiffness"],
                          step_size=dynamics.step_size, weak_order=integrators.SPECS[dynamics.integrator].weak_order)


# x against the discrete and continuous laws, for a model declaring closed_form ("harmonic", (("stiffness", k),))
MARGINAL = HistogramTest(_marginal, "any", ("x",),
                         lambda model: model.closed_form is not None and model.closed_form[0] == "harmonic")
