"""θ = u·v, m independent copies: L = ½ Σ_i (u_i v_i − θ*)²  (paper §"A worked example", eqs. 4–7).

Symmetry (u, v) ↦ (λu, v/λ); quotient coordinate θ_i = u_i v_i; symmetry-breaking coordinate
χ_i = ½(u_i² − v_i²), whose zero level set is the balanced slice |u| = |v| (docs/theory.md §2).
Data (:func:`langevin_ib.models.data.scalar_regression`): fresh y_i = θ* x_i + σε_i, x_i ~ N(0, 1),
ℓ = ½Σ_i(u_i v_i x_i − y_i)², whose expectation is L + mσ²/2 (σ = ``label_noise``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from langevin_ib.models import data, rescaling
from langevin_ib.models.base import Model
from langevin_ib.models.fields import Field

FIELDS = {**data.SCALAR_REGRESSION_FIELDS, "init_u": Field(float, 1.0), "init_v": Field(float, 1.0)}
OBSERVABLES = ("theta", "chi")


def build(cfg: dict, dtype=jnp.float32) -> Model:
    target, copies, noise = cfg["target"], cfg["copies"], cfg["init_noise"]

    def init(key: jax.Array) -> dict:
        ku, kv = jax.random.split(key)
        return {
            "u": cfg["init_u"] + noise * jax.random.normal(ku, (copies,), dtype),
            "v": cfg["init_v"] + noise * jax.random.normal(kv, (copies,), dtype),
        }

    def loss(params: dict) -> jax.Array:
        return 0.5 * jnp.sum((params["u"] * params["v"] - target) ** 2)

    def observe(params: dict) -> dict:
        u, v = params["u"], params["v"]
        return {"theta": u * v, "chi": 0.5 * (u**2 - v**2)}

    source = data.scalar_regression(lambda params: params["u"] * params["v"], target, copies, cfg["label_noise"], dtype)
    return Model(init, loss, observe, quotient="theta", symmetry="chi", data=source, closed_form=("uv", (("target", target),)),
                 **rescaling.declare(rescaling.pair("u", "v", copies, observable="theta", signed=True)))
