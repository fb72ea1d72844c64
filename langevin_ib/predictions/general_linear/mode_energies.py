"""Full conditionals of the mode energies d_j = ½(‖U_j‖² + ‖V_j‖²) of the GL(r) matrix factorisation on
the level sets of its χ: the level-set form of the prediction (docs/theory.md §4a) at any rank, without
root finding (the singular values need it at rank 2, :mod:`singular_level_sets`, and a traced curve
at rank ≥ 3, :mod:`singular_level_curves`).

The model's χ fixes C = ½(M₁ − M₂) and the off-diagonal of S = ½(M₁ + M₂), M₁ = UᵀU, M₂ = VᵀV;
d = diag S is what is left of (M₁, M₂) on a level set, and on the slice d = σ (U = P√Σ). In the
Bartlett coordinates U = Q_U R_U, V = Q_V R_V (QR with column j last, M = RᵀR, Q Haar on the
Stiefel manifold) dU dV ∝ det M₁^{(n−r−1)/2} det M₂^{(p−r−1)/2} dM₁ dM₂ dQ_U dQ_V (Muirhead 1982,
Thm 2.1.14), and (M₁, M₂) ↦ (χ, d) is linear. So the Gibbs measure conditioned on χ = c has density
e^{−U/T} det M₁^{(n−r−1)/2} det M₂^{(p−r−1)/2} in (d, Q_U, Q_V). Holding Q_U, Q_V, χ and the other
d_k, only the last diagonal entries of R_U, R_V move: U_j = U_j^∥ + a u, V_j = V_j^∥ + b v, with
U_j^∥ the projection on the other columns, u, v unit vectors orthogonal to them, and a² = a₀² + δ,
b² = b₀² + δ at d_j + δ (det M₁ ∝ a², det M₂ ∝ b²). Densities of d_j:

- ``geometric``  e^{−U/T} a^{n−r−1} b^{p−r−1}: the Gibbs measure conditioned on χ, i.e.
  e^{−U/T}(det G_χ)^{−1/2} on the level set (paper eq. 8 for c = 0);
- ``projected``  the same times √det G_χ: e^{−U/T} w.r.t. the level set's surface measure;
- ``naive``      e^{−U/T} (ab)^{n+p−2r−1} |det(Dχ Ξᵀ)|: e^{−U/T} flat in the chart X = UVᵀ. In the
  coordinates (σ, P, Q, A) of :mod:`singular_level_sets`, dX / [Gibbs conditioned on χ] =
  Πσ^{(n+p−2r)/2} |det ∂_Aχ| / |det A|^{n−p−r}, with |det ∂_Aχ| = |det(Dχ Ξᵀ)| / |det A|^r (Ξ the
  generators at θ), Πσ² = det M₁ det M₂ and det A⁴ = det M₁ / det M₂
  (tests/predictions/test_mode_energies.py checks it against the area Jacobian J_φ√det G_χ by autodiff).

The support is δ > −min(a₀², b₀²), where M₁ or M₂ becomes singular; for n = r or p = r the
geometric density diverges there like 1/√, which the PIT's trapezoid does not resolve, so the form
is offered for n, p ≥ r + 1 (its density is then finite at the edge, where :func:`edge_nodes` packs
nodes). On the slice the move is the slice form's (:mod:`singular_modes`) and d_j = σ_j.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib import geometry
from langevin_ib.statistics.pit import Form, Variable
from langevin_ib.models.rescaling import factor_dims
from langevin_ib.base import Binning
from langevin_ib.models.base import Model
from langevin_ib.numerics.small_linalg import log_abs_det

HYPOTHESES = ("geometric", "naive", "projected")
EDGE_NODES = 16
EDGE_REACH = 4  # the packed nodes span this many bins above the support's edge
EDGE_GAP = 1e-5  # relative to |d_j| + 1: the nodes beside the edge, beyond float32's rounding of it (1e-7)


def energies(modes, params: dict) -> tuple[jax.Array, jax.Array]:
    """(d_j = ½(‖U_j‖² + ‖V_j‖²) per mode, +1)."""
    first, second = modes.factors(params)
    energy = 0.5 * (jnp.sum(first**2, axis=1) + jnp.sum(second**2, axis=1))
    return energy, jnp.ones_like(energy)


def split(factor: jax.Array, copy: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(U_j^∥, U_j^⊥): row ``copy`` of ``factor`` (copies, dim) projected on the span of the other rows
    and its orthogonal part, by modified Gram–Schmidt over the other rows."""
    row, rest = factor[copy], factor
    for k in range(factor.shape[0]):  # static rank
        direction = rest[k] / jnp.linalg.norm(rest[k])
        direction = jnp.where(k == copy, 0.0, direction)
        rest = rest - jnp.outer(rest @ direction, direction) * (jnp.arange(factor.shape[0]) > k)[:, None]
        row = row - (row @ direction) * direction
    return factor[copy] - row, row


