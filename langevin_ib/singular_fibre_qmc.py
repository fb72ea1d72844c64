"""The prior kernel K of the singular values of a rank-r UVᵀ (r ≥ 3) by randomised quasi-Monte Carlo,
for the fibre form of :mod:`langevin_ib.singular_fibre`.

With U (n × r), V (p × r) of independent N(0, c) entries and A = UᵀU ~ W_r(n, c), the eigenvalue law
of the Wishart VᵀV seen through A (Muirhead 1982, Thm 3.2.18) absorbs its O(r) average into the
orthogonal invariance of A's law, so the squared singular values x of UVᵀ have density
Π x_i^{(p−r−1)/2} Π_{i<k}|x_i − x_k| K(x) with

    K(x) = ∫_{A>0} det A^{(n−p−r−1)/2} e^{−tr A/2c − tr(A^{−1} diag x)/2c} dA

(for r = 2 the integral singular_fibre tabulates). In the Cholesky factor A = LLᵀ, L_ii = e^{ℓ_i},
dA ∝ Π e^{(r−i+2)ℓ_i} dℓ dL_{i>k} (i from 1), tr A = Σ L_ik² and (A^{−1})_kk = ‖column k of L^{−1}‖².
Row i of L^{−1} is e^{−ℓ_i}(e_i − Σ_{m<i} L_im Y_m) with Y the inverse of the leading block, so
with the moving singular value last, x_r = t², the last row ρ = (L_r1 … L_r,r−1) and a = e^{2ℓ_r} enter as

    e^{(n−p−r+1)ℓ_r − a/2c − |ρ|²/2c − (t² + ρᵀBρ)/2ca},   B = Y diag(x_1 … x_{r−1}) Yᵀ,

whose Gaussian integral over ρ leaves, with G = Y diag(√x) and e_k(B) the sums of squared k × k minors
of G (Cauchy–Binet: no cancellation), det(I + B/a) = Σ_k e_k(B) a^{−k} and the one-dimensional

    J(t; B) = ∫ e^{(n−p−r+1)ℓ − e^{2ℓ}/2c − t²e^{−2ℓ}/2c} det(I + B e^{−2ℓ})^{−1/2} dℓ,

log-concave in ℓ with double-exponential walls: a trapezoid sum (STEP, from where t²e^{−2ℓ}/2c =
e^{WALL} at the lowest t to a/2c = CEILING). t enters only through e^{−t²e^{−2ℓ}/2c}, the same for
every draw, so K(t) = Σ_ℓ G(ℓ) e^{−t²e^{−2ℓ}/2c} with the profile G(ℓ) = Σ_draws w J-integrand(ℓ)
computed once per sample (:func:`profile`) and each t costs one sum over ℓ (:func:`log_kernel`).

The leading block (ℓ_1 … ℓ_{r−1}, L_ik for r > i > k) is importance-sampled. ℓ_i is drawn from a
Student-t (DEGREES_OF_FREEDOM) with the mean and standard deviation of its own factor
e^{(n−p−i+1)ℓ − e^{2ℓ}/2c − x_i e^{−2ℓ}/2c}, summed on a grid (the curvature at the mode, used first,
is blind to the plateau of length ~log(c/x_i) when n − p − i + 1 ≈ 0 and failed), and L_ik given the
diagonal from a Student-t with the conditional scale √(c a_i a_k/(a_i a_k + x_k)), a = e^{2ℓ}. When t is
small and n − p < r − 1, J ∝ det B^{−1/2} ∝ Π e^{ℓ_i} raises every power by one, so the proposal is
the even mixture of the two (powers n − p − i + 1 and n − p − i + 2), each on all the points. As
(A^{−1})_ii ≥ e^{−2ℓ_i} and J(t; B) ≤ J(t; 0), the integrand is bounded by a product of
one-dimensional factors lighter-tailed than a Student-t: the weights are bounded. Draws beyond a
factor's walls (integrand below e^{−80} of its peak) get weight 0.

The points are a scrambled Sobol sequence (2^POINTS_LOG2 per proposal, through the t quantile), the
same for every sample and every t, so K is smooth in t; its error is that of randomised QMC, the
spread over independent scramblings (:func:`error`). Checked at r = 2 against the quadrature of
singular_fibre (shape of log K within 1e-4, as :func:`error` says) and at r = 3 by the n ↔ p symmetry
of π_x, which the formula does not show (tests/test_singular_values.py). The callers order n ≥ p,
where the powers are larger. Sampling ℓ_r or ρ instead of integrating them failed when t ≪ the other
singular values and n − p < r − 1: the integrand then has a plateau of length ~log(1/t) in ℓ_r, and
the spread over scramblings was 1 in log K.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats
from scipy.stats import qmc

POINTS_LOG2 = 11  # per proposal: 2 × 2048 draws
DEGREES_OF_FREEDOM = 5.0
STEP = 0.2  # trapezoid step in ℓ_r
WALL = 6.0  # the grid in ℓ_r starts where t²e^{−2ℓ}/2c = e^6 at the lowest t (e^{−400} of the peak)
CEILING = 80.0  # and ends where a/2c = 80
SCRAMBLINGS = 6  # independent scramblings in the error estimate
MAX_RANK = 3  # at rank 4 (5 × 4, 4 × 4) and 5 (6 × 5) error() gave 0.12, 0.85 and 1.5 at the default floor
MOMENT_NODES = 128


def points(rank: int, seed: int = 0) -> np.ndarray:
    """(2^POINTS_LOG2, d) scrambled Sobol points through the Student-t quantile: the standardised
    (ℓ_1 … ℓ_{r−1}, then L_ik for r > i > k in tril order) of each draw of the leading block."""
    dimension = rank - 1 + (rank - 1) * (rank - 2) // 2
    uniform = qmc.Sobol(dimension, scramble=True, seed=seed).random_base2(POINTS_LOG2)
    return stats.t.ppf(uniform, DEGREES_OF_FREEDOM)


def _elementary(gram_root: jax.Array) -> jax.Array:
    """log e_k(GGᵀ), k = 0 … m, for G (draws, m, m): sums of squared k × k minors (Cauchy–Binet)."""
    size = gram_root.shape[1]
    logs = [jnp.zeros(gram_root.shape[0], gram_root.dtype)]
    for k in range(1, size + 1):
        squares = 0.0
        for rows in itertools.combinations(range(size), k):
            for cols in itertools.combinations(range(size), k):
                minor = sum(_sign(perm) * jnp.prod(jnp.stack([gram_root[:, rows[i], cols[perm[i]]] for i in range(k)]),
                                                   axis=0)
                            for perm in itertools.permutations(range(k)))  # Leibniz: no batched LAPACK
                squares = squares + minor**2
        logs.append(jnp.log(squares))
    return jnp.stack(logs, axis=1)


def _sign(permutation: tuple[int, ...]) -> int:
    inversions = sum(permutation[i] > permutation[j] for i in range(len(permutation)) for j in range(i + 1, len(permutation)))
    return -1 if inversions % 2 else 1


def _walls(log_x, scale: float) -> tuple:
    """(lower, upper) ℓ between which e^{−e^{2ℓ}/2c − x e^{−2ℓ}/2c} is not negligible: x e^{−2ℓ}/2c = e^{WALL}
    below (e^{−400}), a/2c = CEILING above; the same walls bound every ℓ_i and the grid in ℓ_r."""
    return 0.5 * (log_x - float(np.log(2 * scale))) - 0.5 * WALL, float(0.5 * np.log(2 * scale * CEILING))


def _diagonal_moments(x: jax.Array, power: jax.Array, scale: float) -> tuple[jax.Array, jax.Array]:
    """(mean, standard deviation) of each ℓ_i under the factor e^{power_i ℓ − e^{2ℓ}/2c − x_i e^{−2ℓ}/2c}, by
    summation on MOMENT_NODES points between its walls: a plateau (power ≈ 0, x_i ≪ c) is as wide
    as it is, which the curvature at the mode would not say."""
    start, end = _walls(jnp.log(x), scale)
    fraction = jnp.linspace(0.0, 1.0, MOMENT_NODES, dtype=x.dtype)
    ell = start[:, None] + (end - start)[:, None] * fraction[None, :]
    log_factor = power[:, None] * ell - (jnp.exp(2 * ell) + x[:, None] * jnp.exp(-2 * ell)) / (2 * scale)
    weights = jax.nn.softmax(log_factor, axis=1)
    mean = jnp.sum(weights * ell, axis=1)
    return mean, jnp.sqrt(jnp.sum(weights * (ell - mean[:, None]) ** 2, axis=1))


def _leading_block(x: jax.Array, draws: jax.Array, power: jax.Array, scale: float) -> tuple[jax.Array, ...]:
    """Draws of the leading block from the even mixture of the two proposals of the module docstring
    (each on all the points), ``power`` = n − p − i + 1: (ℓ (2M, m), L (2M, m, m), log proposal density
    (2M,), out of the walls (2M,))."""
    inner = x.shape[0]
    moments = [_diagonal_moments(x, power + shift, scale) for shift in (0.0, 1.0)]
    standard = draws[:, :inner]
    log_diagonal = jnp.concatenate([mean[None, :] + spread[None, :] * standard for mean, spread in moments])
    components = jnp.stack([
        jnp.sum(jax.scipy.stats.t.logpdf((log_diagonal - mean[None, :]) / spread[None, :], DEGREES_OF_FREEDOM)
                - jnp.log(spread)[None, :], axis=1) for mean, spread in moments])
    # beyond the walls of its own factor a draw's integrand is below e^{−80} of the peak: weight 0,
    # and ℓ is reset there so that e^{2ℓ} stays finite in float32
    lower_wall, upper_wall = _walls(jnp.log(x), scale)
    beyond = jnp.any((log_diagonal < lower_wall[None, :]) | (log_diagonal > upper_wall + 1.0), axis=1)
    log_diagonal = jnp.where(beyond[:, None], moments[0][0][None, :], log_diagonal)
    lower = np.tril_indices(inner, -1)
    a = jnp.exp(2 * log_diagonal)
    product = a[:, lower[0]] * a[:, lower[1]]
    off_scale = jnp.sqrt(scale * product / (product + x[lower[1]][None, :]))  # given the drawn diagonal
    off = jnp.concatenate([draws[:, inner:]] * 2)
    block = jnp.zeros((off.shape[0], inner, inner), x.dtype).at[:, lower[0], lower[1]].set(off_scale * off)
    block = block.at[:, np.arange(inner), np.arange(inner)].set(jnp.exp(log_diagonal))
    log_proposal = (jax.nn.logsumexp(components, axis=0) - np.log(2.0)
                    + jnp.sum(jax.scipy.stats.t.logpdf(off, DEGREES_OF_FREEDOM) - jnp.log(off_scale), axis=1))
    return log_diagonal, block, log_proposal, beyond


def profile(sigma: jax.Array, copy: jax.Array, draws: jax.Array, rows: int, cols: int, scale: float,
            log_low: float) -> jax.Array:
    """log G(ℓ) = log Σ_draws w e^{(n−p−r+1)ℓ − e^{2ℓ}/2c} det(I + B e^{−2ℓ})^{−1/2} on :func:`ell_grid`, for
    the squared singular values σ² without σ_copy, so that K(t) = Σ_ℓ G(ℓ) e^{−t²e^{−2ℓ}/2c} (the t term
    is the same for every draw). For rows ≥ cols (:func:`singular_fibre._shapes` orders them)."""
    rank, inner = sigma.shape[0], sigma.shape[0] - 1
    order = jnp.argsort(jnp.arange(rank) == copy, stable=True)  # the others, then copy
    x = (sigma[order] ** 2)[:-1]
    power = rows - cols - jnp.arange(inner, dtype=sigma.dtype)  # n − p − i + 1 = ν + r − i + 2
    log_diagonal, block, log_proposal, beyond = _leading_block(x, draws, power, scale)
    count = block.shape[0]
    inverse = {}  # Y = block^{−1} by forward substitution (closed form: no batched LAPACK in a vmap)
    for k in range(inner):
        inverse[k, k] = 1.0 / block[:, k, k]
        for i in range(k + 1, inner):
            inverse[i, k] = -sum(block[:, i, m] * inverse[m, k] for m in range(k, i)) / block[:, i, i]
    zero = jnp.zeros(count, sigma.dtype)
    inverse = jnp.stack([jnp.stack([inverse.get((i, k), zero) for k in range(inner)], 1) for i in range(inner)], 1)
    log_weight = (jnp.sum(power[None, :] * log_diagonal, axis=1)
                  - jnp.sum(block**2, axis=(1, 2)) / (2 * scale)
                  - jnp.sum(x[None, :] * jnp.sum(inverse**2, axis=1), axis=1) / (2 * scale) - log_proposal)
    log_weight = jnp.where(beyond, -jnp.inf, log_weight) - np.log(count)
    elementary = _elementary(inverse * jnp.sqrt(x)[None, None, :])  # (count, r)
    ell = jnp.asarray(ell_grid(scale, log_low), sigma.dtype)
    powers = jnp.arange(rank, dtype=sigma.dtype)
    determinant = jax.nn.logsumexp(elementary[:, None, :] - 2 * powers[None, None, :] * ell[None, :, None], axis=2)
    base = (rows - cols - rank + 1) * ell[None, :] - jnp.exp(2 * ell)[None, :] / (2 * scale) - 0.5 * determinant
    return jax.nn.logsumexp(log_weight[:, None] + base, axis=0)


def ell_grid(scale: float, log_low: float) -> np.ndarray:
    """The trapezoid nodes in ℓ_r: between the walls (:func:`_walls`) of x = t² at the lowest t."""
    start, end = _walls(2 * log_low, scale)
    return np.arange(start, end + STEP, STEP)


def log_kernel(log_profile: jax.Array, scale: float, log_low: float, value: jax.Array) -> jax.Array:
    """log K (up to a constant) at t = value ≥ e^{log_low} from a :func:`profile`."""
    ell = jnp.asarray(ell_grid(scale, log_low), value.dtype)
    return jax.nn.logsumexp(log_profile - value**2 * jnp.exp(-2 * ell) / (2 * scale))


def error(rows: int, cols: int, rank: int, scale: float, low: float, high: float, probes: int = 8) -> float:
    """The randomised-QMC error of log K as a function of the moving singular value: over ``probes``
    configurations log-uniform on [low, high] and 64 values of t, the largest standard deviation
    across SCRAMBLINGS scramblings of log K(t) − mean_t log K(t) (the constant is irrelevant to a
    conditional). The trapezoid in ℓ_r converges much faster (halving STEP moves the shape of log K by
    < 1e-4, measured 2e-6: tests/test_singular_values.py)."""
    rng = np.random.default_rng(0)
    sigma = jnp.asarray(np.exp(rng.uniform(np.log(low), np.log(high), (probes, rank))), jnp.float32)
    values = jnp.asarray(np.geomspace(low, high, 64), jnp.float32)
    log_low = float(np.log(low))
    shapes = []
    for seed in range(SCRAMBLINGS):
        draws = jnp.asarray(points(rank, seed), jnp.float32)

        def along(s):
            log_profile = profile(s, jnp.asarray(rank - 1), draws, rows, cols, scale, log_low)
            return jax.vmap(lambda t: log_kernel(log_profile, scale, log_low, t))(values)

        logs = np.asarray(jax.jit(jax.vmap(along))(sigma), np.float64)
        shapes.append(logs - logs.mean(axis=1, keepdims=True))
    return float(np.std(np.stack(shapes), axis=0, ddof=1).max())
