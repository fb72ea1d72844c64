"""The implicit-bias exponent on u·v's level sets, fitted by maximum likelihood (docs/theory.md §3–4).

On each level set χ, p(θ | χ) ∝ exp(−L/T − λr/T) r^(−a), r = √(θ² + χ²), L = ½(θ − θ*)²: a = 1 is
the geometric law (:mod:`langevin_ib.predictions.theory_uv`), a = 0 the naive one. The exponent is
fitted to binned joint counts (θ bins within each χ bin, multinomial per χ column; the law of θ in a
χ bin is the family's joint density integrated over the bin, χ's own spread taken flat across one
bin; the law at the bin's centre biased a upwards by ≈ 0.05–0.1 with uv_small's χ bins of width 0.5,
docs/sweeps.md). Its standard error: a jackknife over the
independent chain groups where the counts are given per group (it holds the autocorrelation of each
chain's observations), else the observed Fisher information, which treats every observation as
independent (three times too small on the README's sweep, docs/sweeps.md).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(8)


def _log_cell_masses(a: float, theta_edges, chi_edges, temperature, target, weight_decay) -> np.ndarray:
    """(bins_θ, bins_χ) log P(θ bin | χ bin) of the exponent-a family: its density integrated over the θ bin and
    the χ bin (Gauss–Legendre in both), normalised over the in-range θ bins of each χ bin."""
    lo, hi = theta_edges[:-1], theta_edges[1:]
    theta = (lo + hi)[:, None] / 2 + (hi - lo)[:, None] / 2 * _NODES  # (bins, nodes)
    chi = (chi_edges[:-1] + chi_edges[1:])[:, None] / 2 + np.diff(chi_edges)[:, None] / 2 * _NODES  # (χ bins, nodes)
    r = np.sqrt(theta[:, :, None, None] ** 2 + chi**2)  # (bins, nodes, χ bins, χ nodes)
    log_f = (-0.5 * (theta[:, :, None, None] - target) ** 2 - weight_decay * r) / temperature - a * np.log(r)
    mass = np.einsum("n,bncm->bcm", _WEIGHTS, np.exp(log_f - log_f.max())) * ((hi - lo) / 2)[:, None, None]
    mass = np.einsum("m,bcm->bc", _WEIGHTS, mass)
    return np.log(mass) - np.log(mass.sum(axis=0, keepdims=True))


def _fit(theta_edges, chi_edges, counts, temperature, target, weight_decay) -> tuple[float, float]:
    """(a, its Fisher standard error) from joint counts (bins_θ, bins_χ)."""
    keep = counts.sum(axis=0) > 0

    def nll(a):
        log_p = _log_cell_masses(a, theta_edges, chi_edges, temperature, target, weight_decay)
        return -np.sum(counts[:, keep] * log_p[:, keep])

    if not keep.any():
        return float("nan"), float("nan")
    a = optimize.minimize_scalar(nll, bounds=(-5, 5), method="bounded", options={"xatol": 1e-6}).x
    h = 1e-3
    curvature = (nll(a + h) - 2 * nll(a) + nll(a - h)) / h**2
    return float(a), float(1 / np.sqrt(curvature)) if curvature > 0 else float("nan")


def exponent_fit(theta_edges, chi_edges, counts, *, temperature, target, weight_decay=0.0) -> tuple[float, float]:
    """(a, its standard error): the ML exponent from joint counts (bins_θ, bins_χ), or (G, bins_θ, bins_χ) per
    chain group (then the s.e. is the delete-one-group jackknife's: √((G−1)/G Σ_g (a₋g − ā)²))."""
    counts = np.asarray(counts, float)
    if counts.ndim == 2:
        return _fit(theta_edges, chi_edges, counts, temperature, target, weight_decay)
    total = counts.sum(axis=0)
    a = _fit(theta_edges, chi_edges, total, temperature, target, weight_decay)[0]
    groups = len(counts)
    if groups < 2 or not np.isfinite(a):
        return a, float("nan")
    left_out = np.asarray([_fit(theta_edges, chi_edges, total - c, temperature, target, weight_decay)[0] for c in counts])
    return a, float(np.sqrt((groups - 1) / groups * np.sum((left_out - left_out.mean()) ** 2)))
