"""Full conditionals of the singular values of X = UVᵀ (rank 2) on the level sets of the GL(2)
model's χ: the level-set form of the prediction (docs/theory.md §4a) in the singular values, for free
chains with or without weight decay (the slice χ = 0 is :mod:`singular_modes`).

Coordinates: X = PΣQᵀ (σ, P, Q) and A ∈ GL(2) with U = PΣ^{1/2}A, V = QΣ^{1/2}A^{−T}, so that
UᵀU = AᵀΣA =: M₁ and VᵀV = A^{−1}ΣA^{−T} =: M₂. Right multiplication (U, V) ↦ (UB, VB^{−T}) scales
Lebesgue measure by |det B|^{n−p} and dA by |det B|², and at A = I the Jacobian is that of the slice
(:mod:`singular_modes`) times |det ∂_Aχ|/√det G_χ, so dθ = |det A|^{n−p−2} Πσ_j^{(n+p−4)/2}|σ₁² − σ₂²|
dσ dP dQ dA. On the level set χ = c (coarea in A), holding P, Q and the other singular value, σ_j has
density, summed over the points A of the level set above X,

- ``geometric``  Σ_A e^{−U/T} |det A|^{n−p−2} Πσ^{(n+p−4)/2}|σ₁² − σ₂²| / |det ∂_Aχ|: the Gibbs measure
  conditioned on χ, e^{−U/T}(det G_χ)^{−1/2} on the level set (paper eq. 8 for c = 0, where it is
  the slice's geometric law);
- ``projected``  the same with √det G_χ inside the sum: e^{−U/T} w.r.t. the level set's surface measure;
- ``naive``      Σ_A e^{−U/T} Πσ^{n+p−4}|σ₁² − σ₂²|: e^{−U/T} flat in the chart X.

The points above X: the model's χ fixes C = ½(M₁ − M₂) and the off-diagonal s of S = ½(M₁ + M₂);
the diagonal d of S solves tr(M₁M₂) = σ₁² + σ₂², i.e. |d|² = R² = σ₁² + σ₂² + tr C² − 2s², and
det M₁ det M₂ = σ₁²σ₂². On the circle d = R(cos φ, sin φ) the roots in φ are bracketed on a grid and
bisected (generically two: on the slice, d = (σ₁, σ₂) and the swapped modes (σ₂, σ₁)). Then
A = Σ^{−1/2} O M₁^{1/2}, with the rows of O the eigenvectors of M₁^{1/2}M₂M₁^{1/2} = OᵀΣ²O; the
sign choices of O give four points of equal weight. The engine works with B = Σ^{1/2}A (U = PB,
V = QΣB^{−T}), well conditioned as σ_j → 0, and dB = σ₁σ₂ dA. Both copies are pooled: the SVD
orders the singular values, so one copy alone is not exchangeable, the two together are (the PIT
of a randomly chosen copy is uniform, so the pooled histogram is uniform in expectation).

The conditional has gaps: where two points of the level set merge, its density goes as
1/√|σ_j − σ_e|, so :func:`edge_nodes` packs PIT nodes onto each such edge (docs/results.md, "Singular
values on level sets of χ, rank 2").
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from langevin_ib import geometry
from langevin_ib.statistics.pit import Form
from langevin_ib.base import Binning
from langevin_ib.models.base import Model
from langevin_ib.predictions.general_linear.singular_fibre import RANK, SINGULAR_VALUES, decomposition, rank_two
from langevin_ib.numerics.small_linalg import log_abs_det

HYPOTHESES = ("geometric", "naive", "projected")
ANGLES = 256  # grid on the quarter circle that brackets the roots
BISECTIONS = 40
MAX_ROOTS = 4
EDGES = 6  # support edges refined per conditional (the exact draws of the tests had at most 4)
EDGE_NODES = 16
EDGE_BISECTIONS = 30
FLOOR = 1e-2  # σ below 1% of the histogram's upper end is out of range: det M₁ det M₂ = σ₁²σ₂² is a
# difference of O(1) products, which float32 resolves to ~1e-7, i.e. σ_j to ~1e-3 (at σ_j = 1e-4 the
# level-set point came out with χ off by 1e6); a value whose other singular value is below it is
# undefined (NaN), which selects on what the conditional holds only


def _determinants(angle: jax.Array, radius: jax.Array, half_difference: jax.Array, off: jax.Array):
    """(det M₁, det M₂, min trace) at d = R(cos φ, sin φ), M₁,₂ = S ± C."""
    d1, d2 = radius * jnp.cos(angle), radius * jnp.sin(angle)
    c11, c12, c22 = half_difference[0, 0], half_difference[0, 1], half_difference[1, 1]
    plus = (d1 + c11) * (d2 + c22) - (off + c12) ** 2
    minus = (d1 - c11) * (d2 - c22) - (off - c12) ** 2
    return plus, minus, d1 + d2 - jnp.abs(c11 + c22)


def level_set_points(sigma: jax.Array, half_difference: jax.Array, off: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(d (MAX_ROOTS, 2), found (MAX_ROOTS,)): the diagonals of S = ½(M₁ + M₂) above X with singular
    values σ on the level set (C = ½(M₁ − M₂), S₁₂ = off)."""
    radius = jnp.sqrt(jnp.maximum(jnp.sum(sigma**2) + jnp.sum(half_difference**2) - 2 * off**2, 0.0))
    target = jnp.prod(sigma) ** 2

    def excess(angle):
        plus, minus, trace = _determinants(angle, radius, half_difference, off)
        admissible = (plus > 0) & (minus > 0) & (trace > 0)
        return jnp.where(admissible, plus * minus - target, -target)  # −target at the boundary of M₁,₂ > 0

    angles = jnp.linspace(0.0, 0.5 * jnp.pi, ANGLES + 1)[1:-1]
    values = excess(angles)
    change = jnp.sign(values[1:]) != jnp.sign(values[:-1])
    (index,) = jnp.nonzero(change, size=MAX_ROOTS, fill_value=0)
    found = change[index] & (jnp.arange(MAX_ROOTS) < jnp.sum(change))

    start = jnp.sign(values[index])  # the sign at the lower bracket end, kept by every step

    def bisect(bounds, _):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        same = jnp.sign(excess(mid)) == start
        return (jnp.where(same, mid, lo), jnp.where(same, hi, mid)), None

    (lo, hi), _ = jax.lax.scan(bisect, (angles[index], angles[index + 1]), None, length=BISECTIONS)
    angle = 0.5 * (lo + hi)
    return radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1), found


