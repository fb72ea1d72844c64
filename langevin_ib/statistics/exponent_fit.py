"""The implicit-bias exponent on u·v's level sets, fitted by maximum likelihood (docs/theory.md §3–4).

On each level set χ, p(θ | χ) ∝ exp(−L/T − λr/T) r^(−a), r = √(θ² + χ²), L = ½(θ − θ*)²: a = 1 is
the geometric law (:mod:`langevin_ib.predictions.theory_uv`), a = 0 the naive one. The exponent is
fitted to binned joint counts (θ bins within each χ bin, multinomial per χ column), its standard
error from the observed Fisher information (the likelihood's curvature at the maximum).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(8)


def _log_cell_masses(a: float, theta_edges, chi_centres, temperature, target, weight_decay) -> np.ndarray:
    """(bins_θ, bins_χ) log P(θ bin | χ) of the exponent-a family, normalised over the in-range θ bins."""
    lo, hi = theta_edges[:-1], theta_edges[1:]
    theta = (lo + hi)[:, None] / 2 + (hi - lo)[:, None] / 2 * _NODES  # (bins, nodes)
    r = np.sqrt(theta[..., None] ** 2 + chi_centres**2)  # (bins, nodes, χ)
    log_f = (-0.5 * (theta[..., None] - target) ** 2 - weight_decay * r) / temperature - a * np.log(r)
    shift = log_f.max()
    mass = np.einsum("n,bnc->bc", _WEIGHTS, np.exp(log_f - shift)) * ((hi - lo) / 2)[:, None]
    return np.log(mass) - np.log(mass.sum(axis=0, keepdims=True))


def exponent_fit(theta_edges, chi_edges, counts, *, temperature, target, weight_decay=0.0) -> tuple[float, float]:
    """(a, its standard error): the ML exponent from joint counts (bins_θ, bins_χ) (groups summed)."""
    counts = np.asarray(counts, float)
    chi_centres = (chi_edges[:-1] + chi_edges[1:]) / 2
    keep = counts.sum(axis=0) > 0

    def nll(a):
        log_p = _log_cell_masses(a, theta_edges, chi_centres[keep], temperature, target, weight_decay)
        return -np.sum(counts[:, keep] * log_p)

    if not keep.any():
        return float("nan"), float("nan")
    a = optimize.minimize_scalar(nll, bounds=(-5, 5), method="bounded", options={"xatol": 1e-6}).x
    h = 1e-3
    curvature = (nll(a + h) - 2 * nll(a) + nll(a - h)) / h**2
    return float(a), float(1 / np.sqrt(curvature)) if curvature > 0 else float("nan")
