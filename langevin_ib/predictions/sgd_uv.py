"""The stationary law of SGD on u·v's balanced slice: a one-dimensional diffusion in θ (docs/sgd.md).

Fresh data y = θ*x + σε, ℓ = ½(θx − y)² (θ = uv). SGD drives χ to 0 pathwise (Δχ = −η²g_B²χ), and
on u = v one step is exactly θ' = θ(1 − ηg_B)², g_B = a(θ − θ*) − σe with a = mean_b x_b²,
e = mean_b x_b ε_b: E g_B = θ − θ*, Var g_B = (2(θ − θ*)² + σ²)/B. Per step, to order η²,

    b(θ) = E[θ' − θ] = θ(−2η(θ − θ*) + η²E g_B²),   D(θ) = ½Var θ' = 2η²θ² Var g_B,

and the stationary density of dθ = b dt + √(2D) dW is p(θ) ∝ D(θ)⁻¹ exp ∫_{θ*}^θ b/D (quadrature).
The noise is orthogonal to the orbit and state-dependent (∝ θ²), which neither the naive Gibbs law
nor the geometric one at a single T_eff accounts for. ``effective_temperature`` is the isotropic
local one at the minimum on the slice, T_eff = η tr Σ/(2B·d) with d = 2 parameters: ησ²θ*/(2B).
Near θ* the diffusion's variance of θ is D/(2ηθ*) = ηθ*σ²/B = 2T_eff: the noise is rank one, along
∇θ, so averaging it over d = 2 directions halves the temperature θ feels. The exact law of the map
(not its O(η²) diffusion) is :mod:`langevin_ib.predictions.sgd_uv_chain`.
"""

from __future__ import annotations

import numpy as np


def effective_temperature(step_size: float, batch_size: int, label_noise: float, target: float) -> float:
    """η tr Σ(θ*)/(2Bd) at u = v = √θ*: Σ = σ²(v, u)(v, u)ᵀ, tr Σ = 2σ²θ*, d = 2."""
    return step_size * label_noise**2 * abs(target) / (2 * batch_size)


def log_density(theta, *, step_size: float, batch_size: int, label_noise: float, target: float):
    """log p(θ) up to a constant for θ > 0 (module docstring), by cumulative trapezoid on ``theta`` (sorted)."""
    theta = np.asarray(theta, float)
    delta = theta - target
    variance = (2 * delta**2 + label_noise**2) / batch_size
    drift = theta * (-2 * step_size * delta + step_size**2 * (delta**2 + variance))
    diffusion = 2 * step_size**2 * theta**2 * variance
    ratio = drift / diffusion
    integral = np.concatenate([[0.0], np.cumsum(0.5 * (ratio[1:] + ratio[:-1]) * np.diff(theta))])
    integral -= np.interp(target, theta, integral)
    return integral - np.log(diffusion)


def bin_probabilities(edges, *, step_size: float, batch_size: int, label_noise: float, target: float,
                      points: int = 20001) -> np.ndarray:
    """Probability of each θ bin, normalised over the binned range (θ > 0)."""
    edges = np.asarray(edges, float)
    grid = np.linspace(max(edges[0], 1e-6 * edges[-1]), edges[-1], points)
    log_p = log_density(grid, step_size=step_size, batch_size=batch_size, label_noise=label_noise, target=target)
    p = np.exp(log_p - log_p.max())
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(grid))])
    masses = np.diff(np.interp(edges, grid, cumulative))
    return masses / masses.sum()
