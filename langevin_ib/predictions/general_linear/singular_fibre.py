"""Full conditionals of the singular values of X = UVᵀ (rank r ≥ 2) under the weight-decayed Gibbs
measure, the GL(r) fibre integrated out: the marginal form of the prediction (docs/theory.md §4b) in the
singular values, for free chains (paper eqs. 54–58 give the slice form, :mod:`singular_modes`).

With U = L(UVᵀ) + (λ/2)(‖U‖² + ‖V‖²), the law of X is e^{−L(X)/T} times the law of UVᵀ under the
prior alone, U (n × r) and V (p × r) with independent N(0, c) entries, c = T/λ. That prior is
invariant under X ↦ O₁XO₂ᵀ, so in SVD coordinates (σ, P, Q) it is π(σ) dσ dP dQ, and holding the
singular vectors and the other singular values, σ_j has density e^{−L/T} π(σ). The squared singular
values x = σ² are the eigenvalues of UᵀU·VᵀV, a product of independent Wisharts W_r(n, c)·W_r(p, c).
Given the eigenvalues a of UᵀU, VᵀV seen through (UᵀU)^{1/2} is W_r(p, c·diag a), whose eigenvalue
density carries an average over O(r) (Muirhead 1982, Thm 3.2.18), so π_x(x) ∝ Π x_i^{(p−r−1)/2}
Π_{i<k}|x_i − x_k| K(x), and π_x is the same for UVᵀ and VUᵀ: n and p are ordered n ≥ p. For r = 2 the
O(2) average is a Bessel I₀ and

    K(x) = ∫∫ (a₁a₂)^{(n−3−p)/2} |a₁ − a₂| e^{−(a₁+a₂)/2c} e^{−S(1/a₁+1/a₂)/4c} I₀(D(1/a₁−1/a₂)/4c) da,

S = x₁ + x₂, D = x₁ − x₂; for r ≥ 3 it has no closed form and K is the integral over A = UᵀU of
:mod:`singular_fibre_qmc`, by quasi-Monte Carlo. Holding P, Q and the other singular values, the
density of σ_j is

- ``geometric``  e^{−L/T} π_x(σ²)·σ_j: the exact conditional (the GL(r) orbit and the weight decay
  integrated out);
- ``naive``      e^{−L/T} σ_j^{n+p−2r}Π_{k≠j}|σ_j² − σ_k²|: Gibbs flat in the quotient chart X (the
  rank-r Lebesgue measure), regulariser ignored;
- ``slice``      e^{−(L + λΣσ)/T} σ_j^{(n+p−2r−2)/2}: every chain on the singular-mode slice with the
  geometric level-set density there (:mod:`singular_modes`), where (λ/2)|θ|² = λΣσ.

K depends on c only through x/c² (a = c a′ in the integral): log K_c(x) = log K₁(x/c²) + a
constant, which a conditional drops. At r = 2 one table of log K₁ per model shape serves every c and
is read at log x − 2 log c, so T and λ may be traced; it covers c in SCALES × the histogram's upper
end, beyond which the conditionals are NaN (undefined). K₁ is a trapezoid sum in (v, w) with
a₁ = e^v ≥ a₂ = e^v/(1 + e^w) and the mirror half by symmetry: the |a₁ − a₂| kink becomes the smooth
factor e^w/(1 + e^w), every factor decays double-exponentially, and the trapezoid rule converges
exponentially in 1/step; the steps follow the width ~ y^{−1/4} of each factor's peak. The exponent
is written without cancellation, −S(b₁+b₂)/4c + |D(b₁−b₂)|/4c = −(b₁x_{(1)} + b₂x_{(2)})/2c with
b = 1/a and x ordered against b, and I₀ through i0e. log K₁ + √y₁ + √y₂ (the peaks e^{−√y} taken
out) is tabulated on a square grid in (log y₁, log y₂) and interpolated by cubic convolution; the
error estimate compares the interpolated table with quadrature at half the step between its nodes
(docs/theory.md, numerics). Moving σ_j to t changes U to
U + (t/σ_j − 1)p_j p_jᵀU, which keeps P, Q and the other singular values (U = PB, so UVᵀ =
P·diag(t/σ_j)·ΣQᵀ). Rank 1 is the strength's fibre form (:mod:`fibre`).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.predictions.general_linear import singular_fibre_qmc
from langevin_ib.statistics.pit import Form, Variable, strength_range
from langevin_ib.models.rescaling import factor_dims
from langevin_ib.base import Binning
from langevin_ib.models.base import Model

HYPOTHESES = ("geometric", "naive", "slice")
RANK = 2
STEP = 0.4  # quadrature step in (v, w) where the integrand is wide: halving it moves log K by < 1e-8
PEAK_STEP = 0.7  # × y^{−1/4}: the step where the peak in log a, of width ~ y^{−1/4} (y = x/c²), is narrower
GRID_STEP = 0.1  # table step in log y
WALL = 5.0  # e^{−e^5} = e^{−148}: the cut-offs e^{−x/2ca} and e^{−a/2c} beyond which nothing is summed
REACH = 4.0  # the table covers the other singular value up to REACH × the histogram's upper end
CLOSE = -16.0  # w below which a₁ − a₂ = a₂e^w contributes below e^{−32} of the diagonal's weight
SCALES = (1 / 64, 1.0)  # the c = T/λ the conditionals are defined for, relative to the histogram's upper end
TILE = 32  # table entries are computed in TILE × TILE blocks, each with the nodes its range needs
BUCKET = 4096  # node counts are padded to a power of two, at least BUCKET (few compiled shapes)


def _step(log_x: float, scale: float) -> float:
    """The trapezoid step in log a for a factor e^{−a/2c − x/2ca}: STEP, or finer where its peak in
    log a, of width ~ (x/c²)^{−1/4}, is narrower."""
    return min(STEP, PEAK_STEP * float(np.exp(-0.25 * (log_x - 2 * np.log(scale)))))


def _quadrature_nodes(rows: int, cols: int, scale: float, log_x: np.ndarray, refine: float) -> tuple[np.ndarray, np.ndarray]:
    """(log a₁, log a₂) of the nodes in (v, w), a₁ = e^v ≥ a₂ = e^v/(1 + e^w), with the log weight: the
    cell area times e^{3v+2w}/(1 + e^w)³ (the Jacobian and a₁ − a₂); padded with weight 0 to a power
    of two. a₁ carries the larger x: its nodes run from e^{−x/2ca} = e^{−e^WALL} to
    2c(n + p + 60) + 2√x, beyond which e^{−a/2c − x/2ca} is below e^{−(n+p+60)} of its peak at a = √x,
    at the step its x needs; a₂ down to its own wall, at the step of the smaller x; for every pair
    of log x (pairs, 2)."""
    small, big = log_x.min(axis=1), log_x.max(axis=1)
    top = np.log(2 * scale * (rows + cols + 60.0) + 2 * np.exp(0.5 * big.max()))
    low_big, low_small = (x.min() - np.log(2 * scale) - WALL for x in (big, small))
    step_v, step_w = (_step(x.max(), scale) / refine for x in (big, small))
    v = np.arange(low_big, top + step_v, step_v)
    w = np.arange(CLOSE, top - low_small + step_w, step_w)
    v, w = (g.ravel() for g in np.meshgrid(v, w, indexing="ij"))
    log_a2 = v - np.logaddexp(0.0, w)
    keep = log_a2 >= low_small
    log_a = np.stack([v[keep], log_a2[keep]])
    log_weight = 3 * v[keep] + 2 * w[keep] - 3 * np.logaddexp(0.0, w[keep]) + np.log(step_v * step_w)
    pad = max(BUCKET, 1 << (len(log_weight) - 1).bit_length()) - len(log_weight)
    return np.pad(log_a, ((0, 0), (0, pad))), np.pad(log_weight, (0, pad), constant_values=-np.inf)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _log_kernel(log_x: jax.Array, rows: int, cols: int, scale: float, log_a: jax.Array,
                log_weight: jax.Array) -> jax.Array:
    """log K at each pair of log x (pairs, 2) by the trapezoid sum over the nodes (module docstring)."""
    power = 0.5 * (rows - 3 - cols)
    a, b = jnp.exp(log_a), jnp.exp(-log_a)  # (2, nodes)
    base = log_weight + power * log_a.sum(0) - a.sum(0) / (2 * scale)

    def one(pair):
        x = jnp.exp(pair)
        # the larger x pairs with the smaller b: −S(b₁+b₂)/4c + |D(b₁−b₂)|/4c, no cancellation
        ordered = jnp.where((b[0] > b[1]) == (x[0] > x[1]), b[0] * x[1] + b[1] * x[0], b[0] * x[0] + b[1] * x[1])
        bessel = jnp.log(jax.scipy.special.i0e(jnp.abs((x[0] - x[1]) * (b[0] - b[1])) / (4 * scale)))
        return jax.nn.logsumexp(base - ordered / (2 * scale) + bessel)

    return jax.lax.map(one, log_x, batch_size=64)


def log_kernel(log_x: np.ndarray, rows: int, cols: int, scale: float, refine: float = 1.0) -> np.ndarray:
    """log K (up to a constant) at pairs of log squared singular values (pairs, 2), c = ``scale``, by
    the trapezoid sum over the nodes the pairs' range needs (:func:`_quadrature_nodes`), the steps
    divided by ``refine``; float64 if x64 is on."""
    log_x = np.asarray(log_x, float)
    log_a, log_weight = _quadrature_nodes(rows, cols, scale, log_x, refine)
    return np.asarray(_log_kernel(jnp.asarray(log_x), rows, cols, float(scale), jnp.asarray(log_a),
                                  jnp.asarray(log_weight)), float)


def _tiled(log_x: np.ndarray, rows: int, cols: int, refine: float = 1.0) -> np.ndarray:
    """:func:`log_kernel` at c = 1 of every pair (i ≤ j) of ``log_x`` (sorted), as (i, j, value) rows,
    TILE × TILE pairs at a time: each block's nodes reach down to its own lowest x and are as fine as
    its own highest x needs."""
    out = []
    for first in range(0, len(log_x), TILE):
        for second in range(first, len(log_x), TILE):
            i, j = (g.ravel() for g in np.meshgrid(np.arange(first, min(first + TILE, len(log_x))),
                                                    np.arange(second, min(second + TILE, len(log_x))), indexing="ij"))
            i, j = i[i <= j], j[i <= j]
            pairs = np.pad(np.stack([log_x[i], log_x[j]], axis=1), ((0, TILE * TILE - len(i)), (0, 0)), mode="edge")
            out.append(np.stack([i, j, log_kernel(pairs, rows, cols, 1.0, refine)[:len(i)]], axis=1))
    return np.concatenate(out)


@functools.lru_cache(maxsize=8)
def kernel_table(rows: int, cols: int, log_low: float, log_high: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grid of log y, log K₁(y) + √y₁ + √y₂ on grid × grid, errors): the c = 1 table over [log_low,
    log_high] in each squared singular value y = x/c², computed in float32 whatever the run's dtype;
    log K_c(x) = log K₁(x/c²) + a constant (a = c a′ in the integral: module docstring). The peaks
    e^{−a/2 − y/2a} ≤ e^{−√y} are taken out, so that the cubic interpolation in log y
    is as accurate at large y as at small. errors: (log y₁, log y₂, |Δ|) between the interpolation and
    quadrature at half the step, at a quarter of every third cell in each direction (a Catmull–Rom
    error has a cubic part that vanishes at the cells' centres)."""
    with jax.ensure_compile_time_eval(), jax.enable_x64(False):  # computed now, also when first read under jit
        grid = np.arange(log_low - 2 * GRID_STEP, log_high + 3 * GRID_STEP, GRID_STEP)  # cubic needs a cell either side
        i, j, values = _tiled(grid, rows, cols).T
        i, j = i.astype(int), j.astype(int)
        table = np.empty((len(grid), len(grid)))
        table[i, j] = table[j, i] = values + np.exp(0.5 * grid[i]) + np.exp(0.5 * grid[j])  # K is symmetric
        probes = grid[1:-2:3] + 0.25 * GRID_STEP
        a, b, direct = _tiled(probes, rows, cols, refine=2.0).T
        probe = np.stack([probes[a.astype(int)], probes[b.astype(int)]], axis=1)
        interpolated = np.asarray(jax.vmap(interpolate, (None, None, 0))(float(grid[0]), jnp.asarray(table),
                                                                          jnp.asarray(probe)))
        error = np.abs(direct + np.exp(0.5 * probe).sum(axis=1) - interpolated)
    return grid, table, np.concatenate([probe, error[:, None]], axis=1)


