"""The implicit-bias geometry of a declared symmetry, by autodiff (THEORY.md §2–3; paper eqs. 8, 40–43).

A group action ``act(a, params)``, a ∈ R^m with ``act(0, θ) = θ``, preserves the loss. Everything
here acts on one parameter pytree and is jit/vmap friendly:

- generators ξ_a(θ) = d/dt|₀ act(t e_a, θ) (one ``jax.jvp`` each) and the orbit Gram H_ab = ⟨ξ_a, ξ_b⟩;
- the symmetry-breaking map χ: by default the canonical χ_a(θ) = ½⟨θ, ξ_a(θ)⟩, whose gradient is
  ξ_a for a linear action with symmetric generators (all rescalings), so S = χ⁻¹(0) is the
  orthogonal, dual-normalised slice and det G_χ = det H; or one the model supplies;
- G_χ = Dχ Dχᵀ, the correction L_IB = (T/2)·log det G_χ, and the slice density
  log ρ_S = −U/T − ½ log det G_χ w.r.t. the slice's surface measure (paper eq. 8);
- the area-formula Jacobian J_φ = √det((Dφ E)ᵀ(Dφ E)) of a chart φ on the slice, E an orthonormal
  basis of T_θS = ker Dχ, so that p(q) = ρ_S/J_φ is a density in the chart's coordinates;
- the Itô drift of χ, −∇χ·∇U + TΔχ, which says whether the dynamics pull chains onto the slice.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

Params = Any


class GroupAction(NamedTuple):
    """``act(a, params) -> params`` with a ∈ R^dim and act(0, θ) = θ; ``breaking(params) -> (dim,)``
    a user-supplied χ (None: the canonical ½⟨θ, ξ_a(θ)⟩)."""

    act: Callable[[jax.Array, Params], Params]
    dim: int
    breaking: Callable[[Params], jax.Array] | None = None


def _flat(params: Params) -> tuple[jax.Array, Callable]:
    return ravel_pytree(params)


def generators(group: GroupAction, params: Params) -> jax.Array:
    """Ξ, shape (dim, d): row a is the flattened generator ξ_a(θ)."""
    zero = jnp.zeros(group.dim, _flat(params)[0].dtype)

    def along(direction):
        return _flat(jax.jvp(lambda a: group.act(a, params), (zero,), (direction,))[1])[0]

    return jax.vmap(along)(jnp.eye(group.dim, dtype=zero.dtype))


def orbit_gram(group: GroupAction, params: Params) -> jax.Array:
    """H_ab = ⟨ξ_a, ξ_b⟩ (Euclidean metric on the flattened parameters)."""
    xi = generators(group, params)
    return xi @ xi.T


def breaking(group: GroupAction, params: Params) -> jax.Array:
    """χ(θ) ∈ R^dim: the model's own, or the canonical χ_a = ½⟨θ, ξ_a(θ)⟩."""
    if group.breaking is not None:
        return group.breaking(params)
    return 0.5 * generators(group, params) @ _flat(params)[0]


def breaking_jacobian(group: GroupAction, params: Params) -> jax.Array:
    """Dχ, shape (dim, d), in the flattened coordinates."""
    flat, unravel = _flat(params)
    return jax.jacrev(lambda x: breaking(group, unravel(x)))(flat)


def breaking_gram(group: GroupAction, params: Params) -> jax.Array:
    """(G_χ)_ij = ⟨∇χ^i, ∇χ^j⟩ (paper eq. 42)."""
    jac = breaking_jacobian(group, params)
    return jac @ jac.T


def log_det_breaking_gram(group: GroupAction, params: Params) -> jax.Array:
    return jnp.linalg.slogdet(breaking_gram(group, params))[1]


def correction(group: GroupAction, params: Params, temperature: float) -> jax.Array:
    """L_IB = (T/2)·log det G_χ (paper eq. 8: L_eff = U + L_IB on the slice)."""
    return 0.5 * temperature * log_det_breaking_gram(group, params)


def slice_log_density(potential: Callable, group: GroupAction, params: Params, temperature: float) -> jax.Array:
    """log ρ_S = −U/T − ½ log det G_χ, unnormalised, w.r.t. the slice's surface measure (paper eq. 8)."""
    return -potential(params) / temperature - 0.5 * log_det_breaking_gram(group, params)


def tangent_basis(group: GroupAction, params: Params) -> jax.Array:
    """E, shape (d, d − dim): an orthonormal basis of ker Dχ = T_θS."""
    jac = breaking_jacobian(group, params)
    _, _, vt = jnp.linalg.svd(jac, full_matrices=True)
    return vt[group.dim:].T


