"""Predicted densities of θ = u·v (docs/theory.md §3–4), as functions and as bin-integrated probabilities.

Potential U(u, v) = L(uv) + (λ/2)(u² + v²) with L(θ) = ½(θ − θ*)², temperature T.
Coordinates (θ, χ) = (uv, ½(u² − v²)): |det ∂(θ, χ)/∂(u, v)| = u² + v² = 2√(θ² + χ²) and each
(θ, χ) has two preimages ±(u, v), so the Gibbs measure e^{−U/T} du dv is, in (θ, χ),

    e^{−L(θ)/T} · e^{−λ√(θ²+χ²)/T} / √(θ² + χ²)  dθ dχ           (coarea formula).

Hypotheses, named as in every output:
- ``geometric``: on the level set χ = c, p(θ | c) ∝ e^{−U/T}/√(θ² + c²) (on c = 0: e^{−L/T}/|θ|,
  the slice density (8) times its chart Jacobian); with λ > 0 the exact marginal of θ,
  p(θ) ∝ e^{−L/T} ∫_fibre e^{−R/T} dσ/|∇θ| = e^{−L/T} K₀(λ|θ|/T)·const.
- ``naive``: p(θ) ∝ e^{−L(θ)/T}, the Gibbs density as if θ were the parameter.
- ``paper_eq7``: p(θ) ∝ e^{−L(θ)/T} |θ|^{−1/2}, the paper's printed eqs. (6)–(7).
- ``projected`` (chains constrained to χ = 0, :mod:`langevin_ib.dynamics.integrators.projected`): the law
  e^{−U/T}dσ_S without the (det G_χ)^(−1/2) factor; on u = v = r, dσ_S = √2 dr and θ = r², so
  p(θ) ∝ e^{−U/T} θ^{−1/2}: the paper's printed formula is the density of the projected dynamics.
"""

from __future__ import annotations

import numpy as np

from langevin_ib.models.base import Model
from langevin_ib.statistics.comparison import Comparison, HistogramTest, one_observable

HYPOTHESES = ("naive", "paper_eq7", "geometric")
SLICE_HYPOTHESES = ("naive", "projected", "geometric")
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(24)


def loss(theta, target: float):
    return 0.5 * (theta - target) ** 2


def density(hypothesis: str, theta, *, temperature: float, target: float, chi: float = 0.0,
            weight_decay: float = 0.0):
    """Unnormalised density in θ: the two θ-only hypotheses, or ``geometric`` on the level set χ = chi."""
    theta = np.asarray(theta, float)
    gibbs = np.exp(-loss(theta, target) / temperature)
    if hypothesis == "naive":
        return gibbs
    if hypothesis == "paper_eq7":
        return gibbs / np.sqrt(np.abs(theta))
    if hypothesis == "geometric":
        radius = np.sqrt(theta**2 + chi**2)
        return gibbs * np.exp(-weight_decay * radius / temperature) / radius
    raise ValueError(f"hypothesis: got {hypothesis!r}; accepted values are {list(HYPOTHESES)}")


def fibre_weight(theta, *, temperature: float, weight_decay: float, cutoff: float = 40.0):
    """∫ over the fibre {uv = θ} of e^{−R/T} dσ/|∇θ|, by quadrature.

    Parametrise each branch by s: u = ±√|θ| e^{s}, v = ±sign(θ)√|θ| e^{−s}; then dσ/|∇θ| = ds and
    R = λ|θ|cosh 2s. The integrand is negligible once λ|θ|cosh 2s/T > cutoff, which bounds s.
    Equals 2·K₀(λ|θ|/T) (tested against scipy.special.k0).
    """
    theta = np.abs(np.asarray(theta, float))
    rate = weight_decay * theta / temperature
    s_max = 0.5 * np.arccosh(np.maximum(cutoff / rate, 1.0))
    s = s_max[..., None] * _NODES
    values = np.exp(-rate[..., None] * np.cosh(2 * s))
    return 2.0 * s_max * np.sum(_WEIGHTS * values, axis=-1)  # two branches × (s_max · Σ w f)


def marginal_density(hypothesis: str, theta, *, temperature: float, target: float, weight_decay: float):
    """Unnormalised marginal density of θ with weight decay λ > 0 (the Gibbs measure is then normalisable)."""
    if hypothesis == "geometric":
        gibbs = np.exp(-loss(np.asarray(theta, float), target) / temperature)
        return gibbs * fibre_weight(theta, temperature=temperature, weight_decay=weight_decay)
    return density(hypothesis, theta, temperature=temperature, target=target)


def _bin_nodes(edges: np.ndarray):
    """Gauss–Legendre nodes (bins, n) and weights (bins, n) on every bin."""
    half = 0.5 * np.diff(edges)[:, None]
    mid = 0.5 * (edges[1:] + edges[:-1])[:, None]
    return mid + half * _NODES, half * _WEIGHTS