def _shapes(model: Model) -> tuple[int, int, int]:
    """(n, p, r)."""
    return factor_dims(model, "modes") + (model.modes.copies,)


def supports(model: Model) -> bool:
    """A GL(r) model (declared modes) with rows, cols ≥ rank + 1 (module docstring)."""
    if model.modes is None or model.group is None:
        return False
    rows, cols, rank = _shapes(model)
    return min(rows, cols) >= rank + 1


def log_densities(model: Model, temperature: float, weight_decay: float, binning: Binning) -> Callable:
    """``fn(params, copy, t) -> (3,)``: unnormalised log densities of mode energy ``copy`` at t."""
    modes, group, potential = model.modes, model.group, model.potential(weight_decay)
    rows, cols, rank = _shapes(model)

    def fn(params: dict, copy: jax.Array, value: jax.Array) -> jax.Array:
        first, second = modes.factors(params)
        (along_u, across_u), (along_v, across_v) = split(first, copy), split(second, copy)
        start_u, start_v = jnp.sum(across_u**2), jnp.sum(across_v**2)
        shift = value - energies(modes, params)[0][copy]
        inside = (start_u + shift > 0) & (start_v + shift > 0)
        square_u, square_v = (jnp.where(inside, start + shift, start) for start in (start_u, start_v))
        moved = modes.with_factors(params, (first.at[copy].set(along_u + jnp.sqrt(square_u / start_u) * across_u),
                                            second.at[copy].set(along_v + jnp.sqrt(square_v / start_v) * across_v)))
        energy = -potential(moved) / temperature
        log_a, log_b = 0.5 * jnp.log(square_u), 0.5 * jnp.log(square_v)
        geometric = energy + (rows - rank - 1) * log_a + (cols - rank - 1) * log_b
        jacobian = geometry.breaking_jacobian(group, moved)
        projected = geometric + 0.5 * log_abs_det(jacobian @ jacobian.T)
        tangent = jacobian @ geometry.generators(group, moved).T  # Dχ Ξᵀ
        naive = energy + (rows + cols - 2 * rank - 1) * (log_a + log_b) + log_abs_det(tangent)
        return jnp.where(inside, jnp.stack([geometric, naive, projected]), -jnp.inf)

    return fn


def edge_nodes(model: Model, binning: Binning) -> Callable:
    """``fn(params, copy, nodes) -> (EDGE_NODES + 2,)``: nodes packed quadratically above the support's
    edge t_e = d_j − min(a₀², b₀²), where the density jumps (n or p = r + 1) or rises from zero, and
    one just below it. There the density is smooth in the length that vanishes, √(t − t_e) (U_j or V_j
    moves linearly in it, and a, b enter as powers), not in t, hence t = t_e + u². The node below keeps the trapezoid from
    spreading the jump over the gap to the next fixed node (which put up to 0.05 into a PIT value of
    the exact-sample test); both sit EDGE_GAP·(|d_j| + 1) from t_e, outside its float32 rounding."""
    modes = model.modes

    def fn(params: dict, copy: jax.Array, nodes: jax.Array) -> jax.Array:
        first, second = modes.factors(params)
        reach = jnp.min(jnp.stack([jnp.sum(split(f, copy)[1] ** 2) for f in (first, second)]))
        energy = energies(modes, params)[0][copy]
        edge, gap = energy - reach, EDGE_GAP * (jnp.abs(energy) + 1.0)
        spacing = (binning.high - binning.low) / binning.bins
        packed = edge + gap + EDGE_REACH * spacing * (np.arange(EDGE_NODES + 1) / EDGE_NODES) ** 2
        return jnp.concatenate([(edge - gap)[None], packed])

    return fn


MODE_ENERGIES = Variable("mode energy", "modes", lambda modes: "mode_energy", energies, lambda modes: False)

LEVEL_SET = Form(
    HYPOTHESES,
    "probability integral transform of each mode energy ½(‖U_j‖² + ‖V_j‖²) of the GL(r) factorisation "
    "under its full conditional on the level set of χ (the other modes' energies and the Bartlett "
    "directions held), tested for uniformity",
    "on level sets of χ",
    log_densities,
    MODE_ENERGIES,
    supports=supports,
    refine=edge_nodes)
