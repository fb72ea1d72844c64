"""Overdamped Langevin constrained to the slice S = χ⁻¹(0) (THEORY.md §4(c)).

Euler–Maruyama, then a projection back onto S along the constraint normals at the previous point
(Ciccotti, Lelièvre & Vanden-Eijnden 2008, "Projection of diffusions on submanifolds"):

    Y = θ − η∇U(θ) + √(2Tη)·ξ,   θ' = Y + Dχ(θ)ᵀλ  with λ ∈ R^m solving χ(θ') = 0 (Newton).

This is consistent with dθ = −P∇U dt + √(2T)·P∘dW, whose invariant measure is e^{−U/T}dσ_S: it
lacks the (det G_χ)^(−1/2) of the unconstrained dynamics' slice density (Fixman 1974), so the two
runs isolate the correction. Moving back along the orbit instead (a gauge fixing) would keep the
unconstrained quotient dynamics and sample the geometric density: the projection direction
decides the law. Weak order 1 in η.

For a rescaling chain (:mod:`langevin_ib.models.rescaling`, canonical χ_a = ½(|f_a|² − |f_{a+1}|²))
the projection is done per copy in the factors: f_a' = Y_a + (λ_a − λ_{a−1})A_a (A the anchor's
factors, λ_0 = λ_k = 0), whose Newton Jacobian is the symmetric tridiagonal matrix with diagonal
c_a + c_{a+1} and off-diagonal −c_{a+1}, c_a = f_a·A_a, solved by the Thomas algorithm: no autodiff
Jacobian and no LAPACK call. For a pair (|A_u| = |A_v| on the slice) χ is linear along the normal
line and one Newton step lands on it. Other models use the generic route: Dχ by autodiff and a
batched LAPACK solve of the m×m Newton system.

Limits found: on jaxlib 0.10's 2-thread CPU pool the generic route's batched LAPACK solve deadlocked
the 8-constraint Hadamard run (both pool threads in ParallelBatchMap under sgetrf); LAPACK-free
iterative solvers were tried on u·v and rejected (a chord iteration with conjugate gradients left
chains off the slice, BiCGSTAB inside Newton changed the sampled law). The balanced slice of a pair
is a cone, |A_u| = |A_v|, with its apex at strength 0 where Dχ vanishes: copies whose strength
sits near zero (Hadamard's off-support entries, switched-off ReLU neurons) make the projection
singular with either route, and such chains diverge (detected and counted by the runner).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from langevin_ib.integrators.base import Integrator, Params, PotentialGradient, gaussian_like
from langevin_ib.models.rescaling import RescalingChain

NEWTON_ITERATIONS = 4  # quadratic convergence from |χ(Y)| = O(√η): float32 precision after 3


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


def solve_tridiagonal(diagonal: jax.Array, off: jax.Array, rhs: jax.Array) -> jax.Array:
    """x with M x = rhs, M symmetric tridiagonal (diagonal (..., n), off-diagonal (..., n−1)): the
    Thomas algorithm, unrolled over the static n, vectorised over the leading axes."""
    n = diagonal.shape[-1]
    pivots, eliminated = [diagonal[..., 0]], [rhs[..., 0]]
    for i in range(1, n):
        ratio = off[..., i - 1] / pivots[-1]
        pivots.append(diagonal[..., i] - ratio * off[..., i - 1])
        eliminated.append(rhs[..., i] - ratio * eliminated[-1])
    solution = [eliminated[-1] / pivots[-1]]
    for i in range(n - 2, -1, -1):
        solution.append((eliminated[i] - off[..., i] * solution[-1]) / pivots[i])
    return jnp.stack(solution[::-1], axis=-1)


def project_chain(chain: RescalingChain, anchor: Params, proposal: Params) -> Params:
    """One chain's :func:`project` for a rescaling chain with its canonical χ, in the factors."""
    anchors, proposals = chain.factors(anchor), chain.factors(proposal)
    pad = jnp.zeros((chain.copies, 1), anchors[0].dtype)

    def moved(lam: jax.Array) -> list:  # lam (copies, k − 1): f_a = Y_a + (λ_a − λ_{a−1}) A_a
        mu = jnp.concatenate([lam, pad], 1) - jnp.concatenate([pad, lam], 1)
        return [y + mu[:, a, None] * x for a, (y, x) in enumerate(zip(proposals, anchors))]

    def newton(lam, _):
        factors = moved(lam)
        squared = jnp.stack([jnp.sum(f**2, 1) for f in factors], 1)  # (copies, k)
        overlap = jnp.stack([jnp.sum(f * x, 1) for f, x in zip(factors, anchors)], 1)
        residual = 0.5 * (squared[:, :-1] - squared[:, 1:])
        return lam - solve_tridiagonal(overlap[:, :-1] + overlap[:, 1:], -overlap[:, 1:-1], residual), None

    lam = jax.lax.scan(newton, jnp.zeros((chain.copies, chain.depth - 1), pad.dtype), None, length=NEWTON_ITERATIONS)[0]
    shift = tuple(f - y for f, y in zip(moved(lam), proposals))
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
    ``chain`` (whose canonical χ must be ``constraint``) the projection is :func:`project_chain`
    and the start is :func:`balance`."""
    noise_scale = (2.0 * temperature * step_size) ** 0.5
    if chain is None:
        onto_slice = jax.vmap(lambda anchor, proposal: project(constraint, anchor, proposal))
        start = lambda position: onto_slice(position, position)
    else:
        onto_slice = jax.vmap(lambda anchor, proposal: project_chain(chain, anchor, proposal))
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
