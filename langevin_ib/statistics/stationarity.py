"""Is the recorded window stationary? A two-sample Rao–Scott test of the first half of the window
against the second, on every histogram a run tests, and a trend test of each observable's first two
moments over the whole window (docs/statistics.md, "Stationarity").

Per column (the single column of a marginal, or one χ level-set bin of the joint (θ, χ) histogram)
the halves' proportions p̂₁, p̂₂ are compared by Pearson's homogeneity statistic
X² = Σ (p̂₁ − p̂₂)²/(p̄ (1/M₁ + 1/M₂)) (p̄ pooled over the halves, M_h the half's column total), over
adjacent bins pooled until each half expects ``min_expected`` counts. Observations along a chain are
correlated, within and across the halves, so X² is corrected as the goodness-of-fit test is
(:mod:`langevin_ib.statistics.goodness_of_fit`): linearised, p̂₁ − p̂₂ = Σ_g z_g with
z_g = e₁g/M₁ − e₂g/M₂ and e_hg = n_hg − m_hg p̂_h the residuals of chain group g in half h; the G
independent, identically distributed groups estimate tr A and tr A² of A = Cov(r̃),
r̃ = (p̂₁ − p̂₂)/√(p̄ (1/M₁ + 1/M₂)), and X²/c is χ²_ν (Satterthwaite). A stationary law gives the two
halves the same distribution. A histogram drifts when its p-value is below significance/K
(Bonferroni over the K histograms tested), so a stationary run is flagged at most at the stated
significance. Conditioning on χ makes the level-set histogram testable while the law of χ still
spreads (docs/theory.md, "The χ transient").

The trend: per chain, b = Σ_k (k − k̄)(x_k, x_k²) over its observations, the numerators of its
least-squares slopes of x and x² on time. A stationary law gives E b = 0 for every chain, whatever the
autocorrelation; the chains are independent, so Hotelling's T² on their b (F(2, n − 2)) tests it. It
weighs the window's ends most, where a transient that relaxes across the window differs most: a
growth of the spread from a point start, which the halves see at z ≈ 1 on configs/uv_small.yaml at
η = 0.001 (64 chains), it sees at z ≈ 2 (docs/statistics.md).
"""

from __future__ import annotations

import math

import jax.flatten_util

import numpy as np
from scipy import stats

from langevin_ib.statistics import hotelling
from langevin_ib.statistics.goodness_of_fit import _pool, design_traces, untestable


def _within(counts: np.ndarray) -> np.ndarray:
    """Per-group residuals n_g − m_g p̂ within each column of counts (G, K, C)."""
    totals = counts.sum(axis=0)
    return counts - counts.sum(axis=1, keepdims=True) * totals / np.maximum(totals.sum(axis=0), 1)


