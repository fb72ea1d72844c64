"""Full conditionals of the rescaling strengths under the weight-decayed Gibbs measure, χ integrated
out over each fibre: the marginal form of the prediction (docs/theory.md §4b) in each rescaling model's
own coordinate, however many coupled copies it has.

With U = L + (λ/2)|θ|², λ > 0, the Gibbs measure e^{−U/T} is normalisable. In a copy's polar
coordinates f_a = r_a ω_a, dθ = Π r_a^{p_a−1} dr_a dω_a, and L depends on the copy only through
its strength s = Π r_a and its directions (the rescalings preserve L). Holding the directions and
every other parameter, the density of s under each hypothesis is

- ``geometric``  e^{−L(s)/T} m(s): the exact conditional, with m(s) = ∫_{Π r_a = s} Π r_a^{p_a−1}
  e^{−λ r_a²/2T} dH/|∇Π r|, the integral of e^{−R/T} over the fibre of s (coarea formula). In
  x_a = log r_a, m(s) = g(log s)/s with g = g_1 ∗ ⋯ ∗ g_k, g_a(x) = e^{p_a x − λe^{2x}/2T}; a pair
  gives m(s) ∝ s^{(p+q)/2−1} K_{(p−q)/2}(λs/T) (2K₀(λ|θ|/T) for u·v, as in :mod:`theory_uv`);
- ``naive``      e^{−L(s)/T} s^{Σ(p_a−1)}: Gibbs flat in the chart f_1 ⊗ ⋯ ⊗ f_k, regulariser ignored;
- ``slice``      every chain on χ = 0 (r_a = s^{1/k}) with the level-set density there,
  e^{−(L(s) + kλs^{2/k}/2)/T} s^{(Σp_a−k)/k} / (k s^{2−2/k}): paper eq. (8) read as if weight decay
  held the chains on the balanced slice.

g is a discrete convolution on a uniform grid in x (sums of positive terms, no cancellation in the
tails) with the same number of points whatever λ/2T, so that T and λ may be traced (a sweep's point
and its run alone evaluate one program); its quadrature error is estimated by redoing it at twice the step. The PIT and its
Rao–Scott test are those of :mod:`langevin_ib.statistics.pit`.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.statistics.pit import Form, strength_range
from langevin_ib.models.rescaling import factor_dims, strengths
from langevin_ib.base import Binning
from langevin_ib.models.base import Model

HYPOTHESES = ("geometric", "naive", "slice")
POINTS = 4097  # grid points per factor: step 0.004 over a span of 16 in log s
PEAK_MARGIN = 4.0  # g_a(x* + 4) / g_a(x*) = e^{p(4 − (e^8 − 1)/2)}: below e^{−1400p}


def _table(dims: tuple[int, ...], rate: jax.Array, log_low: float, points: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(x₀, step, log g at x₀ + step·arange): g = g_1 ∗ ⋯ ∗ g_k up to a constant, for a traced rate =
    λ/2T. Factor a's grid runs from low_a = log_low − Σ_{b≠a}(x*_b + margin) − 1 to its peak x*_a +
    margin: beyond either end the other factors leave nothing to integrate for log s ≥ log_low. Those
    spans are all Σ_b(x*_b + margin) + 1 − log_low, so every factor has ``points`` points and one step,
    whatever λ/2T. The factors are tilted by e^{−τx}, τ = min p_a, for the convolution (a Riemann sum
    of positive terms) and g tilted back, so that the left tails e^{p_a x} stay in float32's range."""
    peaks = 0.5 * (jnp.log(jnp.asarray(dims, rate.dtype) / 2) - jnp.log(rate))
    reach = jnp.sum(peaks + PEAK_MARGIN)
    step = (reach + 1.0 - log_low) / (points - 1)
    tilt, start, g = min(dims), jnp.zeros((), rate.dtype), jnp.ones(1, rate.dtype)
    for a, dim in enumerate(dims):
        low = log_low - (reach - peaks[a] - PEAK_MARGIN) - 1.0
        x = low + step * jnp.arange(points, dtype=rate.dtype)
        log_g_a = (dim - tilt) * x - rate * jnp.exp(2 * x)
        start, g = start + low, jnp.convolve(g, jnp.exp(log_g_a - jnp.max(log_g_a))) * (step if a else 1.0)
    x = start + step * jnp.arange(len(g), dtype=rate.dtype)
    return start, step, jnp.log(jnp.maximum(g, jnp.finfo(rate.dtype).tiny)) + tilt * x


