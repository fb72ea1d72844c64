"""Pearson χ² goodness of fit for correlated Monte Carlo histograms: second-order Rao–Scott.

Observations along a chain are autocorrelated, so cell counts vary more than multinomially and
Pearson's X² is not χ²-distributed. Under H0, X² = r̃ᵀr̃ with r̃ the residuals scaled by
1/√expected, so X² ≈ Σ λ_k χ²₁ with λ the eigenvalues of A = Cov(r̃). Chains are split into G
independent, identically distributed groups (:mod:`langevin_ib.dynamics.accumulators`); the group residuals
estimate tr A and tr A² without any hypothesis-specific variance model, and Satterthwaite's
approximation X² ≈ c·χ²_ν, c = tr A²/tr A, ν = (tr A)²/tr A² gives the statistic X²/c on ν
degrees of freedom (Rao & Scott 1981, 1984). Independent samples give c = 1, ν = Σ(cells − 1).

Counts have shape (G, bins, columns): each column (one χ level-set bin, or the single column of a
marginal) is tested against the hypothesis' probabilities conditional on that column; adjacent
bins are pooled within a column until every expected count is at least ``min_expected``.
Correlations between columns (chains moving between level sets) are included in A.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

VERDICTS = ("consistent", "rejected", "untestable")


def verdict(p_value: float, significance: float) -> str:
    """``consistent`` if p ≥ significance, ``rejected`` if p < significance, ``untestable`` if p is NaN:
    a statistic that could not be computed is evidence of nothing, never a rejection."""
    if not np.isfinite(p_value):
        return "untestable"
    return "consistent" if p_value >= significance else "rejected"


def untestable(reason: str, observations: int = 0) -> dict:
    """The result of a test that cannot be scored, with the reason."""
    return {"statistic": float("nan"), "pearson": float("nan"), "dof": 0.0, "nominal_dof": 0, "p_value": float("nan"),
            "z": float("nan"), "variance_inflation": float("nan"), "observations": observations,
            "verdict": "untestable", "reason": reason}


def design_traces(group_counts: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """Estimates of tr A and tr A² for counts (G, cells) with totals' expected counts (cells,).

    Residuals r_g = n_g − m_g p̂ (p̂ the pooled within-column proportions, m_g the group's column
    totals) are centred, r_g = x_g − x̄, so with per-group covariance Σ, α = 1 − 1/G, β = −1/G:
    E|r_g|² = α tr Σ and, for g ≠ h, E(r_g·r_h)² = (α² + β²) tr Σ² + β² (tr Σ)² (Gaussian
    cross-moments). The total over G groups has covariance GΣ.
    """
    groups = group_counts.shape[0]
    scaled = group_counts / np.sqrt(np.maximum(expected, 1e-300))
    gram = scaled @ scaled.T
    alpha, beta = 1 - 1 / groups, -1 / groups
    trace = np.trace(gram) / groups / alpha
    off = gram[~np.eye(groups, dtype=bool)]
    trace_sq = (np.mean(off**2) - beta**2 * trace**2) / (alpha**2 + beta**2)
    return groups * trace, groups**2 * max(trace_sq, trace**2 / scaled.shape[1])


def _residuals(group_counts: np.ndarray) -> np.ndarray:
    """n_g − m_g p̂ per cell, with p̂ and m_g taken within each column; shape (G, bins, columns)."""
    column_totals = group_counts.sum(axis=1, keepdims=True)
    totals = group_counts.sum(axis=0)
    proportion = totals / np.maximum(totals.sum(axis=0, keepdims=True), 1)
    return group_counts - column_totals * proportion


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
                 min_expected: float = 5.0) -> dict:
    """Second-order Rao–Scott Pearson test of counts (G, K, C) against column probabilities (K, C)."""
    group_counts = np.asarray(group_counts, float)
    probabilities = np.asarray(probabilities, float)
    if group_counts.ndim == 2:
        group_counts, probabilities = group_counts[..., None], probabilities[:, None]
    if group_counts.shape[0] < 2:
        return untestable("the design effect is estimated from the spread between chain groups: "
                          "run.chain_groups must be at least 2", int(group_counts.sum()))
    residuals = _residuals(group_counts)
    observed = group_counts.sum(axis=0)
    pooled_residuals, pooled_expected, pearson, nominal_dof, used = [], [], 0.0, 0, 0
    for column in range(observed.shape[1]):
        total = observed[:, column].sum()
        expected = total * probabilities[:, column]
        if total == 0 or expected.sum() < 2 * min_expected:
            continue
        labels = _pool(expected, min_expected)
        o, e = np.bincount(labels, observed[:, column]), np.bincount(labels, expected)
        if len(o) < 2:
            continue
        pearson += float(np.sum((o - e) ** 2 / e))
        nominal_dof += len(o) - 1
        used += int(total)
        pooled_residuals.append(np.stack([np.bincount(labels, r) for r in residuals[:, :, column]]))
        pooled_expected.append(e)
    if not nominal_dof:
        return untestable(f"no column has two cells of at least {min_expected} expected counts", used)
    trace, trace_sq = design_traces(np.concatenate(pooled_residuals, axis=1), np.concatenate(pooled_expected))
    if trace > 0:
        scale, dof = trace_sq / trace, trace**2 / trace_sq
    else:  # every group has the same proportions: no design effect can be estimated, use plain Pearson
        scale, dof = 1.0, float(nominal_dof)
    statistic = pearson / scale
    if not (np.isfinite(statistic) and np.isfinite(dof) and dof > 0):
        return untestable("the statistic is not finite (non-finite counts or probabilities)", used)
    p_value = float(stats.chi2.sf(statistic, dof))
    # Wilson–Hilferty: a z-score that stays finite where the p-value underflows
    z = float(((statistic / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / np.sqrt(2 / (9 * dof)))
    return {
        "statistic": statistic,
        "pearson": pearson,
        "dof": dof,
        "nominal_dof": nominal_dof,
        "p_value": p_value,
        "z": z,
        "variance_inflation": trace / nominal_dof,
        "observations": used,
        "verdict": verdict(p_value, significance),
    }
