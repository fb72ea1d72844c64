"""Hotelling's test of a mean vector from independent samples (the SGD covariance test, docs/sgd.md).

Samples u_1 … u_n ∈ R^k, independent and identically distributed (one per chain: chains are
independent), and per hypothesis h a predicted mean μ_h. With ū and Σ̂ the samples' mean and
covariance, T² = n(ū − μ_h)ᵀΣ̂⁻¹(ū − μ_h) and F = T²(n − k)/(k(n − 1)) is F(k, n − k) under h for
normal u (Hotelling 1931) and tends to χ²_k/k for any u with finite variance (central limit
theorem); h is rejected when its p-value is below the significance; z is the normal quantile of
the p-value (as large a departure of one normal variable). A singular Σ̂ (or n ≤ k) gives
the verdict ``untestable`` with the reason.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from langevin_ib.statistics import goodness_of_fit


def test(samples: np.ndarray, predicted: dict[str, np.ndarray], significance: float) -> dict:
    """{"samples", "observed", "hypotheses": {name: {statistic (F), t_squared, dof (k), denominator_dof
    (n − k), p_value, verdict, z, predicted}}} for ``samples`` (n, k) against each hypothesis' predicted
    mean (k,)."""
    samples = np.asarray(samples, np.float64)
    n, k = samples.shape
    mean = samples.mean(axis=0) if n else np.full(k, np.nan)
    out = {"samples": int(n), "observed": mean.tolist(), "hypotheses": {}}
    covariance = np.cov(samples, rowvar=False).reshape(k, k) if n > k else np.full((k, k), np.nan)
    if not (np.all(np.isfinite(covariance)) and np.linalg.matrix_rank(covariance) == k):
        reason = f"{n} samples of {k} components: their covariance is singular or undefined"
        out["hypotheses"] = {name: {**goodness_of_fit.untestable(reason, n), "predicted": np.asarray(mu).tolist()}
                             for name, mu in predicted.items()}
        return out
    for name, mu in predicted.items():
        gap = mean - np.asarray(mu, np.float64)
        t_squared = float(n * gap @ np.linalg.solve(covariance, gap))
        statistic = t_squared * (n - k) / (k * (n - 1))
        p_value = float(stats.f.sf(statistic, k, n - k))
        out["hypotheses"][name] = {"statistic": statistic, "t_squared": t_squared, "dof": k, "denominator_dof": n - k,
                                   "p_value": p_value, "z": float(stats.norm.isf(p_value)), "verdict": goodness_of_fit.verdict(p_value, significance),
                                   "predicted": np.asarray(mu).tolist()}
    return out
