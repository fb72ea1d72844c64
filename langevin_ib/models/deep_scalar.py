"""Deep scalar factorisation θ = u₁u₂⋯u_k, m independent copies: L = ½Σ(θ − θ*)² (beyond the paper).

Symmetry: u_i ↦ e^{a_i − a_{i−1}}u_i with a₀ = a_k = 0, a (k − 1)-dimensional torus of rescalings
per copy; canonical χ_a = ½(u_a² − u_{a+1}²). G_χ is tridiagonal with diagonal u_a² + u_{a+1}² and
off-diagonal −u_{a+1}²; on the balanced slice |u_i| = r its determinant is k·r^{2(k−1)}, the
slice's arc length is √k dr and θ = r^k, so the density in θ is p(θ) ∝ e^{−L/T}·|θ|^{−2(k−1)/k}:
the exponent of the correction grows with depth (k = 2 gives u·v's 1/|θ|).
Data as u·v's: fresh y_i = θ* x_i + σε_i, ℓ = ½Σ_i(θ_i x_i − y_i)², E ℓ = L + mσ²/2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from langevin_ib.models import data, rescaling
from langevin_ib.models.base import Model
from langevin_ib.models.fields import Field

FIELDS = {"depth": Field(int, 3, "an integer depth k >= 2", lambda k: k >= 2), **data.SCALAR_REGRESSION_FIELDS,
          "init": Field(float, 1.0, "the initial value of every factor (a float)")}
OBSERVABLES = ("theta", "chi")


def build(cfg: dict, dtype=jnp.float32) -> Model:
    depth, copies, target = cfg["depth"], cfg["copies"], cfg["target"]

    def init(key: jax.Array) -> dict:
        return {"u": cfg["init"] + cfg["init_noise"] * jax.random.normal(key, (depth, copies), dtype)}

    def loss(params: dict) -> jax.Array:
        return 0.5 * jnp.sum((jnp.prod(params["u"], axis=0) - target) ** 2)

    def observe(params: dict) -> dict:
        u = params["u"]
        return {"theta": jnp.prod(u, axis=0), "chi": 0.5 * (u[0] ** 2 - u[1] ** 2)}

    chain = rescaling.RescalingChain(factors=lambda params: tuple(params["u"][:, :, None]),
                                     scale=lambda params, scales: {"u": params["u"] * scales},
                                     depth=depth, copies=copies, observable="theta", signed=True)
    source = data.scalar_regression(lambda params: jnp.prod(params["u"], axis=0), target, copies, cfg["label_noise"], dtype)
    return Model(init, loss, observe, quotient="theta", symmetry="chi", data=source, **rescaling.declare(chain))