def two_sample_test(early: np.ndarray, late: np.ndarray, *, min_expected: float = 5.0) -> dict:
    """Rao–Scott homogeneity test of group counts (G, K, C) of the window's first and second halves."""
    early, late = (np.asarray(c, float)[..., None] if np.ndim(c) == 2 else np.asarray(c, float) for c in (early, late))
    if early.shape[0] < 2:
        return untestable("the design effect is estimated from the spread between chain groups: "
                          "run.chain_groups must be at least 2", int(early.sum() + late.sum()))
    residuals = (_within(early), _within(late))
    linearised, scale, pearson, nominal_dof, used = [], [], 0.0, 0, 0
    for column in range(early.shape[2]):
        o1, o2 = early[:, :, column].sum(axis=0), late[:, :, column].sum(axis=0)
        m1, m2 = o1.sum(), o2.sum()
        if min(m1, m2) < 2 * min_expected:
            continue
        pooled = (o1 + o2) / (m1 + m2)
        labels = _pool(min(m1, m2) * pooled, min_expected)
        p1, p2, p = (np.bincount(labels, x) for x in (o1 / m1, o2 / m2, pooled))
        seen = p > 0  # a run of empty bins at a column's end pools alone, into a cell nothing reached
        if seen.sum() < 2:
            continue
        variance = p[seen] * (1 / m1 + 1 / m2)
        pearson += float(np.sum((p1 - p2)[seen] ** 2 / variance))
        nominal_dof += int(seen.sum()) - 1
        used += int(m1 + m2)
        linearised.append(np.stack([np.bincount(labels, a / m1 - b / m2)[seen]
                                    for a, b in zip(residuals[0][:, :, column], residuals[1][:, :, column])]))
        scale.append(variance)
    if not nominal_dof:
        return untestable(f"no column has two cells of at least {min_expected} expected counts in each half", used)
    trace, trace_sq = design_traces(np.concatenate(linearised, axis=1), np.concatenate(scale))
    c, dof = (trace_sq / trace, trace**2 / trace_sq) if trace > 0 else (1.0, float(nominal_dof))
    statistic = pearson / c
    if not (np.isfinite(statistic) and np.isfinite(dof) and dof > 0):
        return untestable("the statistic is not finite (non-finite counts)", used)
    z = float(((statistic / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / np.sqrt(2 / (9 * dof)))
    groups = early.shape[0]
    return {"statistic": statistic, "pearson": pearson, "dof": dof, "nominal_dof": nominal_dof,
            "p_value": float(stats.f.sf(statistic / dof, dof, dof * (groups - 1))), "z": z,
            "variance_inflation": trace / nominal_dof, "observations": used}


def trend_test(trends: np.ndarray) -> dict:
    """Hotelling's T² of the chains' trends (n, 2) against 0 (the module's docstring); chains whose trend
    is NaN (diverged) are left out. z is the p-value's normal quantile, or where p underflows the
    Wilson–Hilferty score of T² on 2 dof (finite, so it still ranks)."""
    trends = np.asarray(trends, np.float64)
    trends = trends[np.all(np.isfinite(trends), axis=1)]
    result = hotelling.test(trends, {"stationary": np.zeros(trends.shape[1])}, significance=0.0)["hypotheses"]["stationary"]
    result = {k: v for k, v in result.items() if k not in ("verdict", "predicted")}
    if math.isfinite(result["p_value"]) and not math.isfinite(result["z"]):
        k = result["dof"]
        result["z"] = float(((result["t_squared"] / k) ** (1 / 3) - (1 - 2 / (9 * k))) / np.sqrt(2 / (9 * k)))
    return {**result, "chains": int(len(trends))}


RELAXATIONS = 3  # a burn-in shorter than this many a-priori relaxation times is warned of before the run


def relaxation_time(potential, params, max_parameters: int = 2000) -> float:
    """τ = 1/κ, κ the smallest positive eigenvalue of the Hessian of ``potential`` at ``params``: the
    slowest linear relaxation of the gradient flow (and of Langevin's mean) there, in units of steps·η.
    Flat directions (κ = 0: the symmetry's orbits) relax by noise alone and are not counted. NaN
    above ``max_parameters`` (the Hessian is dense) or where no eigenvalue is positive."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    if flat.size > max_parameters:
        return math.nan
    hessian = jax.jit(jax.hessian(lambda f: potential(unravel(f))))  # compiled once: op by op it took 28 s on relu_sgd
    eigenvalues = np.linalg.eigvalsh(np.asarray(hessian(flat), np.float64))
    positive = eigenvalues[eigenvalues > 1e-6 * np.abs(eigenvalues).max(initial=0)]
    return float(1 / positive.min()) if positive.size else math.nan


def suggested_burn_in(burn_in_time: float, window_time: float, z: float) -> float:
    """A first guess of the burn-in time that removes a drift seen at z: a transient ∝ e^{−s/τ} makes z
    fall as e^{−Δ/τ} when the window starts Δ later, so z ≈ 1 after Δ = τ ln z; τ, which one window
    cannot resolve, is taken as the time the chains have run (t_b + W): a much shorter relaxation
    would have ended before the window. A guess to re-check, not a bound."""
    return burn_in_time + (burn_in_time + window_time) * max(1.0, math.log(max(z, 1.0)))


TREND = " trend"  # the suffix of a trend test's name beside the histograms' names


def check(halves: dict[str, tuple[np.ndarray, np.ndarray]], window_time: float, burn_in_time: float,
          significance: float, min_expected: float = 5.0, trends: dict[str, np.ndarray] | None = None) -> dict:
    """The stationarity entry of a run's summary: ``halves[name]`` = (first-half, second-half) group
    counts (G, K) or (G, K, C) of each histogram tested, ``trends[name]`` the chains' trends (n, 2) of
    each observable (tested as ``name + TREND``). Times in steps·η: ``window_time`` the recorded
    window, ``burn_in_time`` before it. ``stationary`` is True, False, or None (untestable: nothing
    could be scored)."""
    tests = {name: two_sample_test(early, late, min_expected=min_expected) for name, (early, late) in halves.items()}
    tests.update({name + TREND: trend_test(b) for name, b in (trends or {}).items()})
    scored = {name: r for name, r in tests.items() if math.isfinite(r["p_value"])}
    level = significance / max(len(scored), 1)
    for name, r in scored.items():
        r["drifts"] = bool(r["p_value"] < level)
    drifting = [name for name, r in scored.items() if r["drifts"]]
    entry = {"description": "first against second half of the recorded window, Rao–Scott two-sample test per "
                            "histogram, and each observable's trend (Hotelling's T² on the chains' slopes of x "
                            "and x²); Bonferroni over the tests",
             "stationary": None if not scored else not drifting, "level_per_histogram": level,
             "window_time": window_time, "burn_in_time": burn_in_time, "histograms": tests}
    if not scored:
        entry["reason"] = "no histogram could be scored: " + "; ".join(sorted({r["reason"] for r in tests.values()}))
    if drifting:
        entry["drifting"] = drifting
        entry["suggested_burn_in_time"] = suggested_burn_in(burn_in_time, window_time,
                                                            max(scored[name]["z"] for name in drifting))
    return entry
