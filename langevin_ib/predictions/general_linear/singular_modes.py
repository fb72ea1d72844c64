"""Full conditionals of the singular values of X = UVᵀ on the singular-mode slice of the GL(r)
action (paper eqs. 54–58): the singular values as the quotient coordinates, for chains held on the
slice by projected dynamics (docs/theory.md §4c).

On the slice UᵀU = VᵀV diagonal, U = P√Σ and V = Q√Σ with P (rows × r), Q (cols × r) orthonormal,
so column j of U and V is singular mode j and σ_j = |U_j||V_j|. In the coordinates (σ, P, Q), with
n = rows, p = cols and dP, dQ the Stiefel measures, the slice's surface measure and the Lebesgue
measure of rank-r matrices are (tests/predictions/test_singular_modes.py checks both by autodiff)

    dσ_S = Π_j σ_j^{(n+p−2r−1)/2} Π_{i<j}(σ_i + σ_j) dσ dP dQ,
    dX   = Π_j σ_j^{n+p−2r} Π_{i<j}|σ_i² − σ_j²| dσ dP dQ,

and det G_χ ∝ Π_j σ_j Π_{i<j}(σ_i + σ_j)² (= det H = Π_{i,j}(σ_i + σ_j) up to a constant). Holding
P, Q and the other singular values, the density of σ_j under each hypothesis is

- ``projected``  e^{−U/T} w.r.t. dσ_S: the law of chains constrained to the slice;
- ``geometric``  e^{−U/T}(det G_χ)^{−1/2} dσ_S = e^{−U/T} Π_j σ_j^{(n+p−2r−2)/2}: paper eq. (8), whose
  cross terms (σ_i + σ_j) cancel;
- ``naive``      e^{−U/T} dX: Gibbs flat in the quotient chart X.

Moving σ_j to t scales column j of U and V by √(t/σ_j), which keeps the chain on the slice. The PIT
and its Rao–Scott test are those of :mod:`langevin_ib.statistics.pit`.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from langevin_ib.statistics.pit import Form, Variable
from langevin_ib.models.rescaling import strengths
from langevin_ib.base import Binning
from langevin_ib.models.base import Model

HYPOTHESES = ("projected", "geometric", "naive")


def log_densities(model: Model, temperature: float, weight_decay: float, binning: Binning) -> Callable:
    """``fn(params, copy, t) -> (3,)``: unnormalised log densities of singular value ``copy`` at t."""
    modes, potential = model.modes, model.potential(weight_decay)

    def fn(params: dict, copy: jax.Array, value: jax.Array) -> jax.Array:
        rows, cols = (int(f.shape[1]) for f in modes.factors(params))  # static: n, p
        excess = rows + cols - 2 * modes.copies
        sigma = strengths(modes, params)[0]
        scale = jnp.sqrt(value / sigma[copy])
        scales = jnp.ones((2, modes.copies), value.dtype).at[:, copy].set(scale)
        energy = -potential(modes.scale(params, scales)) / temperature
        others = jnp.arange(modes.copies) != copy
        log_t = jnp.log(value)
        projected = energy + 0.5 * (excess - 1) * log_t + jnp.sum(jnp.where(others, jnp.log(value + sigma), 0.0))
        geometric = energy + 0.5 * (excess - 2) * log_t
        naive = energy + excess * log_t + jnp.sum(jnp.where(others, jnp.log(jnp.abs(value**2 - sigma**2)), 0.0))
        return jnp.stack([projected, geometric, naive])

    return fn


SINGULAR_VALUES = Variable("singular value", "modes", lambda modes: modes.observable, strengths, lambda modes: False)

ON_SLICE = Form(
    HYPOTHESES,
    "probability integral transform of each singular value of UVᵀ under its full conditional on the "
    "singular-mode slice (singular vectors and the other singular values held), tested for uniformity",
    "on the singular-mode slice",
    log_densities,
    SINGULAR_VALUES,
    chains="projected")