def chart_pushforward(chart: Callable[[Params], jax.Array], group: GroupAction, params: Params) -> jax.Array:
    """Dφ E, shape (k, d − dim): the chart's derivative along the slice."""
    flat, unravel = _flat(params)
    d_chart = jax.jacfwd(lambda x: jnp.ravel(chart(unravel(x))))(flat)
    return d_chart @ tangent_basis(group, params)


def chart_log_jacobian(chart: Callable[[Params], jax.Array], group: GroupAction, params: Params) -> jax.Array:
    """log J_φ = ½ log det((Dφ E)ᵀ(Dφ E)) = Σ log σ_i(Dφ E): the area-formula Jacobian of φ
    restricted to the slice (from singular values, not the normal matrix, whose condition number
    is squared)."""
    pushed = chart_pushforward(chart, group, params)
    return jnp.sum(jnp.log(jnp.linalg.svd(pushed, compute_uv=False)))


def quotient_log_density(potential: Callable, chart: Callable, group: GroupAction, params: Params,
                         temperature: float) -> jax.Array:
    """log p(q) at q = φ(θ), θ on the slice: log ρ_S − log J_φ (one branch of the area formula)."""
    return slice_log_density(potential, group, params, temperature) - chart_log_jacobian(chart, group, params)


def breaking_drift(potential: Callable, group: GroupAction, params: Params, temperature: float) -> jax.Array:
    """The Itô drift of χ under overdamped Langevin: −∇χ·∇U + TΔχ (THEORY.md §4), shape (dim,)."""
    flat, unravel = _flat(params)
    chi = lambda x: breaking(group, unravel(x))
    grad_u = jax.grad(lambda x: potential(unravel(x)))(flat)
    laplacian = jnp.trace(jax.hessian(chi)(flat), axis1=1, axis2=2)
    return -jax.jacrev(chi)(flat) @ grad_u + temperature * laplacian


def project_to_slice(group: GroupAction, params: Params, iterations: int = 30) -> Params:
    """Move θ along its orbit onto χ = 0: Newton on a ↦ χ(act(a, θ)), a ← a − (Dχ Ξᵀ)⁻¹ χ.

    Each step acts from the current point, θ ← act(−(Dχ Ξᵀ)⁻¹χ, θ), so it is Newton's method in
    the group's local chart there, for abelian and non-abelian groups alike; a step longer than 1
    (a factor e in a rescaling) is shortened to 1, which keeps GL(r) from overshooting. The orbit through θ
    meets a transverse slice where Dχ Ξᵀ is invertible; for rescalings the iteration converges in a
    few steps from any θ with no zero block."""

    def newton(moved, _):
        tangent = breaking_jacobian(group, moved) @ generators(group, moved).T
        step = -jnp.linalg.solve(tangent, breaking(group, moved))
        return group.act(step / jnp.maximum(1.0, jnp.linalg.norm(step)), moved), None  # steps of at most 1

    return jax.lax.scan(newton, params, None, length=iterations)[0]


def slice_stability(potential: Callable, group: GroupAction, on_slice: Params, temperature: float,
                    key: jax.Array, spread: float = 0.5, samples: int = 8) -> dict:
    """Whether the Itô drift b of χ pulls chains onto the slice, at a slice point and along its orbit.

    ``pushes``: b ≠ 0 on the slice itself (relative to T·|∇χ|²); otherwise, off the slice
    (θ' = act(a, θ), a ~ N(0, spread²)), ``attracts`` if ⟨χ, b⟩ < 0, ``repels`` if > 0, else ``neutral``.
    Returns the label and the numbers it rests on."""

    @jax.jit
    def measure(on_slice, moves):
        def radial(a):
            moved = group.act(a, on_slice)
            chi = breaking(group, moved)
            return chi @ breaking_drift(potential, group, moved, temperature) / (jnp.linalg.norm(chi) + 1e-30)

        scale = temperature * jnp.trace(breaking_gram(group, on_slice)) / group.dim
        return scale, breaking_drift(potential, group, on_slice, temperature), jnp.mean(jax.vmap(radial)(moves))

    scale, on, alignment = measure(on_slice, spread * jax.random.normal(key, (samples, group.dim)))
    scale, alignment = float(scale), float(alignment)
    tolerance = 1e-4 * scale
    if float(jnp.linalg.norm(on)) / group.dim**0.5 > tolerance:
        label = "pushes"
    elif alignment < -tolerance:
        label = "attracts"
    elif alignment > tolerance:
        label = "repels"
    else:
        label = "neutral"
    return {"label": label, "drift_on_slice": on, "radial_drift_off_slice": alignment, "scale": scale}
