"""Single-head scaled dot-product attention, teacher–student (paper Fig. 3, eqs. 47–50).

A Flax module computes softmax(XQ (XK)ᵀ/√r)·XV_v for sequences X of ``length`` tokens in R^d; its
parameters are split into the pure pytree {Q: (d, r), K: (d, r), Vv: (d, d)}. The scores depend on
Q Kᵀ = Σ_j Q_j K_jᵀ only, so the column scaling (Q_j, K_j) ↦ (e^{a_j}Q_j, e^{−a_j}K_j) is a
symmetry; χ_j = ½(‖Q_j‖² − ‖K_j‖²); L_IB = (T/2)Σ log(‖Q_j‖² + ‖K_j‖²) (eq. 50).
Data: Gaussian sequences and a random teacher of the same shape, labels plus Gaussian noise
(``data_seed``); L = ½·mean((f(X) − Y)²); ``fresh_data``: SGD draws fresh minibatches instead
(:mod:`langevin_ib.models.teacher_student`). Quotient chart: the rank-one terms Q_j K_jᵀ and Vv;
observables: the per-column strength ‖Q_j‖‖K_j‖ and χ_j. The paper's Fig. 3 set-up (eqs. 64–66,
docs/paper.md): ``value_width`` r_k, entries N(0, ``teacher_scale``²) and N(0, ``init_scale``²), the
column imbalance λ (``imbalance``) and the random global factors on Q (``query_factors``). Readout:
per-column ‖Q_j‖/‖K_j‖ (the paper's panel) and ``eval_mse``, the MSE on the finite set of ``samples``
sequences: held out under fresh-data SGD/SGLD (which never draw from it), the training set under GD and Langevin.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.models import relu, rescaling, teacher_student
from langevin_ib.models.base import Model
from langevin_ib.models.fields import Field, non_negative, positive
from langevin_ib.models.readout import Readout

FIELDS = {
    "dim": positive(int, 4),
    "rank": positive(int, 2),
    "length": positive(int, 4),
    "samples": positive(int, 16),
    "label_noise": non_negative(float, 0.02),
    "data_seed": non_negative(int, 0),
    "fresh_data": Field(bool, False, "true: minibatches of fresh x ~ N(0, I) (the paper's setup), false: the finite set"),
    "value_width": non_negative(int, 0),  # columns of V (the output width); 0: dim
    "teacher_scale": non_negative(float, 0.0),  # std of the teacher's entries; 0: Flax's default initialiser
    "init_scale": non_negative(float, 0.0),  # std of the student's initial entries; 0: Flax's default initialiser
    "imbalance": non_negative(float, 0.0),  # λ of Q ← Q diag(s), K ← K diag(1/s), s_j = exp(2λ(j − 1)/(r − 1) − λ)
    "query_factors": Field(bool, False, "true: the paper's random global factors on Q (teacher 4 + 4|z|, student "
                                        "1/4 + |z'|/4, z, z' ~ N(0, 1))"),
}
OBSERVABLES = ("strength", "chi")
# examples per block of the full-batch gradient: one sequence at a time keeps a chain's temporaries at 0.8 kB
# (15 kB for all 16 at once) and ran faster than all at once (4096 chains, float64; docs/engineering.md)
GRADIENT_BLOCK = 1


class SingleHeadAttention(nn.Module):
    rank: int
    value_width: int = 0  # 0: the input width

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dense = lambda features, name: nn.Dense(features, use_bias=False, name=name)(x)
        queries, keys, values = dense(self.rank, "query"), dense(self.rank, "key"), dense(self.value_width or x.shape[-1], "value")
        scores = queries @ jnp.swapaxes(keys, -1, -2) / jnp.sqrt(self.rank)
        return jax.nn.softmax(scores, axis=-1) @ values


def to_flax(params: dict) -> dict:
    return {"params": {"query": {"kernel": params["Q"]}, "key": {"kernel": params["K"]}, "value": {"kernel": params["Vv"]}}}


def from_flax(variables: dict) -> dict:
    p = variables["params"]
    return {"Q": p["query"]["kernel"], "K": p["key"]["kernel"], "Vv": p["value"]["kernel"]}


def teacher_query_factor(variables: dict, rng) -> dict:
    """The teacher's Q times 4 + 4|z|, z ~ N(0, 1) from the data ``rng`` (the paper's Experimental Setup)."""
    factor = 4.0 + 4.0 * abs(rng.standard_normal())
    params = dict(variables["params"])
    params["query"] = {"kernel": factor * params["query"]["kernel"]}
    return {**variables, "params": params}


def build(cfg: dict, dtype=jnp.float32) -> Model:
    network = SingleHeadAttention(cfg["rank"], cfg["value_width"])  # the teacher has the same shape
    student_init, loss, gradient, source = teacher_student.regression(
        network, network, (cfg["samples"], cfg["length"], cfg["dim"]), cfg["label_noise"], cfg["data_seed"],
        to_flax, from_flax, dtype, cfg["fresh_data"], teacher_scale=cfg["teacher_scale"],
        init_scale=cfg["init_scale"], teacher_map=teacher_query_factor if cfg["query_factors"] else None,
        block=GRADIENT_BLOCK)
    scale = relu.imbalance_factors(cfg["rank"], cfg["imbalance"]).astype(dtype)

    def init(key: jax.Array) -> dict:
        """The student's entries, then Q ← g·Q diag(s), K ← K diag(1/s) (eqs. 65–66), g = 1/4 + |z'|/4."""
        params = student_init(key)
        factor = 0.25 + 0.25 * jnp.abs(jax.random.normal(jax.random.fold_in(key, 2), (), dtype)) \
            if cfg["query_factors"] else 1.0
        return {**params, "Q": factor * params["Q"] * scale[None, :], "K": params["K"] / scale[None, :]}

    def readout_of(params: dict) -> dict:
        return {"ratio": jnp.linalg.norm(params["Q"], axis=0) / jnp.linalg.norm(params["K"], axis=0),
                "eval_mse": 2 * loss(params)}

    def observe(params: dict) -> dict:
        q_norm, k_norm = jnp.linalg.norm(params["Q"], axis=0), jnp.linalg.norm(params["K"], axis=0)
        return {"strength": q_norm * k_norm, "chi": 0.5 * (q_norm**2 - k_norm**2)}

    def quotient_map(params: dict) -> jax.Array:
        rank_one = jnp.einsum("ij,kj->jik", params["Q"], params["K"])
        return jnp.concatenate([rank_one.ravel(), params["Vv"].ravel()])

    return Model(init, loss, observe, quotient="strength", symmetry="chi", data=source, gradient=gradient,
                 **rescaling.declare(rescaling.pair("Q", "K", cfg["rank"], up_axis=1, down_axis=1)),
                 quotient_map=quotient_map, readout=Readout(readout_of, {"ratio": np.ones(cfg["rank"])}))
