"""The predicted drift of the symmetry-breaking coordinate χ per step, for any model, by autodiff.

Langevin (per unit time, :func:`langevin_ib.geometry.breaking_drift`): TΔχ − ∇χ·∇U.

One step θ' = θ − η(g_B + λθ) + √(2ηT)ξ of minibatch SGD (T = 0) or SGLD, g_B the minibatch mean of
per-example gradients, expanded to second order (exact when χ is quadratic, as for every rescaling,
whose canonical χ is; docs/sgd.md):

    E[Δχ] = −η∇χ·(∇L + λθ) + ½η² (ḡᵀ∇²χ ḡ + c/B · tr(∇²χ Σ)) + ηT Δχ,   ḡ = ∇L + λθ,

with Σ(θ) the per-example gradient covariance (vmap over examples) and c = (n − B)/(n − 1) for B
drawn without replacement from a finite set of n (c = 1 for fresh data), since E[g_B g_Bᵀ] =
∇L∇Lᵀ + cΣ/B. For a symmetric per-example loss every g_i is orthogonal to the orbit, so the first
term is the weight decay's alone: minibatch noise moves χ only through its second-order term.

The noise equilibrium (Ziyin et al., "Parameter symmetry and noise equilibrium of SGD", NeurIPS 2024,
arXiv 2402.07193) is the point of θ's orbit where this drift vanishes: :func:`noise_equilibrium`.
For u·v, Δχ = −η² g_θ,B² χ on every step (g_θ,B = ∂ℓ_B/∂(uv), orbit-invariant), so it is χ = 0,
|u| = |v| = √|uv|, for every η, B, label noise, T and weight decay.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from langevin_ib.geometry import breaking, breaking_drift
from langevin_ib.models.base import GroupAction, Model

Params = Any

__all__ = ["bisect", "breaking_drift", "drift_terms", "gradient_moments", "noise_equilibrium", "sgd_drift"]


def _second(fn: Callable, x: jax.Array, direction: jax.Array) -> jax.Array:
    """d²/ds² fn(x + s·direction) at s = 0 (= directionᵀ∇²fn direction)."""
    return _mixed(fn, x, direction, direction)


def _mixed(fn: Callable, x: jax.Array, u: jax.Array, w: jax.Array) -> jax.Array:
    """uᵀ∇²fn w at x (forward over forward)."""
    return jax.jvp(lambda y: jax.jvp(fn, (y,), (w,))[1], (x,), (u,))[1]


def drift_terms(model: Model, params: Params, examples: Any, weight_decay: float = 0.0,
                unbiased: bool = False) -> dict:
    """The pieces of E[Δχ] (module docstring) at θ, each (group.dim,), by forward-mode autodiff:
    ``chi``, ``first`` = −∇χ·ḡ, ``curvature`` = ḡᵀ∇²χ ḡ, ``noise`` = tr(∇²χ Σ), ``laplacian`` = Δχ,
    with ḡ = ∇L + λθ. Σ is the covariance of the per-example gradients over ``examples``: the
    population one for a finite set (``unbiased`` False), else the unbiased estimate from a fresh
    sample; where ``model.data.offset`` is None (``loss`` is not the generator's mean) ḡ is the
    sample mean and ḡᵀ∇²χḡ is corrected by −tr(∇²χΣ)/N, so every term is unbiased. Then one
    SGD/SGLD step has E[Δχ] = η·first + ½η²(curvature + (c/B)·noise) + ηT·laplacian, and one
    Euler–Maruyama step at temperature T the same without the noise term."""
    flat, unravel = ravel_pytree(params)
    chi = lambda x: breaking(model.group, unravel(x))
    data = model.data
    grads = jax.vmap(lambda z: jax.grad(lambda x: data.example_loss(unravel(x), z))(flat))(examples)
    count = grads.shape[0]
    sample_mean = jnp.mean(grads, axis=0)
    centred = grads - sample_mean[None]
    # tr(∇²χ Σ) = Σ_a e_aᵀ∇²χ(Σe_a): d second derivatives, not one per example
    eye = jnp.eye(flat.shape[0], dtype=flat.dtype)
    by_axis = jax.vmap(lambda u, w: _mixed(chi, flat, u, w))(jnp.concatenate([eye, eye]),
                                                              jnp.concatenate([eye, centred.T @ centred / count]))
    laplacian, noise = jnp.sum(by_axis[:flat.shape[0]], axis=0), jnp.sum(by_axis[flat.shape[0]:], axis=0)
    if unbiased:
        noise = noise * count / (count - 1)
    from_sample = data.examples is None and data.offset is None
    mean = (sample_mean if from_sample else jax.grad(lambda x: model.loss(unravel(x)))(flat)) + weight_decay * flat
    curvature = _second(chi, flat, mean) - (noise / count if from_sample else 0.0)
    first = -jax.jvp(chi, (flat,), (mean,))[1]
    return {"chi": chi(flat), "first": first, "curvature": curvature, "noise": noise, "laplacian": laplacian}


def gradient_moments(example_loss: Callable, params: Params, examples: Any) -> tuple[jax.Array, jax.Array]:
    """(mean, covariance) of the flattened per-example gradients ∇ℓ(θ, z_i) over ``examples``
    (leading axis n; the covariance is the population one, divided by n)."""
    flat, unravel = ravel_pytree(params)
    grads = jax.vmap(lambda z: jax.grad(lambda x: example_loss(unravel(x), z))(flat))(examples)
    mean = jnp.mean(grads, axis=0)
    centred = grads - mean[None]
    return mean, centred.T @ centred / grads.shape[0]


def sgd_drift(model: Model, params: Params, step_size: float, batch_size: int | None, temperature: float = 0.0,
              weight_decay: float = 0.0, examples: Any = None) -> jax.Array:
    """E[Δχ] over one SGD/SGLD step from θ (module docstring), shape (group.dim,).

    Args:
      model: declares ``group`` and ``data``; ``loss`` gives ∇L.
      batch_size: B; None (or ≥ n) for full-batch GD on a finite set.
      examples: for a generator, a large sample of fresh examples whose covariance stands for Σ (and
        whose mean for ∇L where ``loss`` is not the generator's mean, as for a teacher–student's fresh
        data: :func:`drift_terms`); ignored for a finite set, whose own examples give Σ exactly.
    Returns:
      the expected change of χ per step, exact when χ is quadratic.
    """
    data, group = model.data, model.group
    if data is None or group is None:
        raise ValueError("sgd_drift: the model must declare data (models.data.Data) and a group")
    if data.examples is not None:
        examples, n = data.examples, data.size
        batch = n if batch_size is None else min(batch_size, n)
        factor = (n - batch) / max(n - 1, 1)
    elif examples is None:
        raise ValueError("sgd_drift: a generator's Σ needs a sample: pass examples=model.data.draw(key, N)")
    else:
        batch, factor = batch_size, 1.0
    t = drift_terms(model, params, examples, weight_decay, unbiased=data.examples is None)
    return (step_size * t["first"] + 0.5 * step_size**2 * (t["curvature"] + factor / batch * t["noise"])
            + step_size * temperature * t["laplacian"])


def noise_equilibrium(drift: Callable[[Params], jax.Array], group: GroupAction, params: Params,
                      bracket: float = 8.0, iterations: int = 80) -> tuple[jax.Array, Params]:
    """(a*, act(a*, θ)): the point of θ's orbit where ``drift`` (e.g. a partial of :func:`sgd_drift`)
    vanishes, by bisection on a ∈ [−bracket, bracket] for a one-dimensional group; a* is NaN where
    the drift has one sign on the whole bracket (no equilibrium within a factor e^bracket)."""
    if group.dim != 1:
        raise ValueError(f"noise_equilibrium: a one-dimensional group is needed, got dim {group.dim}; "
                         "restrict the action to one copy (rescalings act on their copies independently)")
    dtype = ravel_pytree(params)[0].dtype
    root = bisect(lambda a: drift(group.act(jnp.reshape(a, (1,)), params))[0], jnp.asarray(bracket, dtype), iterations)
    return root, group.act(jnp.reshape(root, (1,)), params)


def bisect(along: Callable[[jax.Array], jax.Array], bracket: jax.Array, iterations: int) -> jax.Array:
    """Elementwise roots of ``along`` on [−bracket, bracket] (``bracket`` sets the shape: ``along`` maps
    an array of that shape to one, entry by entry) by ``iterations`` halvings; NaN where an entry has
    one sign on the whole bracket."""
    low, high = -bracket, bracket
    f_low = along(low)

    def halve(_, interval):
        low, high, f_low = interval
        mid = 0.5 * (low + high)
        f_mid = along(mid)
        same = jnp.sign(f_mid) == jnp.sign(f_low)
        return jnp.where(same, mid, low), jnp.where(same, high, mid), jnp.where(same, f_mid, f_low)

    bracketed = jnp.sign(f_low) != jnp.sign(along(high))
    low, high, _ = jax.lax.fori_loop(0, iterations, halve, (low, high, f_low))
    return jnp.where(bracketed, 0.5 * (low + high), jnp.nan)
