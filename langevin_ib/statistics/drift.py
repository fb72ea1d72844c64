"""A conditional-mean test of a Markov chain's drift, binned by state (docs/sgd.md, the χ-drift test).

Samples i = (chain, copy, boundary) have a state x_i (χ at the boundary), an observed increment Δ_i
(χ after one step minus χ before) and, per hypothesis h, a predicted conditional mean p_h(x_i) =
E_h[Δ | state]. Under h the residuals r_i = Δ_i − p_h(x_i) have mean zero in every bin of x. Bins:
deciles of x over the tested samples. Per bin b, the mean residual and its standard error clustered by
chain (samples of one chain are dependent; chains are independent) give z_b; X² = Σ_b z_b² is χ² on
`bins` dof under h, and h is rejected when its p-value is below the significance. A bin with zero
standard error gives z = NaN, X² = NaN and the verdict ``untestable``; so do fewer than two tested
samples per bin (e.g. every chain balanced to rounding), with the reason.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from langevin_ib.statistics import goodness_of_fit


def clustered_z(residual: np.ndarray, cluster: np.ndarray, clusters: int) -> float:
    """mean(residual) / its standard error clustered by ``cluster`` (ints in [0, clusters))."""
    sums = np.bincount(cluster, residual, minlength=clusters)
    counts = np.bincount(cluster, minlength=clusters).astype(float)
    n = counts.sum()
    mean = sums.sum() / n
    se = np.sqrt(np.sum((sums - mean * counts) ** 2)) / n
    return mean / se if se > 0 else np.nan


def binned_test(state: np.ndarray, increment: np.ndarray, predicted: dict[str, np.ndarray], tested: np.ndarray,
                significance: float, bins: int = 10) -> dict:
    """The test of the module docstring.

    Args:
      state, increment, tested: arrays of one shape (boundaries, chains, copies); ``tested`` masks the samples.
      predicted: hypothesis name -> the predicted mean increment, same shape.
    Returns:
      {"bins", "bin_edges", "samples", "threshold", "observed", "hypotheses": {name: {statistic, dof,
      p_value, verdict, z, predicted}}}; ``observed`` and each ``predicted`` are per-bin means.
    """
    chains = state.shape[1]
    if tested.sum() < 2 * bins:
        reason = f"{int(tested.sum())} tested samples, fewer than 2 per bin for {bins} bins"
        return {"bins": bins, "bin_edges": [], "samples": int(tested.sum()),
                "threshold": float(stats.chi2.ppf(1 - significance, bins)), "observed": [], "reason": reason,
                "hypotheses": {name: {**goodness_of_fit.untestable(reason), "dof": bins, "z": [], "predicted": []}
                               for name in predicted}}
    edges = np.quantile(state[tested], np.linspace(0, 1, bins + 1))
    index = np.clip(np.searchsorted(edges, state, side="right") - 1, 0, bins - 1)
    chain_id = np.broadcast_to(np.arange(chains)[None, :, None], state.shape)
    selections = [tested & (index == b) for b in range(bins)]
    out = {"bins": bins, "bin_edges": edges.tolist(), "samples": int(tested.sum()),
           "threshold": float(stats.chi2.ppf(1 - significance, bins)),
           "observed": [float(increment[s].mean()) for s in selections], "hypotheses": {}}
    for name, p in predicted.items():
        residual = increment - p
        z = np.asarray([clustered_z(residual[s], chain_id[s], chains) for s in selections])
        statistic = float(np.sum(z**2))
        p_value = float(stats.chi2.sf(statistic, bins))
        out["hypotheses"][name] = {"statistic": statistic, "dof": bins, "p_value": p_value,
                                   "verdict": goodness_of_fit.verdict(p_value, significance), "z": z.tolist(),
                                   "predicted": [float(p[s].mean()) for s in selections]}
    return out
