"""Predicted stationary law of x under U = kx²/2: Gaussian, mean 0, with variance

- ``gibbs``: T/k, the continuous-time Gibbs law;
- ``discrete``: the integrator's exact discrete stationary variance, T/(k(1 − ηk/2)) for
  Euler–Maruyama and T/k for Leimkuhler–Matthews (STYLE.md, exact references).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

HYPOTHESES = ("gibbs", "discrete")


def variance(hypothesis: str, *, temperature: float, stiffness: float, step_size: float, integrator: str) -> float:
    if hypothesis == "gibbs" or integrator == "leimkuhler_matthews":
        return temperature / stiffness
    return temperature / (stiffness * (1 - step_size * stiffness / 2))


def bin_probabilities(edges, hypothesis: str, **kwargs) -> np.ndarray:
    """Probability of each bin under N(0, variance), normalised over the binned range."""
    mass = np.diff(stats.norm.cdf(np.asarray(edges, float), scale=np.sqrt(variance(hypothesis, **kwargs))))
    return mass / mass.sum()