def _bin_masses(edges, unnormalised) -> np.ndarray:
    """∫ of ``unnormalised(θ)`` over each bin by Gauss–Legendre, normalised over the binned range."""
    theta, weights = _bin_nodes(np.asarray(edges, float))
    mass = np.sum(weights * unnormalised(theta), axis=1)
    return mass / mass.sum()


def bin_probabilities(edges, hypothesis: str, *, temperature: float, target: float, weight_decay: float = 0.0):
    """Marginal probability of each θ bin, normalised over the binned range."""
    if weight_decay > 0:
        return _bin_masses(edges, lambda theta: marginal_density(
            hypothesis, theta, temperature=temperature, target=target, weight_decay=weight_decay))
    return _bin_masses(edges, lambda theta: density(hypothesis, theta, temperature=temperature, target=target))


def slice_probabilities(edges, hypothesis: str, *, temperature: float, target: float, weight_decay: float = 0.0):
    """Probability of each θ bin for chains on the slice χ = 0 (where R = λ|θ|), normalised over the range."""

    def unnormalised(theta):
        if hypothesis == "projected":
            decay = np.exp(-weight_decay * np.abs(theta) / temperature)
            return density("paper_eq7", theta, temperature=temperature, target=target) * decay
        if hypothesis == "geometric":
            return density("geometric", theta, temperature=temperature, target=target, weight_decay=weight_decay)
        return density(hypothesis, theta, temperature=temperature, target=target)

    return _bin_masses(edges, unnormalised)


def level_set_probabilities(theta_edges, chi_edges, hypothesis: str, *, temperature: float, target: float,
                            weight_decay: float = 0.0):
    """P(θ ∈ bin i | χ ∈ column j), shape (θ bins, χ bins), each column normalised over the θ range.

    ``geometric`` integrates the (θ, χ) density above over each cell, assuming the chains' χ
    distribution is flat across one column (columns narrow against its spread). Inner integral in
    s = asinh(χ/|θ|), where dχ/√(θ²+χ²) = ds and λ√(θ²+χ²) = λ|θ|cosh s.
    The θ-only hypotheses give the same column in every χ column.
    """
    theta_edges, chi_edges = np.asarray(theta_edges, float), np.asarray(chi_edges, float)
    columns = len(chi_edges) - 1
    if hypothesis != "geometric":
        column = bin_probabilities(theta_edges, hypothesis, temperature=temperature, target=target)
        return np.repeat(column[:, None], columns, axis=1)
    theta, weights = _bin_nodes(theta_edges)  # (K, n)
    abs_theta = np.maximum(np.abs(theta), 1e-300)[..., None]  # (K, n, 1)
    s_low = np.arcsinh(chi_edges[:-1] / abs_theta)  # (K, n, C)
    s_high = np.arcsinh(chi_edges[1:] / abs_theta)
    half = 0.5 * (s_high - s_low)
    s = (0.5 * (s_high + s_low))[..., None] + half[..., None] * _NODES  # (K, n, C, m)
    inner = half * np.sum(_WEIGHTS * np.exp(-weight_decay * abs_theta[..., None] * np.cosh(s) / temperature), axis=-1)
    gibbs = np.exp(-loss(theta, target) / temperature)[..., None]
    mass = np.sum(weights[..., None] * gibbs * inner, axis=1)  # (K, C)
    return mass / mass.sum(axis=0, keepdims=True)


def declared(model: Model) -> bool:
    """Whether ``model`` declares the u·v potential (``closed_form`` ("uv", (("target", θ*),)))."""
    return model.closed_form is not None and model.closed_form[0] == "uv"


def _kwargs(model: Model, dynamics) -> dict:
    return dict(temperature=dynamics.temperature, target=dict(model.closed_form[1])["target"],
                weight_decay=dynamics.weight_decay)


def _slice(model: Model, dynamics, result) -> Comparison:
    return one_observable(result, "theta", "θ histogram of chains constrained to the slice χ = 0", slice_probabilities,
                          SLICE_HYPOTHESES, **_kwargs(model, dynamics))


def _level_set(model: Model, dynamics, result) -> Comparison:
    theta_edges, chi_edges = (result.binnings[n].edges for n in result.joint)
    kwargs = _kwargs(model, dynamics)
    return Comparison("θ histogram conditioned on level sets of χ (one column per χ bin)", result.histograms.joint,
                      {h: level_set_probabilities(theta_edges, chi_edges, h, **kwargs) for h in HYPOTHESES},
                      result.joint)


def _marginal(model: Model, dynamics, result) -> Comparison:
    return one_observable(result, "theta", "θ histogram, all χ: the weight-decayed Gibbs measure is normalisable",
                          bin_probabilities, HYPOTHESES, **_kwargs(model, dynamics))


SLICE = HistogramTest(_slice, "projected", ("theta",), declared)  # θ on the slice
LEVEL_SET = HistogramTest(_level_set, "free", ("theta", "chi"), declared)  # θ on each level set of χ
MARGINAL = HistogramTest(_marginal, "weight_decayed", ("theta",), declared)  # θ over all χ (§4b)
