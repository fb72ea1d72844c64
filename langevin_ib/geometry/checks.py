"""Checks of a declared symmetry before anything is simulated or predicted (issue: bad input).

Each check evaluates at a few random parameter points and raises :class:`SymmetryError` naming the
model and the failing check, instead of letting a NaN density through:
- the action preserves the loss, L(act(a, θ)) = L(θ);
- the slice is transverse to the orbits, G_χ non-singular (relative condition number);
- the chart's area-formula Jacobian does not vanish on the slice (Dφ·E of full rank).
It warns when a canonical χ is not dual (∇χ_a ≠ ξ_a), since then det G_χ ≠ det H.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np

from langevin_ib import geometry
from langevin_ib.models.base import Model


class SymmetryError(ValueError):
    """A declared symmetry, slice or chart fails its check; the message names the model and the check."""


def _points(model: Model, key: jax.Array, count: int) -> list:
    return [model.init(k) for k in jax.random.split(key, count)]


def check_symmetry(name: str, model: Model, key: jax.Array, count: int = 4, rtol: float = 1e-3) -> None:
    """Raise SymmetryError if the action, the slice or the chart of ``model`` fails at random points.

    ``rtol`` is relative to float32 round-off on losses of order one; the action is tested with
    group elements a ~ N(0, 0.3²), large enough to move every parameter by tens of percent."""
    group = model.group
    if group is None:
        return
    project = jax.jit(lambda p: geometry.project_to_slice(group, p))
    gram_of = jax.jit(lambda p: geometry.breaking_gram(group, p))
    pushforward = jax.jit(lambda p: geometry.chart_pushforward(model.chart, group, p))
    for i, params in enumerate(_points(model, key, count)):
        a = 0.3 * jax.random.normal(jax.random.fold_in(key, 1000 + i), (group.dim,))
        before, after = float(model.loss(params)), float(model.loss(group.act(a, params)))
        if not np.isclose(before, after, rtol=rtol, atol=rtol):
            raise SymmetryError(f"model {name}: the declared action does not preserve the loss: "
                                f"L(θ) = {before:.6g} but L(act(a, θ)) = {after:.6g} at random point {i}")
        on_slice = project(params)
        gram = np.asarray(gram_of(on_slice), np.float64)
        eigenvalues = np.linalg.eigvalsh(gram) if np.all(np.isfinite(gram)) else np.full(len(gram), np.nan)
        if not np.all(np.isfinite(eigenvalues)) or eigenvalues[0] <= 1e-6 * max(eigenvalues[-1], 1e-30):
            raise SymmetryError(f"model {name}: the slice χ = 0 is not transverse to the orbits: G_χ is "
                                f"singular (eigenvalues {eigenvalues[0]:.3g} … {eigenvalues[-1]:.3g}) at random point {i}")
        stretches = np.linalg.svd(np.asarray(pushforward(on_slice), np.float64),
                                  compute_uv=False)
        if stretches.size and (not np.all(np.isfinite(stretches)) or stretches[-1] <= 1e-6 * stretches[0]):
            raise SymmetryError(f"model {name}: the quotient chart has a vanishing Jacobian on the slice "
                                f"(singular values of Dφ·E from {stretches[0]:.3g} down to {stretches[-1]:.3g}) "
                                f"at random point {i}")
        if group.breaking is None:
            xi = geometry.generators(group, on_slice)
            if not np.allclose(geometry.breaking_jacobian(group, on_slice), xi, rtol=1e-3, atol=1e-5):
                warnings.warn(f"model {name}: the canonical χ = ½⟨θ, ξ⟩ is not dual to the generators "
                              "(the action is not a symmetric linear one); det G_χ ≠ det H", stacklevel=2)