def interpolate(start: float, table: jax.Array, log_x: jax.Array) -> jax.Array:
    """Cubic convolution (Catmull–Rom, error O(step³)) of the table at one pair of log x (2,); NaN
    outside the table's inner cells. The table starts at log x = ``start`` with step GRID_STEP (Python
    floats: a float32 grid array would put the step 1e-5 off at log x ≈ −25, and log K off by 0.002)."""
    position = (log_x - start) / GRID_STEP
    cell = jnp.floor(position)
    t = position - cell
    weights = 0.5 * jnp.stack([((2 - t) * t - 1) * t, (3 * t - 5) * t * t + 2, ((4 - 3 * t) * t + 1) * t, (t - 1) * t * t])
    inside = jnp.all((cell >= 1) & (cell <= len(table) - 3))
    corner = jnp.clip(cell.astype(int) - 1, 0, len(table) - 4)
    block = jax.lax.dynamic_slice(table, (corner[0], corner[1]), (4, 4))
    return jnp.where(inside, weights[:, 0] @ block @ weights[:, 1], jnp.nan)


def _scale(temperature: float, weight_decay: float) -> float:
    if weight_decay <= 0:
        raise ValueError(f"dynamics.weight_decay: the fibre marginal of the singular values needs weight decay > 0, "
                         f"got {weight_decay}")
    return temperature / weight_decay


