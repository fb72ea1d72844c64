"""Single-head scaled dot-product attention, teacher–student (paper Fig. 3, eqs. 47–50).

A Flax module computes softmax(XQ (XK)ᵀ/√r)·XV_v for sequences X of ``length`` tokens in R^d; its
parameters are split into the pure pytree {Q: (d, r), K: (d, r), Vv: (d, d)}. The scores depend on
Q Kᵀ = Σ_j Q_j K_jᵀ only, so the column scaling (Q_j, K_j) ↦ (e^{a_j}Q_j, e^{−a_j}K_j) is a
symmetry; χ_j = ½(‖Q_j‖² − ‖K_j‖²); L_IB = (T/2)Σ log(‖Q_j‖² + ‖K_j‖²) (eq. 50).
Data: Gaussian sequences and a random teacher of the same shape, labels plus Gaussian noise
(``data_seed``); L = ½·mean((f(X) − Y)²); ``fresh_data``: SGD draws fresh minibatches instead
(:mod:`langevin_ib.models.teacher_student`). Quotient chart: the rank-one terms Q_j K_jᵀ and Vv;
observables: the per-column strength ‖Q_j‖‖K_j‖ and χ_j.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from langevin_ib.models import rescaling, teacher_student
from langevin_ib.models.base import Model
from langevin_ib.models.fields import Field, non_negative, positive

FIELDS = {
    "dim": positive(int, 4),
    "rank": positive(int, 2),
    "length": positive(int, 4),
    "samples": positive(int, 16),
    "label_noise": non_negative(float, 0.02),
    "data_seed": non_negative(int, 0),
    "fresh_data": Field(bool, False, "true: minibatches of fresh x ~ N(0, I) (the paper's setup), false: the finite set"),
}
OBSERVABLES = ("strength", "chi")


class SingleHeadAttention(nn.Module):
    rank: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dense = lambda features, name: nn.Dense(features, use_bias=False, name=name)(x)
        queries, keys, values = dense(self.rank, "query"), dense(self.rank, "key"), dense(x.shape[-1], "value")
        scores = queries @ jnp.swapaxes(keys, -1, -2) / jnp.sqrt(self.rank)
        return jax.nn.softmax(scores, axis=-1) @ values


def to_flax(params: dict) -> dict:
    return {"params": {"query": {"kernel": params["Q"]}, "key": {"kernel": params["K"]}, "value": {"kernel": params["Vv"]}}}


def from_flax(variables: dict) -> dict:
    p = variables["params"]
    return {"Q": p["query"]["kernel"], "K": p["key"]["kernel"], "Vv": p["value"]["kernel"]}


def build(cfg: dict, dtype=jnp.float32) -> Model:
    network = SingleHeadAttention(cfg["rank"])  # the teacher has the same shape
    init, loss, source = teacher_student.regression(
        network, network, (cfg["samples"], cfg["length"], cfg["dim"]), cfg["label_noise"], cfg["data_seed"],
        to_flax, from_flax, dtype, cfg["fresh_data"])

    def observe(params: dict) -> dict:
        q_norm, k_norm = jnp.linalg.norm(params["Q"], axis=0), jnp.linalg.norm(params["K"], axis=0)
        return {"strength": q_norm * k_norm, "chi": 0.5 * (q_norm**2 - k_norm**2)}

    def quotient_map(params: dict) -> jax.Array:
        rank_one = jnp.einsum("ij,kj->jik", params["Q"], params["K"])
        return jnp.concatenate([rank_one.ravel(), params["Vv"].ravel()])

    return Model(init, loss, observe, quotient="strength", symmetry="chi", data=source,
                 **rescaling.declare(rescaling.pair("Q", "K", cfg["rank"], up_axis=1, down_axis=1)),
                 quotient_map=quotient_map)
