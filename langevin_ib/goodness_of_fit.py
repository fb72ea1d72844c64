"""Pearson χ² goodness of fit for correlated Monte Carlo histograms, with the Rao–Scott correction.

Observations along one chain are autocorrelated, so a cell count's variance exceeds the
multinomial n·p(1 − p) by a factor (its design effect, ≈ 1 + 2τ_int for that indicator). Chains are
split into G independent, identically distributed groups (:mod:`langevin_ib.histograms`); the
spread of each cell's count across groups measures that factor without using any hypothesis.
The statistic is X²/κ̄ with κ̄ the mean design effect over well-filled cells (Rao & Scott 1981,
first-order correction), referred to χ² with Σ_columns (cells − 1) degrees of freedom.

Counts have shape (G, bins, columns): each column (one χ level-set bin, or a single column for a
marginal) is tested against the hypothesis' probabilities conditional on that column. Adjacent
bins are pooled within a column until every expected count is at least ``min_expected``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def variance_inflation(group_counts: np.ndarray, min_count: float = 20.0) -> float:
    """Mean design effect κ̄ of the cells, from the between-group spread of counts.

    For a cell with pooled proportion p̂ within its column and group column totals m_g, the
    residuals r_g = n_g − m_g p̂ have E Σ r_g² ≈ (1 − 1/G) Σ m_g p̂(1 − p̂) · d for design effect d.
    """
    groups = group_counts.shape[0]
    column_totals = group_counts.sum(axis=1, keepdims=True)  # (G, 1, C)
    totals = group_counts.sum(axis=0)  # (K, C)
    proportion = totals / np.maximum(totals.sum(axis=0, keepdims=True), 1)
    residual = group_counts - column_totals * proportion
    binomial = (1 - 1 / groups) * np.sum(column_totals * proportion * (1 - proportion), axis=0)
    use = (totals >= min_count) & (binomial > 0)
    if not use.any():
        return 1.0
    return float(np.mean(np.sum(residual**2, axis=0)[use] / binomial[use]))


def _pool(expected: np.ndarray, min_expected: float) -> np.ndarray:
    """Labels that merge adjacent bins of one column until each pooled expected count ≥ min_expected."""
    labels = np.zeros(len(expected), int)
    label, running = 0, 0.0
    for i, value in enumerate(expected):
        labels[i] = label
        running += value
        if running >= min_expected:
            label, running = label + 1, 0.0
    if running > 0 and label > 0:  # a short tail joins the last full cell
        labels[labels == label] = label - 1
    return labels


def pearson_test(group_counts: np.ndarray, probabilities: np.ndarray, *, significance: float,
                 min_expected: float = 5.0, inflation: float | None = None) -> dict:
    """Rao–Scott corrected Pearson test of counts (G, K, C) against column probabilities (K, C)."""
    group_counts = np.asarray(group_counts, float)
    if group_counts.ndim == 2:
        group_counts, probabilities = group_counts[..., None], np.asarray(probabilities)[:, None]
    observed = group_counts.sum(axis=0)
    kappa = variance_inflation(group_counts) if inflation is None else inflation
    pearson, dof, used = 0.0, 0, 0
    for column in range(observed.shape[1]):
        total = observed[:, column].sum()
        expected = total * probabilities[:, column]
        if total == 0 or expected.sum() < 2 * min_expected:
            continue
        labels = _pool(expected, min_expected)
        o = np.bincount(labels, observed[:, column])
        e = np.bincount(labels, expected)
        if len(o) < 2:
            continue
        pearson += float(np.sum((o - e) ** 2 / e))
        dof += len(o) - 1
        used += int(total)
    statistic = pearson / kappa
    p_value = float(stats.chi2.sf(statistic, dof)) if dof else float("nan")
    # Wilson–Hilferty: a z-score that stays finite where the p-value underflows
    z = float(((statistic / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / np.sqrt(2 / (9 * dof))) if dof else float("nan")
    return {
        "statistic": statistic,
        "pearson": pearson,
        "dof": dof,
        "p_value": p_value,
        "z": z,
        "variance_inflation": kappa,
        "observations": used,
        "verdict": "consistent" if p_value >= significance else "rejected",
    }