def _shapes(model: Model) -> tuple[int, int]:
    """(n, p) ordered so that n ≥ p: π_x is the same for UVᵀ and VUᵀ, and the kernel's integrand is
    better behaved with the larger power n − p (module docstring)."""
    rows, cols = factor_dims(model, "modes")
    return max(rows, cols), min(rows, cols)


class _Ranges(NamedTuple):
    """The Python floats that fix a run's tables and grids: log of the histogram's lowest σ (above the
    form's floor), the window of log σ² that the table serves (from that σ to REACH × the upper end,
    half a table step either side), and log c at the ends of SCALES."""

    log_low: float
    window: tuple[float, float]
    log_scales: tuple[float, float]


def _ranges(binning: Binning) -> _Ranges:
    low, high = strength_range(binning, signed=False)[:2]
    window = (2 * float(np.log(low)) - 0.5 * GRID_STEP, 2 * float(np.log(REACH * high)) + 0.5 * GRID_STEP)
    return _Ranges(float(np.log(low)), window, tuple(float(np.log(s * high)) for s in SCALES))


def _table(model: Model, ranges: _Ranges) -> tuple:
    """Rank 2: the c = 1 kernel table for this model's shapes over every y = σ²/c² with σ² in the
    window and c in SCALES × the histogram's upper end (:func:`kernel_table`); the singular value
    held fixed may lie above the range histogrammed. Beyond the window or the scales the log
    densities are NaN and the value is counted as undefined (:func:`pit.statistic`)."""
    low, high = ranges.window
    return kernel_table(*_shapes(model), low - 2 * ranges.log_scales[1], high - 2 * ranges.log_scales[0])


