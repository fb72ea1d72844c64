"""Linear-Gaussian regression L(w) = ½(w − w*)ᵀS(w − w*), S = diag(``scales``) (no symmetry).

Data: fresh x ~ N(0, S), y = xᵀw* + σε, ℓ = ½(xᵀw − y)², E ℓ = L + σ²/2. SGD's stationary
covariance on it is exact (:mod:`langevin_ib.predictions.sgd_linear`), which the model declares as its
closed form and a stochastic-gradient run tests (``stationary_covariance``, docs/sgd.md).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from langevin_ib.models.base import Model
from langevin_ib.models.data import Data
from langevin_ib.models.fields import Field, non_negative
from langevin_ib.numerics import fused_random

FIELDS = {
    "scales": Field(list, [1.0, 4.0], "a list of positive finite floats (the input variances, S's diagonal)",
                    lambda s: len(s) > 0 and all(isinstance(x, (int, float)) and 0 < x < math.inf for x in s)),
    "target": Field(float, 1.0, "the value of every entry of w* (a float)"),
    "label_noise": non_negative(float, 0.1),
}
OBSERVABLES = ("w",)


def build(cfg: dict, dtype=jnp.float32) -> Model:
    scales = jnp.asarray(cfg["scales"], dtype)
    dim, target, noise = len(cfg["scales"]), cfg["target"], cfg["label_noise"]

    def loss(params: dict) -> jax.Array:
        return 0.5 * jnp.sum(scales * (params["w"] - target) ** 2)

    def example_loss(params: dict, example: dict) -> jax.Array:
        return 0.5 * (example["x"] @ params["w"] - example["y"]) ** 2

    def draw(key: jax.Array, batch_size: int) -> dict:
        kx, ke = jax.random.split(key)
        x = jnp.sqrt(scales)[None] * fused_random.normal(kx, (batch_size, dim), dtype)
        return {"x": x, "y": target * jnp.sum(x, axis=1) + noise * fused_random.normal(ke, (batch_size,), dtype)}

    return Model(init=lambda key: {"w": jnp.full((dim,), target, dtype)}, loss=loss,
                 observe=lambda params: {"w": params["w"]}, quotient="w", symmetry=None,
                 data=Data(example_loss, draw=draw, offset=0.5 * noise**2),
                 closed_form=("linear_regression", (("scales", tuple(cfg["scales"])), ("target", target),
                                                    ("label_noise", noise))))
