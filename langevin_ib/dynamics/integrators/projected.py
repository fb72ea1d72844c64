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
(``Info.failed``), so the runner counts the chain as diverged. The closed form has no such
failure. What a chain does at the apex is a choice of the scheme: projecting onto the nearest of the
lines that cross there undersampled the apex by 25% at every η tried; keeping the anchor's line, as
:func:`nearest_on_slice` does, showed no deficit (docs/results.md, "Which projection at the apex").

Exports ``State``, ``Info``, ``SPEC``, ``build``.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from langevin_ib import geometry
from langevin_ib.dynamics import noise as noise_lib
from langevin_ib.dynamics.integrators.base import (Hyperparameters, Info, Integrator, IntegratorSpec, Params,
                                                   UnsupportedModel,
                                                   euler_maruyama_proposal, largest_magnitude, per_chain,
                                                   potential_gradient)
from langevin_ib.models.base import Model
from langevin_ib.models.rescaling import RescalingChain

SPEC = IntegratorSpec(weak_order=1, constrained=True, noises=("gaussian", "two_point", "three_point"))

NEWTON_ITERATIONS = 4  # quadratic convergence from |χ(Y)| = O(√η): float32 precision after 3
# a projection left with max|χ| > RESIDUAL_TOLERANCE·(1 + |θ|²) did not converge (float32 leaves
# ~1e-7·|θ|²): the step reports it failed, so the runner counts it as diverged instead of keeping it off S
RESIDUAL_TOLERANCE = 1e-3


class State(NamedTuple):
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


def on_slice(constraint: Callable[[Params], jax.Array], position: Params) -> jax.Array:
    """One chain: whether max|χ| ≤ RESIDUAL_TOLERANCE·(1 + |θ|²)."""
    flat = ravel_pytree(position)[0]
    return jnp.max(jnp.abs(constraint(position))) <= RESIDUAL_TOLERANCE * (1 + jnp.sum(flat**2))


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


def build(model: Model, noise: str = "gaussian") -> Integrator:
    """Args:
      model: its ``potential(λ)`` is U = L + (λ/2)|θ|²; its ``group`` gives χ
        (:func:`langevin_ib.geometry.breaking`). A rescaling ``chain`` with the canonical χ
        (``group.breaking`` None) projects by :func:`nearest_on_slice` and starts at :func:`balance`;
        any other χ by :func:`project`, starting at the projection of the initial point.
      noise: the law of ξ in the Euler–Maruyama proposal, one of ``SPEC.noises``
        (:mod:`langevin_ib.dynamics.noise`).

    Returns:
      The projected :class:`~langevin_ib.dynamics.integrators.base.Integrator`; its ``Info.failed``
      marks a projection off S (generic route) or a non-finite one (closed form: a zero vector factor).

    Raises:
      UnsupportedModel: the model declares no group action.
    """
    if model.group is None:
        raise UnsupportedModel("it constrains chains to the slice χ = 0, and the model declares no group action "
                               "(model.group)")
    gradient = potential_gradient(model)
    sample = noise_lib.lookup(noise)
    constraint = functools.partial(geometry.breaking, model.group)
    generic = model.group.breaking is not None or model.chain is None
    if generic:  # Newton may not converge (near a singular point of S): such chains fail
        def onto_slice(anchor, proposal):
            moved = jax.vmap(lambda a, y: project(constraint, a, y))(anchor, proposal)
            return moved, ~jax.vmap(lambda x: on_slice(constraint, x))(moved)
    else:  # closed form, exact to rounding (a zero vector factor gives NaN)
        def onto_slice(anchor, proposal):
            moved = jax.vmap(lambda a, y: nearest_on_slice(model.chain, a, y))(anchor, proposal)
            return moved, ~jnp.isfinite(largest_magnitude(moved))

    def init(key: jax.Array, position: Params, hyperparameters: Hyperparameters) -> State:
        """The start on S; a start that misses S is NaN, which the runner's first check counts as diverged."""
        del key, hyperparameters
        if not generic:
            return State(jax.vmap(lambda x: balance(model.chain, x))(position))
        moved, failed = onto_slice(position, position)
        return State(jax.tree.map(lambda x: jnp.where(per_chain(failed, x), jnp.nan, x), moved))

    def step(key: jax.Array, state: State, hyperparameters: Hyperparameters) -> tuple[State, Info]:
        proposal = euler_maruyama_proposal(gradient, key, state.position, hyperparameters, sample)
        position, failed = onto_slice(state.position, proposal)
        return State(position), Info(failed)

    return Integrator(init, step, lambda state: state.position, SPEC.weak_order, SPEC.constrained)
