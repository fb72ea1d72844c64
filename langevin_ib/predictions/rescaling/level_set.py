"""Full conditionals of the rescaling strengths on the level sets of χ, with any number of coupled
copies (docs/theory.md §4a).

A copy of a rescaling chain (:mod:`langevin_ib.models.rescaling`) has factors f_a ∈ R^{p_a},
a = 1…k, radii r_a = |f_a|, the strength s = Π r_a (|θ| for u·v and u₁⋯u_k, |z_i| for Hadamard,
|v_j|‖W_j‖ per ReLU neuron, ‖Q_j‖‖K_j‖, ‖U_j‖‖V_j‖) and χ_a = ½(r_a² − r_{a+1}²). On its level set
r_a² = y + E_a with E_a = r_a² − min_b r_b² fixed, and s fixes y. In coordinates (χ, s, directions)
dθ = Π r_a^{p_a−1}/|∂(χ, s)/∂r| with |∂(χ, s)/∂r| = s²Σ_a r_a^{−2} (= r_u² + r_v² for a pair),
and det G_χ = Π r_a² · Σ_a r_a^{−2}. Holding χ, the directions and all other parameters fixed, the
density of s under each hypothesis of :mod:`langevin_ib.statistics.stein` is

- ``geometric``  e^{−U/T} Π r_a^{p_a−1}/(s² Σ r_a^{−2}): the Gibbs measure conditioned on χ, i.e.
  e^{−U/T}(det G_χ)^{−1/2} on the level set (paper eq. 8 for χ = 0);
- ``projected``  e^{−U/T} Π r_a^{p_a−1}/(s √Σ r_a^{−2}): e^{−U/T} w.r.t. the level set's surface measure;
- ``naive``      e^{−U/T} s^{Σ(p_a−1)}: e^{−U/T} flat in the chart f_1 ⊗ ⋯ ⊗ f_k.

Each is tested through the PIT of :mod:`langevin_ib.statistics.pit`.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.models.base import Model
from langevin_ib.models.rescaling import RescalingChain
from langevin_ib.predictions import theory_uv
from langevin_ib.statistics.conditional_table import Levels
from langevin_ib.statistics.pit import Form

HYPOTHESES = ("geometric", "naive", "projected")
BISECTIONS = 64


def level_set_radii(strength: jax.Array, offsets: jax.Array) -> jax.Array:
    """r_a² = y + E_a (offsets E ≥ 0, min E = 0) with Π(y + E_a) = s², by bisection on log y.
    With h = s^{2/k} and n₀ the number of zero offsets, y lies in [(s²/Π_{E_a>0}(E_a + h))^{1/n₀}, h]
    (the product is ≥ y^k at h and ≤ y^{n₀}Π(E_a + h) below h). No cancellation however unbalanced.
    A pair (one offset E, the other 0) in closed form: y(y + E) = s², y = 2s²/(E + √(E² + 4s²))."""
    depth = offsets.shape[0]
    if depth == 2:
        gap = jnp.sum(offsets)
        return 2 * strength**2 / (gap + jnp.sqrt(gap**2 + 4 * strength**2)) + offsets
    target = 2 * jnp.log(strength)
    log_high = target / depth
    zero = offsets == 0
    log_low = (target - jnp.sum(jnp.where(zero, 0.0, jnp.log(offsets + jnp.exp(log_high))))) / jnp.sum(zero)

    def bisect(bounds, _):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        above = jnp.sum(jnp.log(jnp.exp(mid) + offsets)) > target
        return (jnp.where(above, lo, mid), jnp.where(above, mid, hi)), None

    (lo, hi), _ = jax.lax.scan(bisect, (log_low, log_high), None, length=BISECTIONS)
    return jnp.exp(0.5 * (lo + hi)) + offsets


def along_level_set(chain: RescalingChain, params: dict, copy: jax.Array,
                    strength: jax.Array) -> tuple[dict, jax.Array]:
    """(params with copy's factors rescaled to strength s on its own level set of χ, their r_a²)."""
    old = jnp.stack([jnp.sum(f[copy] ** 2) for f in chain.factors(params)])
    squared = level_set_radii(strength, old - old.min())
    scales = jnp.ones((chain.depth, chain.copies), strength.dtype).at[:, copy].set(jnp.sqrt(squared / old))
    return chain.scale(params, scales), squared


def log_densities(model: Model, temperature: float, weight_decay: float) -> Callable:
    """``fn(params, copy, s) -> (3,)``: unnormalised log densities of copy's strength at s, per hypothesis."""
    chain, potential = model.chain, model.potential(weight_decay)

    def fn(params: dict, copy: jax.Array, strength: jax.Array) -> jax.Array:
        dims = np.asarray([f.shape[1] for f in chain.factors(params)])  # static: p_a per factor
        moved, squared = along_level_set(chain, params, copy, strength)
        energy = -potential(moved) / temperature
        volume = energy + 0.5 * jnp.sum((dims - 1) * jnp.log(squared))
        inverse = jnp.log(jnp.sum(1.0 / squared))
        return jnp.stack([volume - 2 * jnp.log(strength) - inverse, energy + jnp.sum(dims - 1) * jnp.log(strength),
                          volume - jnp.log(strength) - 0.5 * inverse])

    return fn


def levels(model: Model) -> Levels | None:
    """Where ``model`` declares the u·v potential (:func:`theory_uv.declared`: L = ½Σ_i(u_i v_i − θ*)², a sum
    over copies of a function of θ_i, symmetric in u_i ↔ v_i, and weight decay symmetric too), copy i's
    conditional depends on the chain only through its level ℓ = |u_i² − v_i²| = 2|χ_i| and the sign of θ_i:
    :class:`Levels` for one table per run (:mod:`langevin_ib.statistics.conditional_table`); else None."""
    if not theory_uv.declared(model):
        return None
    chain, template = model.chain, model.init(jax.random.key(0))

    def level(params: dict, copy: jax.Array) -> jax.Array:
        up, down = (jnp.sum(f[copy] ** 2) for f in chain.factors(params))
        return jnp.abs(up - down)

    def place(level: jax.Array, sign: jax.Array) -> tuple[dict, int]:  # r_v² = ℓ (1 at ℓ = 0): ℓ kept to rounding
        up, down = chain.factors(template)
        squared = jnp.where(level > 0, level, 1.0)
        return chain.with_factors(template, (up.at[0].set(sign * jnp.sqrt(level + squared)),
                                             down.at[0].set(jnp.sqrt(squared)))), 0

    return Levels(level, place)


LEVEL_SET = Form(
    HYPOTHESES,
    "probability integral transform of each copy's strength s under its full conditional on the level set "
    "of χ (directions and all other parameters held), tested for uniformity",
    "on level sets of χ",
    lambda model, temperature, weight_decay, binning: log_densities(model, temperature, weight_decay),
    levels=levels)
