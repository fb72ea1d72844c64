"""The slice S = χ⁻¹(0) of a declared symmetry (docs/theory.md §2–4; paper eq. 8): the slice density
log ρ_S = −U/T − ½ log det G_χ w.r.t. the slice's surface measure, the Itô drift of χ,
−∇χ·∇U + TΔχ, which says whether the dynamics pull chains onto the slice, and the move of a point
along its orbit onto the slice.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from langevin_ib.geometry.orbits import Params, flatten, breaking, breaking_gram, breaking_jacobian, generators, log_det_breaking_gram
from langevin_ib.models.base import GroupAction


def slice_log_density(potential: Callable, group: GroupAction, params: Params, temperature: float) -> jax.Array:
    """log ρ_S = −U/T − ½ log det G_χ, unnormalised, w.r.t. the slice's surface measure (paper eq. 8)."""
    return -potential(params) / temperature - 0.5 * log_det_breaking_gram(group, params)


def breaking_drift(potential: Callable, group: GroupAction, params: Params, temperature: float) -> jax.Array:
    """The Itô drift of χ under overdamped Langevin: −∇χ·∇U + TΔχ (docs/theory.md §4), shape (dim,)."""
    flat, unravel = flatten(params)
    chi = lambda x: breaking(group, unravel(x))
    grad_u = jax.grad(lambda x: potential(unravel(x)))(flat)
    return -jax.jvp(chi, (flat,), (grad_u,))[1] + temperature * laplacian(chi, flat)  # ∇χ·∇U as one JVP


def laplacian(fn: Callable, flat: jax.Array) -> jax.Array:
    """Δfn = Σ_i ∂²fn/∂x_i² at ``flat``, one coordinate direction at a time (forward over forward mode):
    memory of one Jacobian-vector product, not of the (dim, d, d) Hessian (26 GB for d = 400, dim = 200)."""

    def second(i):
        e = jax.nn.one_hot(i, flat.shape[0], dtype=flat.dtype)
        return jax.jvp(lambda x: jax.jvp(fn, (x,), (e,))[1], (flat,), (e,))[1]

    return jax.lax.map(second, jnp.arange(flat.shape[0])).sum(axis=0)


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

    ``pushes``: b ≠ 0 on the slice itself, relative to the size of its terms, T|∇χ|² + |∇χ||∇U| per
    component (the second keeps the scale meaningful at T = 0, gradient descent); otherwise, off the slice
    (θ' = act(a, θ), a ~ N(0, spread²)), ``attracts`` if ⟨χ, b⟩ < 0, ``repels`` if > 0, else ``neutral``.
    Returns the label and the numbers it rests on."""

    @jax.jit
    def measure(on_slice, moves):
        def radial(a):
            moved = group.act(a, on_slice)
            chi = breaking(group, moved)
            return chi @ breaking_drift(potential, group, moved, temperature) / (jnp.linalg.norm(chi) + 1e-30)

        gram = jnp.trace(breaking_gram(group, on_slice)) / group.dim  # |∇χ|² per component
        flat, unravel = flatten(on_slice)
        gradient = jnp.linalg.norm(jax.grad(lambda x: potential(unravel(x)))(flat))
        scale = temperature * gram + jnp.sqrt(gram) * gradient
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
