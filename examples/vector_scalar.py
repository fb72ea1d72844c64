"""A user-defined model, outside the package: w = v·u with u ∈ R^d and a scalar v, L = ½|v·u − w*|².

Run it with ``langevin-ib run examples/vector_scalar.yaml`` (model.name: examples.vector_scalar, an
import path from the current directory). The symmetry is declared once, as a group action; the
engine derives χ = ½(|u|² − v²), G_χ = |u|² + v² and the correction by autodiff
(``langevin-ib predict examples/vector_scalar.yaml``).
"""

import jax
import jax.numpy as jnp

from langevin_ib.models import rescaling
from langevin_ib.models.base import Model
from langevin_ib.models.fields import Field, positive

FIELDS = {
    "dim": positive(int, 2),
    "target": Field(float, 1.0, "the value of every entry of w* (a float)"),
}
OBSERVABLES = ("norm", "chi")


def build(cfg: dict, dtype=jnp.float32) -> Model:
    target = jnp.full(cfg["dim"], cfg["target"], dtype)

    def init(key: jax.Array) -> dict:
        del key
        return {"u": jnp.ones(cfg["dim"], dtype), "v": jnp.ones(1, dtype)}

    def loss(params: dict) -> jax.Array:
        return 0.5 * jnp.sum((params["v"] * params["u"] - target) ** 2)

    def observe(params: dict) -> dict:
        u, v = params["u"], params["v"]
        return {"norm": jnp.abs(v) * jnp.linalg.norm(u, keepdims=True), "chi": 0.5 * (jnp.sum(u**2, keepdims=True) - v**2)}

    return Model(init, loss, observe, quotient="norm", symmetry="chi",
                 **rescaling.declare(rescaling.pair("u", "v", 1, up_axis=0, down_axis=0, observable="norm")),
                 quotient_map=lambda params: params["v"] * params["u"])
