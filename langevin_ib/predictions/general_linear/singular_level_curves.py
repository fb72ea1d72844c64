"""Full conditionals of the singular values of X = UVᵀ on the level sets of the GL(r) model's χ at
rank r ≥ 3, by tracing a curve instead of finding roots (at rank 2 all the roots are found:
:mod:`singular_level_sets`).

As in :mod:`mode_energies`, χ fixes C = ½(M₁ − M₂) and the off-diagonal of S = ½(M₁ + M₂)
(M₁ = UᵀU, M₂ = VᵀV), and on χ = c the Gibbs measure has density
w(d) = e^{−U/T} det M₁^{(n−r−1)/2} det M₂^{(p−r−1)/2} in (d = diag S, Q_U, Q_V), the Bartlett
coordinates U = Q_U R_U, V = Q_V R_V. With the SVD R_U R_Vᵀ = WΣZᵀ, the singular vectors of X are
P = Q_U W, Q = Q_V Z: right multiplication by W(d), Z(d) keeps the Stiefel measures, so
(d, Q_U, Q_V) ↦ (σ, P, Q) has Jacobian |det ∂σ/∂d|, and holding P, Q and χ the point d has density
w(d). Holding also the other singular values, d lies on the curve Γ through the sample on which
g_k(d) = det(λ_k I − M₁M₂) = 0 for k ≠ j (λ = σ²), and σ_j² = tr M₁M₂ − Σ_{k≠j} λ_k along it.
On Γ, ∇g_k = −Π_{m≠k}(λ_k − λ_m)∇λ_k, so by the coarea formula the conditional per unit length of Γ is

- ``geometric``  w(d) Π_{k≠j}|λ_k − λ_j(d)| / |n(d)|, n the cofactor vector of ∂g/∂d
  (:func:`langevin_ib.numerics.small_linalg.cofactors`, |n| = √det(∂g ∂gᵀ)): the Gibbs measure conditioned on χ;
- ``projected``  the same times √det G_χ (a function of M₁, M₂ alone: :func:`breaking_gram`):
  e^{−U/T} w.r.t. the level set's surface measure;
- ``naive``      e^{−U/T} Πσ^{n+p−2r} Π_{i<k}|λ_i − λ_k| |dσ_j/dℓ|: e^{−U/T} flat in the chart X at
  every point above X (:mod:`singular_level_sets`), read along Γ.

Here e^{−U/T} is the loss at PΣQᵀ and λ tr S = λΣd. On Γ, σ_j stays between its neighbours
(λ_j = λ_k at a point of Γ is a codimension-3 condition), so the SVD's order is kept along it.

Γ is traced from the sample both ways: a midpoint predictor along n/|n|, three Gauss–Newton
corrections onto g = 0, and steps that are not taken (and quartered) where Newton did not converge
or moved far, where the chord leaves the tangents at either end (a hairpin's returning branch:
Allgower & Georg 1990, §6.1), where σ_j moves off the chord by more than SPACING of a bin or the
log densities by more than 2·LOG_STEP while they matter, where σ_j passes a held value (a branch
close by), or past the edge of positive definiteness; the first steps are short, so a fold beside
the sample, where samples gather (the density of σ_j diverges there like 1/√), is resolved. The
PIT reads each segment as a quadratic in σ_j (:func:`langevin_ib.pit.conditional`). A walk
ends where σ_j falls below half the range's floor (Γ ends just beyond, where M₁ or M₂ stops being
positive definite), where σ_j has passed the range and the density is negligible, or back at the
sample (a closed loop, whose other walk is then dropped). This conditions on the component of the
level set through the sample as well, a function of the state, so the PIT stays exact where the
level set has several. A trace that ends none of these ways in MAX_STEPS, or where no step can be
taken, leaves the value undefined (counted in the summary; 0.3% of values at the rank-3 config).
Quartering SPACING and LOG_STEP moves 4% of the geometric PIT values of exact samples to a
neighbouring PIT bin (tests/predictions/test_singular_level_curves.py). The form needs n, p ≥ r + 1, as
:mod:`mode_energies` does (at n = r the geometric density has a 1/√ edge where Γ ends), and uses
the GL(r) model's χ (:func:`breaking_gram`).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.predictions.general_linear import mode_energies
from langevin_ib.statistics.pit import Form, strength_range
from langevin_ib.base import Binning
from langevin_ib.models.base import Model
from langevin_ib.predictions.general_linear.singular_fibre import SINGULAR_VALUES, decomposition
from langevin_ib.predictions.general_linear.singular_level_sets import FLOOR
from langevin_ib.numerics.small_linalg import cholesky, cofactors, det, log_abs_det, solve

HYPOTHESES = ("geometric", "naive", "projected")
MAX_STEPS = 768  # per direction
SPACING = 0.5  # of a bin: the most σ_j moves in one step
LOG_STEP = 0.3  # the most a log density moves in one step, while it matters
SMOOTH = np.array([0, 2])  # geometric, projected: smooth along Γ; the naive density vanishes where σ_j turns
NEGLIGIBLE = 30.0  # log densities this far below the largest seen carry no mass
CORRECTIONS = 3  # Newton steps back onto Γ after each predictor step; the last must move it < resolution/10
CORRECTION = 0.3  # the largest Newton move accepted, relative to the step
TURN = 0.8  # the least cosine accepted between the chord and the tangents at a step's two ends
RESOLUTION = 1e-3  # relative to the longest step: below it Newton's move and the chord's direction are
# float32 round-off where σ_j comes close to a held singular value (the gradients of Γ's equations
# shrink there like |λ_j − λ_k|), and are not held against the step


class Trace(NamedTuple):
    """One direction's walk along Γ: the point, the unit tangent there, σ_j, dσ_j/dℓ and the log
    densities there, the next step's length, the arc length walked, the largest log density seen, and
    whether the walk has ended, whether by closing on itself, and whether a non-finite number ended it."""

    point: jax.Array
    tangent: jax.Array
    value: jax.Array
    rate: jax.Array
    logs: jax.Array
    step: jax.Array
    walked: jax.Array
    peak: jax.Array
    ended: jax.Array
    closed: jax.Array
    broken: jax.Array


def breaking_gram(first_gram: jax.Array, second_gram: jax.Array) -> jax.Array:
    """G_χ of the GL(r) model's χ (½(M₁ − M₂) on and above the diagonal, (M₁ + M₂) above it) from
    M₁ = UᵀU and M₂ = VᵀV alone: χ_a = ⟨A_a, M₁⟩ + ⟨B_a, M₂⟩, so ∇_U χ_a = U(A_a + A_aᵀ) and
    G_ab = tr(Ā_a M₁ Ā_b) + tr(B̄_a M₂ B̄_b), Ā = A + Aᵀ (tests check it against autodiff's)."""
    rank = first_gram.shape[0]
    units = np.eye(rank * rank).reshape(rank * rank, rank, rank)  # E_ij
    pairs, strict = np.triu_indices(rank), np.triu_indices(rank, 1)
    difference, total = units[pairs[0] * rank + pairs[1]], units[strict[0] * rank + strict[1]]
    first = np.concatenate([0.5 * difference, total])
    second = np.concatenate([-0.5 * difference, total])
    first, second = (jnp.asarray(a + np.swapaxes(a, 1, 2), first_gram.dtype) for a in (first, second))
    return (jnp.einsum("aij,jk,bki->ab", first, first_gram, first)
            + jnp.einsum("aij,jk,bki->ab", second, second_gram, second))


def supports(model: Model) -> bool:
    """A GL(r) model of rank ≥ 3 with rows, cols ≥ rank + 1."""
    return mode_energies.supports(model) and model.modes.copies >= 3


def path(model: Model, temperature: float, weight_decay: float, binning: Binning) -> Callable:
    """``fn(params, copy) -> (values, lengths, logs, defined)``: σ_j at the nodes of Γ (2·MAX_STEPS + 1),
    the arc length of each segment, the log densities per unit length (nodes, 3), and whether the
    trace ended within MAX_STEPS (module docstring)."""
    modes, loss = model.modes, model.loss
    rows, cols = mode_energies._shapes(model)[:2]
    rank = modes.copies
    pairs = np.triu_indices(rank, 1)
    width = (binning.high - binning.low) / binning.bins
    low = strength_range(binning, False, FLOOR)[0]

    def fn(params: dict, copy: jax.Array):
        first, second = modes.factors(params)
        gram_u, gram_v = first @ first.T, second @ second.T
        half_difference, mean = 0.5 * (gram_u - gram_v), 0.5 * (gram_u + gram_v)
        off, start = mean - jnp.diag(jnp.diag(mean)), jnp.diag(mean)
        left, sigma, right = decomposition(modes, params)
        squares = sigma**2
        others = jnp.arange(rank - 1) + (jnp.arange(rank - 1) >= copy)  # k ≠ j
        held = squares[others]
        padded = jnp.concatenate([jnp.array([jnp.inf], sigma.dtype), sigma, jnp.zeros(1, sigma.dtype)])
        above, below = padded[copy], padded[copy + 2]  # the neighbours σ_j stays between

        def grams(d):
            return off + jnp.diag(d) + half_difference, off + jnp.diag(d) - half_difference

        def constraints(d):
            first_gram, second_gram = grams(d)
            product = first_gram @ second_gram
            return jnp.stack([det(value * jnp.eye(rank, dtype=d.dtype) - product) for value in held])

        def moving(d):  # λ_j(d)
            first_gram, second_gram = grams(d)
            return jnp.sum(first_gram * second_gram.T) - jnp.sum(held)

        def frame(d, previous):
            """(unit tangent oriented along ``previous``, |n|, dσ_j/dℓ)."""
            normal = cofactors(jax.jacfwd(constraints)(d))
            size = jnp.linalg.norm(normal)
            tangent = normal / size
            tangent = jnp.where(tangent @ previous < 0, -tangent, tangent)
            rate = jax.grad(moving)(d) @ tangent / (2 * jnp.sqrt(jnp.maximum(moving(d), 0.0)))
            return tangent, size, rate

        def admissible(d):
            first_gram, second_gram = grams(d)
            diagonals = jnp.concatenate([jnp.diag(cholesky(first_gram)), jnp.diag(cholesky(second_gram))])
            return jnp.all(diagonals > 0)

        def correct(d):
            """(d moved onto Γ by Gauss–Newton, least-norm steps; the length of the last step)."""
            def newton(_, state):
                point, _ = state
                jacobian = jax.jacfwd(constraints)(point)
                update = jacobian.T @ solve(jacobian @ jacobian.T, constraints(point))
                return point - update, jnp.linalg.norm(update)

            return jax.lax.fori_loop(0, CORRECTIONS, newton, (d, jnp.zeros_like(d[0])))

        def log_densities(d, size, rate):
            first_gram, second_gram = grams(d)
            square = moving(d)
            values = sigma.at[copy].set(jnp.sqrt(jnp.maximum(square, 0.0)))
            moved = modes.with_factors(params, (values[:, None] * left.T, right))  # X = PΣQᵀ
            energy = -(loss(moved) + weight_decay * jnp.sum(d)) / temperature
            separations = jnp.sum(jnp.log(jnp.abs(held - square)))
            geometric = (energy + 0.5 * (rows - rank - 1) * log_abs_det(first_gram)
                         + 0.5 * (cols - rank - 1) * log_abs_det(second_gram) + separations - jnp.log(size))
            projected = geometric + 0.5 * log_abs_det(breaking_gram(first_gram, second_gram))
            squares_now = values**2
            naive = (energy + (rows + cols - 2 * rank) * jnp.sum(jnp.log(values))
                     + jnp.sum(jnp.log(jnp.abs(squares_now[pairs[0]] - squares_now[pairs[1]]))) + jnp.log(jnp.abs(rate)))
            return jnp.stack([geometric, naive, projected])

        tangent0, size0, rate0 = frame(start, jnp.ones(rank, start.dtype))
        logs0 = log_densities(start, size0, rate0)
        reach = width * (1.0 + jnp.linalg.norm(start))  # the longest step, in units of d
        resolution = RESOLUTION * reach  # how well float32 places Γ where σ_j nears a held value

        def walk(direction):
            def advance(trace: Trace, _):
                d, tangent = trace.point, trace.tangent
                relaxed = jnp.where(trace.peak - jnp.max(trace.logs) > NEGLIGIBLE, 8.0, 1.0)
                spacing = relaxed * SPACING * width
                step = jnp.minimum(trace.step, jnp.minimum(reach, 0.5 * spacing / (jnp.abs(trace.rate) + 1e-12)))
                middle = frame(d + 0.5 * step * tangent, tangent)[0]
                predicted = d + step * middle
                proposal, residual = correct(predicted)
                new_tangent, size, rate = frame(proposal, middle)
                logs = log_densities(proposal, size, rate)
                value = jnp.sqrt(jnp.maximum(moving(proposal), 0.0))
                allowed = jnp.maximum(LOG_STEP, 0.5 * (trace.peak - jnp.max(trace.logs) - 0.8 * NEGLIGIBLE))

                def smooth(end, end_tangent, end_value, end_rate, end_logs):
                    """Whether the step from d to ``end`` follows Γ: the chord close to the tangents at both
                    ends (across a hairpin it would land on the returning branch: Allgower & Georg 1990,
                    §6.1), σ_j within the step's spacing of the chord (it dips at a fold, which the change
                    of dσ_j/dℓ shows), and the log densities within twice what the step allows."""
                    length = jnp.linalg.norm(end - d)
                    chord = (end - d) / length
                    moved = jnp.maximum(jnp.abs(end_value - trace.value), 0.25 * length * jnp.abs(end_rate - trace.rate))
                    change = jnp.max(jnp.abs((end_logs - trace.logs)[SMOOTH]))
                    turned = (jnp.minimum(chord @ tangent, chord @ end_tangent) >= TURN) | (length < 10 * resolution)
                    return turned & (moved <= spacing) & (change <= 2 * allowed), moved, change

                follows, moved, change = smooth(proposal, new_tangent, value, rate, logs)
                # a step is also not taken past the edge of positive definiteness, where Newton did not
                # converge or moved the point far, or where σ_j passed a held singular value, which on Γ it
                # cannot (λ_j = λ_k at a point of Γ is a codimension-3 condition): Newton jumped to a
                # branch close by. The next step is then a quarter as long.
                accepted = (follows & admissible(proposal) & jnp.all(jnp.isfinite(proposal)) & (residual <= 0.1 * resolution)
                            & (jnp.linalg.norm(proposal - predicted) <= jnp.maximum(CORRECTION * step, resolution))
                            & (value < above) & (value > below))
                # back at the sample after a loop: the step to it must follow Γ too (a hairpin may pass it)
                near = (trace.walked > 4 * reach) & (jnp.linalg.norm(start - d) <= step)
                closes = near & smooth(start, direction * tangent0, sigma[copy], direction * rate0, logs0)[0]
                accepted = jnp.where(near, closes, accepted)
                proposal, value, logs = (jnp.where(closes, at_start, new) for at_start, new in
                                         ((start, proposal), (sigma[copy], value), (logs0, logs)))
                new_tangent, rate = jnp.where(closes, direction * tangent0, new_tangent), jnp.where(closes, direction * rate0, rate)
                length = jnp.linalg.norm(proposal - d)
                next_step = jnp.minimum(2.0 * step, step * jnp.minimum(allowed / (change + 1e-12), 0.5 * spacing / (moved + 1e-12)))
                peak = jnp.maximum(trace.peak, jnp.max(logs))
                beyond = (value > binning.high) & (peak - jnp.max(logs) > NEGLIGIBLE)
                broken = accepted & ~(jnp.isfinite(length) & jnp.isfinite(value) & jnp.any(jnp.isfinite(logs)))
                stuck = broken | (~accepted & (step < 1e-3 * resolution))  # no step could be taken: the trace failed
                live = ~trace.ended & ~broken
                taken = live & accepted
                pick = lambda new, old: jnp.where(taken, new, old)
                node = (jnp.where(live, pick(value, trace.value), jnp.nan), pick(rate, trace.rate),
                        jnp.where(taken, length, 0.0), jnp.where(live, pick(logs, trace.logs), -jnp.inf))
                new = Trace(pick(proposal, d), pick(new_tangent, tangent), pick(value, trace.value), pick(rate, trace.rate),
                            pick(logs, trace.logs), jnp.where(taken, next_step, jnp.where(live, 0.25 * step, trace.step)),
                            trace.walked + node[2], pick(peak, trace.peak),
                            trace.ended | stuck | (taken & (beyond | closes | (value < 0.5 * low))),
                            trace.closed | (taken & closes), trace.broken | (~trace.ended & stuck))
                return new, node

            # the first steps are short and grow: a fold beside the sample, where samples gather (the
            # density of σ_j diverges there like 1/√), is resolved on both sides of it
            begin = Trace(start, direction * tangent0, sigma[copy], direction * rate0, logs0, reach / 64, jnp.zeros_like(reach),
                          jnp.max(logs0), *(jnp.zeros_like(reach) > 0,) * 3)  # flags from the inputs: shard_map
            # types a carry by whether it varies over devices
            return jax.lax.scan(advance, begin, None, length=MAX_STEPS)

        ends, (values, rates, lengths, logs) = jax.vmap(walk)(jnp.array([1.0, -1.0], start.dtype))
        forward, backward = (jax.tree.map(lambda x, i=i: x[i], ends) for i in range(2))
        (values_f, values_b), (rates_f, rates_b), (lengths_f, lengths_b), (logs_f, logs_b) = values, rates, lengths, logs
        keep_back = ~forward.closed  # a closed loop is all of Γ's component: the backward walk repeats it
        lengths_b = jnp.where(keep_back, lengths_b, 0.0)
        values = jnp.concatenate([values_b[::-1], sigma[copy][None], values_f])
        rates = jnp.concatenate([-rates_b[::-1], rate0[None], rates_f])  # along the forward direction
        lengths = jnp.concatenate([lengths_b[::-1], lengths_f])
        logs = jnp.concatenate([logs_b[::-1], logs0[None], logs_f])
        defined = (forward.ended & (backward.ended | forward.closed) & ~forward.broken & ~(backward.broken & keep_back)
                   & jnp.all(sigma[others] >= low))
        return values, rates, lengths, logs, defined

    return fn


LEVEL_CURVE = Form(
    HYPOTHESES,
    "probability integral transform of each singular value of UVᵀ (rank ≥ 3) under its full conditional "
    "on the level set of χ (singular vectors, the other singular values and the component of the level "
    "set held), traced along the curve those leave free, tested for uniformity",
    "on level sets of χ",
    None,
    SINGULAR_VALUES,
    chains="free",
    supports=supports,
    floor=FLOOR,
    path=path)
