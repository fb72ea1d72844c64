"""Predicted stationary law of x under U = kx²/2: Gaussian, mean 0, with variance

- ``gibbs``: T/k, the continuous-time Gibbs law;
- ``discrete``: the integrator's exact discrete stationary variance, read from its declared weak
  order: 1 means Euler–Maruyama's T/(k(1 − ηk/2)), 2 Leimkuhler–Matthews' T/k (STYLE.md, exact
  references).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

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
