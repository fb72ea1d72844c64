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
tails), whose quadrature error is estimated by redoing it at twice the step. The PIT and its
Rao–Scott test are those of :mod:`langevin_ib.statistics.pit`.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.statistics.pit import Form, strength_range
from langevin_ib.models.rescaling import factor_dims, strengths
from langevin_ib.base import Binning
from langevin_ib.models.base import Model

HYPOTHESES = ("geometric", "naive", "slice")
STEP = 0.004
PEAK_MARGIN = 4.0  # g_a(x* + 4) / g_a(x*) = e^{p(4 − (e^8 − 1)/2)}: below e^{−1400p}
UNDERFLOW = 700.0  # e^{−700} is the smallest float64 scale kept


def _factor(dim: int, rate: float, low: float, step: float) -> tuple[float, np.ndarray]:
    """(grid start, g_a / max g_a) for g_a(x) = e^{p x − rate·e^{2x}} on a grid of the given step."""
    peak = 0.5 * np.log(dim / (2 * rate))
    start = step * np.floor(max(low, peak - UNDERFLOW / dim) / step)
    x = start + step * np.arange(int(np.ceil((peak + PEAK_MARGIN - start) / step)) + 1)
    log_g = dim * x - rate * np.exp(2 * x)
    return start, np.exp(log_g - dim * (peak - 0.5))  # the maximum, p x* − p/2, at x* off the grid too


def _convolved(dims: tuple[int, ...], rate: float, log_low: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    peaks = 0.5 * np.log(np.asarray(dims) / (2 * rate))
    start, g = 0.0, np.ones(1)
    for a, dim in enumerate(dims):
        # factor a must reach x_a = log s − Σ_{b≠a} x_b with every other x_b below its peak + margin
        low = log_low - np.sum(np.delete(peaks, a) + PEAK_MARGIN) - 1.0
        start_a, g_a = _factor(dim, rate, low, step)
        start, g = start + start_a, np.convolve(g, g_a) * (step if a else 1.0)  # Riemann sum of ∫ g(x − y) g_a(y) dy
    x = start + step * np.arange(len(g))
    return x, np.log(np.maximum(g, np.finfo(float).tiny))


@functools.lru_cache(maxsize=32)
def log_fibre_weight(dims: tuple[int, ...], rate: float, log_low: float, log_high: float
                     ) -> tuple[np.ndarray, np.ndarray, float]:
    """(x, log g(x), error): g = g_1 ∗ ⋯ ∗ g_k with rate = λ/2T, up to a constant, on a grid
    covering [log_low, log_high]; error = max |Δ log g| against the grid of twice the step,
    interpolated (so quadrature and interpolation), over the points of that range where g is within
    e^{−30} of its maximum there. Both errors scale as step²: the estimate bounds the error of this
    grid about fourfold (against K_ν for pairs: 9e-5 where the estimate says 3e-4)."""
    x, log_g = _convolved(dims, rate, log_low, STEP)
    coarse_x, coarse = _convolved(dims, rate, log_low, 2 * STEP)
    keep = (x >= log_low) & (x <= log_high)
    if not keep.any() or x[-1] < log_high:
        raise ValueError(f"fibre grid [{x[0]:.3g}, {x[-1]:.3g}] does not cover log s in [{log_low:.3g}, {log_high:.3g}]")
    difference = np.abs(log_g[keep] - np.interp(x[keep], coarse_x, coarse))
    relevant = log_g[keep] > log_g[keep].max() - 30.0
    return x, log_g, float(difference[relevant].max())


def _log_range(binning: Binning) -> tuple[float, float]:
    lo_pos, hi_pos, lo_neg, hi_neg = strength_range(binning, signed=True)
    return float(np.log(min(lo_pos, lo_neg))), float(np.log(max(hi_pos, hi_neg)))


def log_densities(model: Model, temperature: float, weight_decay: float, binning: Binning) -> Callable:
    """``fn(params, copy, s) -> (3,)``: unnormalised log densities of copy's strength at s, per hypothesis."""
    if weight_decay <= 0:
        raise ValueError(f"dynamics.weight_decay: the fibre marginal needs weight decay > 0, got {weight_decay}")
    chain, log_range = model.chain, _log_range(binning)

    def fn(params: dict, copy: jax.Array, strength: jax.Array) -> jax.Array:
        factors = chain.factors(params)
        dims = tuple(int(f.shape[1]) for f in factors)  # static: p_a per factor
        x, log_g, _ = log_fibre_weight(dims, weight_decay / (2 * temperature), *log_range)
        old = strengths(chain, params)[0][copy]
        ratio = (strength / old) ** (1.0 / chain.depth)
        scales = jnp.ones((chain.depth, chain.copies), strength.dtype).at[:, copy].set(ratio)
        energy = -model.loss(chain.scale(params, scales)) / temperature
        log_s, k, excess = jnp.log(strength), chain.depth, sum(dims) - chain.depth
        geometric = energy + jnp.interp(log_s, jnp.asarray(x, log_s.dtype), jnp.asarray(log_g, log_s.dtype)) - log_s
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
