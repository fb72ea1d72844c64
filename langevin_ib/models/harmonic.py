"""Harmonic reference model U = (k/2)|x|², x ∈ R^m: the exact check of discretisation bias.

Euler–Maruyama's stationary variance is T/(k(1 − ηk/2)); Leimkuhler–Matthews' is T/k.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from langevin_ib.models.base import Model
from langevin_ib.models.fields import Field, positive

FIELDS = {
    "stiffness": positive(float, 1.0),
    "copies": positive(int, 1),
    "init": Field(float, 0.0),
}
OBSERVABLES = ("x",)


def build(cfg: dict, dtype=jnp.float32) -> Model:
    stiffness, copies = cfg["stiffness"], cfg["copies"]

    def init(key: jax.Array) -> dict:
        del key
        return {"x": jnp.full((copies,), cfg["init"], dtype)}

    def loss(params: dict) -> jax.Array:
        return 0.5 * stiffness * jnp.sum(params["x"] ** 2)

    return Model(init, loss, lambda params: {"x": params["x"]}, quotient="x", symmetry=None,
                 closed_form=("harmonic", (("stiffness", stiffness),)))
