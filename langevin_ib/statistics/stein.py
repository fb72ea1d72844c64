"""Stein identities on the level sets of χ: a binning-free test of which density the chains sample.

For a density p w.r.t. the surface measure dσ of the level sets {χ = c} and a bounded vector field
g tangent to them, integration by parts on each level set gives E[g·∇ log p + div_S g] = 0, whatever
the law of c across level sets. No histogram, no integral over the fibre, any number of parameters.
Hypotheses, each a log density w.r.t. dσ on every level set (docs/theory.md §3–4):

- ``geometric``: −U/T − ½ log det G_χ, the Gibbs measure e^{−U/T}dθ conditioned on χ (coarea
  formula; on χ = 0 this is the slice density, paper eq. 8);
- ``naive``: −U/T + log J_φ, i.e. e^{−U/T} read as a density in the chart q = φ(θ) (dq = J_φ dσ);
- ``projected``: −U/T, the law of dynamics constrained to the slice (Fixman 1974), which lacks
  the (det G_χ)^(−1/2) factor.

Test fields g_1 = b(P∇½ log det G_χ) and g_2 = b(P∇ log J_φ), b(h) = h/(1 + |h|²), P = I − Dχᵀ G_χ⁻¹ Dχ
the projector onto ker Dχ: the directions in which the hypotheses' scores differ, bounded so that
every statistic has finite variance. J_φ² = det(P DφᵀDφ P + I − P), the area Jacobian of φ on ker Dχ.
div_S g = tr(P Dg) is estimated without bias by vᵀP(Dg)v, v a Rademacher vector (Hutchinson).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy import stats

from langevin_ib import geometry
from langevin_ib.models.base import Model
from langevin_ib.statistics import goodness_of_fit

HYPOTHESES = ("geometric", "naive", "projected")
FIELDS = ("log_det_gram", "log_chart_jacobian")
WIDTH = len(HYPOTHESES) * len(FIELDS) + 1  # the statistics, then whether they were finite


def _log_volumes(model: Model, unravel: Callable, flat: jax.Array):
    """(½ log det G_χ, log J_φ) and (Dχ, G_χ⁻¹Dχ), from which x P = x − (x Dχᵀ) G_χ⁻¹Dχ (:func:`_project`).

    With R = [Dφ P; Dχ] ((m + k) × d), RᵀR = P DφᵀDφ P + DχᵀDχ is block diagonal on ker Dχ ⊕ range Dχᵀ
    with blocks the area metric and G_χ, so log J_φ = ½ log det RᵀR − ½ log det G_χ, and
    ½ log det RᵀR = log |det R| when φ's dimension is d − k (every shipped model but the matrix
    factorisations and attention): one d × d LU, and no d × d product (docs/engineering.md, "The Stein
    statistic's cost")."""
    jac = geometry.breaking_jacobian(model.group, unravel(flat))
    gram = jac @ jac.T
    breaking = (jac, jnp.linalg.solve(gram, jac))
    d_chart = jax.jacfwd(lambda x: model.chart(unravel(x)))(flat).reshape(-1, flat.shape[0])
    rows = jnp.concatenate([_project(d_chart, breaking), jac])
    half_log_det_gram = 0.5 * jnp.linalg.slogdet(gram)[1]
    if rows.shape[0] == rows.shape[1]:
        log_det_rows = jnp.linalg.slogdet(rows)[1]
    else:
        log_det_rows = 0.5 * jnp.linalg.slogdet(rows.T @ rows)[1]
    return jnp.stack([half_log_det_gram, log_det_rows - half_log_det_gram]), breaking


def _project(x: jax.Array, breaking: tuple[jax.Array, jax.Array]) -> jax.Array:
    """x P for rows x, P = I − Dχᵀ G_χ⁻¹ Dχ the projector onto ker Dχ (P symmetric: also P x for a vector)."""
    jac, solved = breaking
    return x - (x @ jac.T) @ solved


def statistic(model: Model, temperature: float, weight_decay: float) -> Callable:
    """``fn(key, params) -> (WIDTH,)``: the Stein statistics of one chain's θ, then 1, or zeros then 0
    where any is non-finite (the snapshot is left out alone: :func:`tests`).

    Row H of the statistics reshaped to (hypotheses, fields) has expectation zero under hypothesis H."""
    potential = model.potential(weight_decay)

    def one_chain(key: jax.Array, params) -> jax.Array:
        flat, unravel = ravel_pytree(params)

        def fields(x):
            gradients, breaking = jax.jacrev(lambda y: _log_volumes(model, unravel, y), has_aux=True)(x)
            tangent = _project(gradients, breaking)  # rows P∇f_i
            bounded = tangent / (1.0 + jnp.sum(tangent**2, axis=1, keepdims=True))
            return bounded, (gradients, breaking)

        probe = jax.random.rademacher(key, flat.shape, flat.dtype)
        (g, (gradients, breaking)), (dg_probe, _) = jax.jvp(fields, (flat,), (probe,))
        divergence = dg_probe @ _project(probe, breaking)
        common = g @ (-jax.grad(lambda x: potential(unravel(x)))(flat) / temperature) + divergence
        volume = g @ gradients.T  # (fields, volumes): g_i · ∇ log-volume_k
        values = jnp.stack([common - volume[:, 0], common + volume[:, 1], common]).reshape(-1)
        finite = jnp.all(jnp.isfinite(values))
        return jnp.concatenate([jnp.where(finite, values, 0.0), finite.astype(values.dtype)[None]])

    return one_chain


def hotelling(chain_means: np.ndarray, significance: float) -> dict:
    """Test E s = 0 from independent per-chain means (n, k): T² = n m̄ᵀ S⁺ m̄ against χ²_rank(S).

    With n in the thousands the χ² law of T² is accurate (the F correction is below 1e-3 relative);
    S⁺ and the rank drop fields that coincide (e.g. for θ = uv, where g_1 ∥ g_2)."""
    n = chain_means.shape[0]
    mean = chain_means.mean(axis=0)
    covariance = np.atleast_2d(np.cov(chain_means, rowvar=False))
    eigenvalues = np.linalg.eigvalsh(covariance)
    rank = int(np.sum(eigenvalues > 1e-9 * eigenvalues.max())) if eigenvalues.max() > 0 else 0
    t_squared = float(n * mean @ np.linalg.pinv(covariance, rcond=1e-9, hermitian=True) @ mean) if rank else 0.0
    p_value = float(stats.chi2.sf(t_squared, rank)) if rank else float("nan")  # no variance: nothing to test
    z = mean / np.sqrt(np.maximum(np.diag(covariance), 1e-300) / n)
    return {"t_squared": t_squared, "rank": rank, "p_value": p_value,
            "z": dict(zip(FIELDS, map(float, z))), "verdict": goodness_of_fit.verdict(p_value, significance)}


def tests(sums: np.ndarray, snapshots: int, alive: np.ndarray, significance: float) -> dict:
    """Score every hypothesis from per-chain sums (chains, WIDTH) of :func:`statistic` over ``snapshots``.

    A snapshot whose statistic is non-finite (the test fields are singular where an orbit
    degenerates, e.g. a neuron with v_j = 0 and W_j = 0, or is tangent to the level set of χ, where
    J_φ = 0: docs/results.md, "The non-finite Stein snapshots of the GL runs") is left out alone and counted (``non_finite_snapshots``): those
    points are a null set of the law, while leaving out the whole chain would select on its
    trajectory. Each chain's mean is over its finite snapshots (all but a handful of chains have
    them all, so the per-chain means stay identically distributed to that precision). Chains that
    diverged, or with no finite snapshot, are left out and counted; with none left there is no verdict."""
    counts, values = sums[:, -1], sums[:, :-1]
    kept = alive & (counts > 0) & np.isfinite(values).all(axis=1)
    means = values[kept].astype(np.float64) / counts[kept, None]
    means = means.reshape(means.shape[0], len(HYPOTHESES), len(FIELDS))
    out = {
        "description": "Stein identities E[g·∇log p + div g] = 0 on the level sets of χ, "
                       "one statistic per test field, averaged along each chain",
        "chains": int(kept.sum()), "snapshots_per_chain": snapshots,
        "left_out": {"diverged": int((~alive).sum()), "non_finite": int((alive & ~kept).sum())},
        "non_finite_snapshots": int(np.sum(snapshots - counts[alive & kept])),
    }
    if kept.sum() < 2:
        out["hypotheses"] = None
        return out
    out["hypotheses"] = {h: hotelling(means[:, i], significance) for i, h in enumerate(HYPOTHESES)}
    return out