def _kernel_reader(model: Model, temperature: jax.Array, weight_decay: jax.Array, binning: Binning) -> Callable:
    """``fn(sigma, copy, t) -> log K`` at σ² with σ_copy moved to t, for traced T and λ: rank 2 from the
    c = 1 table at σ²/c², rank ≥ 3 by quasi-Monte Carlo (:mod:`singular_fibre_qmc`), whose profile in ℓ_r
    is independent of t and under a vmap over t computed once; NaN where c = T/λ is outside SCALES ×
    the histogram's upper end."""
    rows, cols = _shapes(model)
    ranges = _ranges(binning)
    scale = temperature / weight_decay
    log_scale = jnp.log(scale)
    covered = (log_scale >= ranges.log_scales[0]) & (log_scale <= ranges.log_scales[1])
    if model.modes.copies == RANK:
        grid, table, _ = _table(model, ranges)
        start, (low, high) = float(grid[0]), ranges.window

        def from_table(sigma, copy, value):
            log_x = 2 * jnp.log(jnp.stack([value, sigma[1 - copy]]))
            inside = covered & jnp.all((log_x >= low) & (log_x <= high))
            log_y = log_x - 2 * log_scale.astype(value.dtype)
            read = interpolate(start, jnp.asarray(table, value.dtype), log_y) - jnp.exp(0.5 * log_y).sum()
            return jnp.where(inside, read, jnp.nan)

        return from_table
    draws = singular_fibre_qmc.points(model.modes.copies)
    grid = (ranges.log_low, ranges.log_scales[1])

    def by_quasi_monte_carlo(sigma, copy, value):
        log_profile = singular_fibre_qmc.profile(sigma, copy, jnp.asarray(draws, value.dtype), rows, cols, scale, *grid)
        return jnp.where(covered, singular_fibre_qmc.log_kernel(log_profile, scale, *grid, value), jnp.nan)

    return by_quasi_monte_carlo


