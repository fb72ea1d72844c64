"""Overdamped Langevin constrained to the slice S = χ⁻¹(0) (docs/theory.md §4(c)).

Euler–Maruyama, then a projection back onto S (Ciccotti, Lelièvre & Vanden-Eijnden 2008,
"Projection of diffusions on submanifolds"; Lelièvre, Rousset & Stoltz 2010, §3.3):

    Y = θ − η∇U(θ) + √(2Tη)·ξ,   θ' = Π_S(Y).

Either projection below is consistent with dθ = −P∇U dt + √(2T)·P∘dW, whose invariant measure is
e^{−U/T}dσ_S: it lacks the (det G_χ)^(−1/2) of the unconstrained dynamics' slice density (Fixman
1974), so the two runs isolate the correction. Moving back along the orbit instead (a gauge
fixing) would keep the unconstrained quotient dynamics and sample the geometric density: the
projection direction decides the law. Weak order 1 in η.

- Rescaling chains (:mod:`langevin_ib.models.rescaling`) with their canonical χ_a = ½(|f_a|² −
  |f_{a+1}|²): the orthogonal projection, closed form per copy (:func:`nearest_on_slice`): no
  Newton iteration, no linear solve, exact to rounding, defined everywhere but at a zero factor.
- Any other χ (a user-supplied one, the GL(r) slice): along the constraint normals at the previous
  point, θ' = Y + Dχ(θ)ᵀλ with λ solving χ(θ') = 0 by Newton (:func:`project`), Dχ by autodiff and a
  batched LAPACK solve of the m×m system.

Limits found: on jaxlib 0.10's 2-thread CPU pool the generic route's batched LAPACK solve deadlocked
an 8-constraint Hadamard run (both pool threads in ParallelBatchMap under sgetrf). The balanced
slice of a rescaling chain is a cone with its apex at strength 0, where Dχ vanishes and S is not a
manifold. Projecting along the previous normals is singular there (the normals vanish; 3.8% of
u₁u₂u₃ chains lost in 8000 steps); a projection that has not converged is flagged
(:func:`flag_unconverged`), so the runner counts the chain as diverged. The closed form has no such
failure. What a chain does at the apex is a choice of the scheme: projecting onto the nearest of the
lines that cross there undersampled the apex by 25% at every η tried; keeping the anchor's line, as
:func:`nearest_on_slice` does, showed no deficit (README, "Projected dynamics isolate the correction").
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from langevin_ib.dynamics.integrators.base import Integrator, Params, PotentialGradient, gaussian_like
from langevin_ib.models.rescaling import RescalingChain

NEWTON_ITERATIONS = 4  # quadratic convergence from |χ(Y)| = O(√η): float32 precision after 3
# a projection left with max|χ| > RESIDUAL_TOLERANCE·(1 + |θ|²) did not converge (float32 leaves
# ~1e-7·|θ|²): the chain is set to NaN, so the runner counts it as diverged instead of keeping it off S
RESIDUAL_TOLERANCE = 1e-3


class ProjectedState(NamedTuple):
    position: Params


def project(constraint: Callable[[Params], jax.Array], anchor: Params, proposal: Params) -> Params:
    """One chain: proposal + Dχ(anchor)ᵀλ on χ = 0, λ by Newton from λ = 0."""
    flat_anchor, unravel = ravel_pytree(anchor)
    flat_proposal = ravel_pytree(proposal)[0]
    chi = lambda x: constraint(unravel(x))
    normals = jax.jacrev(chi)(flat_anchor)  # (m, d)

    def newton(lam, _):
        moved = flat_proposal + normals.T @ lam
        return lam - jnp.linalg.solve(jax.jacfwd(chi)(moved) @ normals.T, chi(moved)), None

    lam = jax.lax.scan(newton, jnp.zeros(normals.shape[0], flat_anchor.dtype), None, length=NEWTON_ITERATIONS)[0]
    return unravel(flat_proposal + normals.T @ lam)


def flag_unconverged(constraint: Callable[[Params], jax.Array], position: Params) -> Params:
    """One chain's position, or NaN everywhere if it is not on S to RESIDUAL_TOLERANCE."""
    flat, unravel = ravel_pytree(position)
    on_slice = jnp.max(jnp.abs(constraint(position))) <= RESIDUAL_TOLERANCE * (1 + jnp.sum(flat**2))
    return unravel(jnp.where(on_slice, flat, jnp.nan))


