"""The balance ratio ρ = |f_2|/|f_1| of a rescaling pair (|v_j|/‖W_j‖ per ReLU neuron, paper Fig. 2)
under the weight-decayed Gibbs measure: an orbit coordinate, so its law is set by the regulariser
and the volume of the fibre, not by the loss (docs/theory.md §4b).

A pair f_1 ∈ R^{p_1}, f_2 ∈ R^{p_2} with radii r_a has strength s = r_1 r_2 and ρ = r_2/r_1, so
r_1² + r_2² = s(ρ + 1/ρ), and dθ = r_1^{p_1−1} r_2^{p_2−1} dr_1 dr_2 dω = s^{(p_1+p_2)/2−1} ρ^{(p_2−p_1)/2−1}
ds dρ dω / 2. L depends on the pair only through s and the directions, so holding those and every other
parameter, with U = L + (λ/2)|θ|², the density of ρ under each hypothesis is

- ``geometric``         ρ^{(p_2−p_1)/2−1} e^{−(λs/2T)(ρ+1/ρ)}: the exact conditional of e^{−U/T}, a
  generalised inverse Gaussian whose width shrinks as √(T/λs): only weak copies are far from ρ = 1;
- ``naive``             ρ^{−1} e^{−(λs/2T)(ρ+1/ρ)}: e^{−U/T} written in the radii (r_1, r_2) as if they
  were Cartesian coordinates, the sphere volumes r_a^{p_a−1} forgotten;
- ``orbit_correction``  the geometric law times (det G_χ)^{−1/2} = (s(ρ + 1/ρ))^{−1/2}: the correction
  L_IB = (T/2) log det G_χ read as a potential that acts along the orbit too, the reading behind
  "the dynamics minimise L_IB along the orbit" (paper eqs. 46–47).

On the slice χ = 0, ρ = 1: chains held there (projected dynamics) have nothing to test, and on a level
set of χ, ρ is fixed by χ and s. The PIT and its Rao–Scott test are those of :mod:`langevin_ib.statistics.pit`.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from langevin_ib.statistics.pit import Form, Variable
from langevin_ib.models.rescaling import strengths
from langevin_ib.base import Binning
from langevin_ib.models.base import Model
from langevin_ib.models.rescaling import RescalingChain

HYPOTHESES = ("geometric", "naive", "orbit_correction")


def ratios(chain: RescalingChain, params: dict) -> tuple[jax.Array, jax.Array]:
    """(ρ = |f_2|/|f_1|, +1) per copy."""
    first, second = (jnp.linalg.norm(f, axis=1) for f in chain.factors(params))
    ratio = second / first
    return ratio, jnp.ones_like(ratio)


def log_densities(model: Model, temperature: jax.Array, weight_decay: jax.Array, binning: Binning) -> Callable:
    """``fn(params, copy, ρ) -> (3,)``: unnormalised log densities of copy's balance ratio at ρ (weight
    decay > 0: :data:`MARGINAL` applies to weight-decayed chains only); T and λ may be traced."""
    chain = model.chain

    def fn(params: dict, copy: jax.Array, ratio: jax.Array) -> jax.Array:
        factors = chain.factors(params)
        first, second = (int(f.shape[1]) for f in factors)  # static: p_1, p_2
        strength = strengths(chain, params)[0][copy]
        squared_radius = strength * (ratio + 1.0 / ratio)  # r_1² + r_2² = det G_χ of the pair
        confinement = -0.5 * weight_decay * squared_radius / temperature
        geometric = confinement + (0.5 * (second - first) - 1.0) * jnp.log(ratio)
        naive = confinement - jnp.log(ratio)
        return jnp.stack([geometric, naive, geometric - 0.5 * jnp.log(squared_radius)])

    return fn


RATIO = Variable("balance ratio", "chain", lambda chain: chain.balance if chain.depth == 2 else None, ratios,
                 lambda chain: False)

MARGINAL = Form(
    HYPOTHESES,
    "probability integral transform of each pair's balance ratio |f_2|/|f_1| under its full conditional with "
    "weight decay (strength, directions and all other parameters held), tested for uniformity",
    "given the strength, with weight decay",
    log_densities,
    RATIO,
    chains="weight_decayed")