def log_fibre_weight(dims: tuple[int, ...], rate: float, log_low: float, log_high: float
                     ) -> tuple[np.ndarray, np.ndarray, float]:
    """(x, log g(x), error) of :func:`_table` for a concrete rate; error = max |Δ log g| against the
    grid of twice the step, interpolated (so quadrature and interpolation), over the points of
    [log_low, log_high] where g is within e^{−30} of its maximum there. Both errors scale as step²:
    the estimate bounds the error of this grid about fourfold (against K_ν for pairs)."""
    rate = jnp.asarray(rate)
    start, step, log_g = (np.asarray(a, float) for a in _table(dims, rate, log_low, POINTS))
    coarse = np.asarray(_table(dims, rate, log_low, (POINTS + 1) // 2)[2], float)
    x = start + step * np.arange(len(log_g))
    keep = (x >= log_low) & (x <= log_high)
    difference = np.abs(log_g[keep] - np.interp(x[keep], start + 2 * step * np.arange(len(coarse)), coarse))
    relevant = log_g[keep] > log_g[keep].max() - 30.0
    return x, log_g, float(difference[relevant].max())


def _log_range(binning: Binning) -> tuple[float, float]:
    lo_pos, hi_pos, lo_neg, hi_neg = strength_range(binning, signed=True)
    return float(np.log(min(lo_pos, lo_neg))), float(np.log(max(hi_pos, hi_neg)))


def log_densities(model: Model, temperature: jax.Array, weight_decay: jax.Array, binning: Binning) -> Callable:
    """``fn(params, copy, s) -> (3,)``: unnormalised log densities of copy's strength at s, per hypothesis
    (weight decay > 0: :data:`MARGINAL` applies to weight-decayed chains only); T and λ may be traced."""
    chain, dims = model.chain, factor_dims(model)
    start, step, log_g = _table(dims, jnp.asarray(weight_decay / (2 * temperature)), _log_range(binning)[0], POINTS)
    grid = start + step * jnp.arange(len(log_g), dtype=log_g.dtype)

    def fn(params: dict, copy: jax.Array, strength: jax.Array) -> jax.Array:
        old = strengths(chain, params)[0][copy]
        ratio = (strength / old) ** (1.0 / chain.depth)
        scales = jnp.ones((chain.depth, chain.copies), strength.dtype).at[:, copy].set(ratio)
        energy = -model.loss(chain.scale(params, scales)) / temperature
        log_s, k, excess = jnp.log(strength), chain.depth, sum(dims) - chain.depth
        geometric = energy + jnp.interp(log_s, grid.astype(log_s.dtype), log_g.astype(log_s.dtype)) - log_s
        naive = energy + excess * log_s
        on_slice = (energy - 0.5 * k * weight_decay * strength ** (2.0 / k) / temperature
                    + (excess / k - 2 + 2.0 / k) * log_s)
        return jnp.stack([geometric, naive, on_slice])

    return fn


def quadrature_error(model: Model, temperature: float, weight_decay: float, binning: Binning) -> float:
    """The fibre weight's estimated error in log g over the histogrammed range (:func:`log_fibre_weight`)."""
    return log_fibre_weight(factor_dims(model), weight_decay / (2 * temperature), *_log_range(binning))[2]


MARGINAL = Form(
    HYPOTHESES,
    "probability integral transform of each copy's strength s under its full conditional with weight decay, "
    "χ integrated out over the fibre of s (directions and all other parameters held), tested for uniformity",
    "with χ integrated over the fibre",
    log_densities,
    chains="weight_decayed",
    error=quadrature_error)