def nearest_on_slice(chain: RescalingChain, anchor: Params, proposal: Params) -> Params:
    """One chain's orthogonal projection onto the sheet of S through the anchor, for a rescaling chain
    with its canonical χ. With |f_1| = ⋯ = |f_k| = |r| and fixed directions ω_a, the nearest point is
    f_a' = r ω_a, r = (1/k) Σ_a ω_a·Y_a: a vector factor keeps its direction, ω_a = Y_a/|Y_a|; a
    scalar factor keeps the anchor's sign, ω_a = sign(A_a), so a chain crosses the apex along its
    straight line (r < 0) instead of jumping to another of the lines that cross there. Away from the
    apex (signs of Y and A agree) this is the nearest point of S."""
    proposals = chain.factors(proposal)
    directions = [jnp.sign(a) if a.shape[1] == 1 else y / jnp.linalg.norm(y, axis=1, keepdims=True)
                  for a, y in zip(chain.factors(anchor), proposals)]
    radius = jnp.mean(jnp.stack([jnp.sum(w * y, axis=1) for w, y in zip(directions, proposals)]), axis=0)
    shift = tuple(radius[:, None] * w - y for w, y in zip(directions, proposals))
    (back,) = jax.linear_transpose(chain.factors, proposal)(shift)  # factors is a selection: its transpose puts back
    return jax.tree.map(jnp.add, proposal, back)


def balance(chain: RescalingChain, params: Params) -> Params:
    """One chain moved along its orbit onto χ = 0: every factor of a copy rescaled to |f_a| = s^{1/k}."""
    radii = jnp.stack([jnp.linalg.norm(f, axis=1) for f in chain.factors(params)])  # (k, copies)
    balanced = jnp.exp(jnp.mean(jnp.log(radii), axis=0))
    return chain.scale(params, balanced[None] / radii)


def build(gradient: PotentialGradient, temperature: float, step_size: float,
          constraint: Callable[[Params], jax.Array], chain: RescalingChain | None = None) -> Integrator:
    """``constraint(params) -> (m,)`` is one chain's χ; chains start projected onto S. With
    ``chain`` (whose canonical χ must be ``constraint``) the projection is :func:`nearest_on_slice`
    and the start is :func:`balance`."""
    noise_scale = (2.0 * temperature * step_size) ** 0.5
    if chain is None:
        # Newton may not converge (near a singular point of S): such chains are flagged
        onto_slice = jax.vmap(lambda anchor, proposal: flag_unconverged(constraint, project(constraint, anchor, proposal)))
        start = lambda position: onto_slice(position, position)
    else:  # closed form, exact to rounding (a zero vector factor gives NaN, counted as diverged)
        onto_slice = jax.vmap(lambda anchor, proposal: nearest_on_slice(chain, anchor, proposal))
        start = jax.vmap(lambda position: balance(chain, position))

    def init(key: jax.Array, position: Params) -> ProjectedState:
        del key
        return ProjectedState(start(position))

    def step(key: jax.Array, state: ProjectedState) -> ProjectedState:
        force = gradient(state.position)
        noise = gaussian_like(key, state.position)
        proposal = jax.tree.map(lambda x, g, n: x - step_size * g + noise_scale * n, state.position, force, noise)
        return ProjectedState(onto_slice(state.position, proposal))

    return Integrator(init, step, lambda state: state.position, weak_order=1)