def decomposition(modes, params: dict) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(P, σ, Qᵀ) of X = F₁ᵀF₂ = UVᵀ from the modes' factors F_a (copies, p_a), truncated to its rank."""
    first, second = modes.factors(params)
    left, sigma, right = jnp.linalg.svd(first.T @ second, full_matrices=False)
    return left[:, : modes.copies], sigma[: modes.copies], right[: modes.copies]


def singular_values(modes, params: dict) -> tuple[jax.Array, jax.Array]:
    """(the singular values of X = UVᵀ, +1)."""
    sigma = decomposition(modes, params)[1]
    return sigma, jnp.ones_like(sigma)


def log_densities(model: Model, temperature: float, weight_decay: float, binning: Binning) -> Callable:
    """``fn(params, copy, t) -> (3,)``: unnormalised log densities of singular value ``copy`` at t."""
    modes, rank = model.modes, model.modes.copies
    rows, cols = _shapes(model)
    log_kernel_at = _kernel_reader(model, temperature, weight_decay, binning)
    excess = rows + cols - 2 * rank

    def fn(params: dict, copy: jax.Array, value: jax.Array) -> jax.Array:
        first, second = modes.factors(params)  # Uᵀ (r, n), Vᵀ (r, p)
        left, sigma, _ = decomposition(modes, params)
        mode = left[:, copy]
        moved = first + (value / sigma[copy] - 1.0) * jnp.outer(first @ mode, mode)  # U + (t/σ_j − 1)p_j p_jᵀU
        energy = -model.loss(modes.with_factors(params, (moved, second))) / temperature
        log_t = jnp.log(value)
        others = jnp.arange(rank) != copy
        vandermonde = jnp.sum(jnp.where(others, jnp.log(jnp.abs(value**2 - sigma**2)), 0.0))
        geometric = energy + (cols - rank - 1) * log_t + vandermonde + log_kernel_at(sigma, copy, value) + log_t
        naive = energy + excess * log_t + vandermonde
        on_slice = energy - weight_decay * value / temperature + 0.5 * (excess - 2) * log_t
        return jnp.stack([geometric, naive, on_slice])

    return fn


def quadrature_error(model: Model, temperature: float, weight_decay: float, binning: Binning) -> float:
    """The estimated error of log K over the histogrammed range at c = T/λ: the table's over the probes
    this c reads (rank 2, :func:`kernel_table`) or the quasi-Monte Carlo's
    (:func:`singular_fibre_qmc.error`); NaN where c is outside SCALES × the histogram's upper end
    (the conditionals are undefined there)."""
    ranges, scale = _ranges(binning), _scale(temperature, weight_decay)
    if not ranges.log_scales[0] <= np.log(scale) <= ranges.log_scales[1]:
        return float("nan")
    if model.modes.copies == RANK:
        errors = _table(model, ranges)[2]
        read = np.asarray(ranges.window) - 2 * np.log(scale)
        inside = np.all((errors[:, :2] >= read[0]) & (errors[:, :2] <= read[1]), axis=1)
        return float(errors[inside, 2].max())
    low, high = strength_range(binning, signed=False)[:2]
    return singular_fibre_qmc.error(*_shapes(model), model.modes.copies, scale, low, high, ranges.log_scales[1])


def rank_two(model: Model) -> bool:
    """Whether the model's singular modes are two (the rank the level-set form is built for)."""
    return model.modes.copies == RANK


def supported_rank(model: Model) -> bool:
    """Whether the fibre form is built for the model's rank: 2 (quadrature) or 3 to
    singular_fibre_qmc.MAX_RANK = 5 (quasi-Monte Carlo; beyond, its error estimate passes 0.1 in log K)."""
    return RANK <= model.modes.copies <= singular_fibre_qmc.MAX_RANK


SINGULAR_VALUES = Variable("singular value", "modes", lambda modes: modes.observable, singular_values,
                           lambda modes: False)

MARGINAL = Form(
    HYPOTHESES,
    "probability integral transform of each singular value of UVᵀ under its full conditional with "
    "weight decay, the GL(r) fibre integrated out (singular vectors and the other singular values held), "
    "tested for uniformity",
    "with the GL(r) fibre integrated out",
    log_densities,
    SINGULAR_VALUES,
    chains="weight_decayed",
    supports=supported_rank,
    error=quadrature_error)