# Closed forms for the 2 × 2 linear algebra (and small_linalg for the 4 × 4 determinants): evaluated at
# every PIT node, LAPACK calls would be batched, and batched LAPACK calls can deadlock jaxlib 0.10's
# 2-thread CPU pool (runner.py).

def _eigh(matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(eigenvalues descending, eigenvectors as columns) of a symmetric 2 × 2 matrix."""
    a, b, c = matrix[0, 0], matrix[0, 1], matrix[1, 1]
    mean, radius = 0.5 * (a + c), jnp.hypot(0.5 * (a - c), b)
    angle = 0.5 * jnp.arctan2(2 * b, a - c)
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    return jnp.stack([mean + radius, mean - radius]), jnp.array([[cos, -sin], [sin, cos]])


def _inverse(matrix: jax.Array) -> jax.Array:
    (a, b), (c, d) = matrix
    return jnp.array([[d, -b], [-c, a]]) / (a * d - b * c)


def factor(sigma: jax.Array, first: jax.Array, second: jax.Array) -> jax.Array:
    """B = Σ^{1/2}A = O M₁^{1/2}, so BᵀB = M₁ and B^{−1}Σ²B^{−T} = M₂, row j of O matched to σ_j
    (module docstring). B, not A, is computed: A carries σ^{−1/2}, which float32 cannot carry to
    det ∂χ as σ → 0."""
    values, vectors = _eigh(first)
    root = (vectors * jnp.sqrt(jnp.maximum(values, 0.0))[None, :]) @ vectors.T
    _, rotation = _eigh(root @ second @ root)  # columns: eigenvectors of σ_larger², σ_smaller²
    return jnp.where(sigma[0] >= sigma[1], rotation, rotation[:, ::-1]).T @ root


def _held(modes, params: dict) -> tuple[tuple, jax.Array, jax.Array]:
    """((P, σ, Qᵀ) of X = UVᵀ, rank 2; C = ½(M₁ − M₂); ½(M₁ + M₂)₁₂): what the level set and the SVD fix."""
    first, second = modes.factors(params)
    gram_u, gram_v = first @ first.T, second @ second.T
    return decomposition(modes, params), 0.5 * (gram_u - gram_v), 0.5 * (gram_u + gram_v)[0, 1]


def log_densities(model: Model, temperature: float, weight_decay: float, binning: Binning) -> Callable:
    """``fn(params, copy, t) -> (3,)``: unnormalised log densities of singular value ``copy`` at t."""
    modes, group, potential = model.modes, model.group, model.potential(weight_decay)
    floor = FLOOR * max(abs(binning.low), abs(binning.high))

    def fn(params: dict, copy: jax.Array, value: jax.Array) -> jax.Array:
        (left, sigma, right), half_difference, off = _held(modes, params)
        rows, cols = left.shape[0], right.shape[1]  # static: n, p
        sigma = sigma.at[copy].set(value)
        diagonals, found = level_set_points(sigma, half_difference, off)

        def point(b):  # U = PB, V = QΣB^{−T}
            return modes.with_factors(params, ((left @ b).T, ((right.T * sigma[None, :]) @ _inverse(b).T).T))

        def branch(diagonal):
            mean = jnp.diag(diagonal) + off * (1.0 - jnp.eye(RANK))
            b = factor(sigma, mean + half_difference, mean - half_difference)
            moved = point(b)
            breaking_jacobian = jax.jacfwd(lambda x: group.breaking(point(x)))(b).reshape(RANK * RANK, RANK * RANK)
            energy = -potential(moved) / temperature
            log_det_a = jnp.log(jnp.abs(b[0, 0] * b[1, 1] - b[0, 1] * b[1, 0])) - 0.5 * jnp.sum(jnp.log(sigma))
            # 1/|det ∂_Aχ| = 1/(|det ∂_Bχ| σ₁σ₂): dB = σ₁σ₂ dA
            geometric = (energy + (rows - cols - RANK) * log_det_a - log_abs_det(breaking_jacobian)
                         - jnp.sum(jnp.log(sigma)))
            projected = geometric + 0.5 * log_abs_det(geometry.breaking_gram(group, moved))
            return jnp.stack([geometric, energy, projected])

        per_point = jnp.where(found[:, None], jax.vmap(branch)(diagonals), -jnp.inf)
        summed = jax.nn.logsumexp(per_point, axis=0)
        log_sigma, vandermonde = jnp.sum(jnp.log(sigma)), jnp.log(jnp.abs(sigma[0] ** 2 - sigma[1] ** 2))
        volume = 0.5 * (rows + cols - 2 * RANK) * log_sigma + vandermonde
        chart = (rows + cols - 2 * RANK) * log_sigma + vandermonde
        # below the floor the held singular value defeats float32 as σ_j does: undefined, left out
        return jnp.where(sigma[1 - copy] >= floor, summed + jnp.stack([volume, chart, volume]), jnp.nan)

    return fn


def edge_nodes(model: Model, binning: Binning) -> Callable:
    """``fn(params, copy, nodes) -> (EDGES·(4·EDGE_NODES + 4),)``: nodes packed quadratically onto each
    edge of the conditional's support. Where two points of the level set merge (a fold), the density
    of σ_j goes as 1/√|t − t_e|, which a trapezoid on fixed nodes misses (between 8 and 32 linear
    nodes per bin, 26% of PIT values changed bin); with t = t_e ± u² it is smooth in u. The edges
    are where the number of points changes between nodes, located by bisection."""
    modes = model.modes

    def fn(params: dict, copy: jax.Array, nodes: jax.Array) -> jax.Array:
        (_, sigma, _), half_difference, off = _held(modes, params)
        count = jax.vmap(lambda t: level_set_points(sigma.at[copy].set(t), half_difference, off)[1].sum())
        counts = count(nodes)
        change = counts[1:] != counts[:-1]
        (index,) = jnp.nonzero(change, size=EDGES, fill_value=0)
        valid = change[index] & (jnp.arange(EDGES) < jnp.sum(change))
        below, above, start = nodes[index], nodes[index + 1], counts[index]

        def bisect(bounds, _):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            same = count(mid) == start  # the count at the lower end, kept by every step
            return (jnp.where(same, mid, lo), jnp.where(same, hi, mid)), None

        (lo, hi), _ = jax.lax.scan(bisect, (below, above), None, length=EDGE_BISECTIONS)
        edge, width = 0.5 * (lo + hi), above - below
        offsets = (jnp.arange(2 * EDGE_NODES + 1) / EDGE_NODES) ** 2  # up to 4 node intervals each way
        spread = offsets[None, :] * width[:, None]
        packed = jnp.concatenate([edge[:, None] - spread, edge[:, None] + spread, lo[:, None], hi[:, None]], axis=1)
        return jnp.where(valid[:, None], packed, nodes[0]).ravel()

    return fn


LEVEL_SET = Form(
    HYPOTHESES,
    "probability integral transform of each singular value of UVᵀ (rank 2) under its full conditional on the "
    "level set of χ (singular vectors and the other singular value held), tested for uniformity",
    "on level sets of χ",
    log_densities,
    SINGULAR_VALUES,
    chains="free",
    supports=rank_two,
    floor=FLOOR,
    refine=edge_nodes)
