"""Shallow ReLU network f(x) = Σ_j v_j ReLU(W_j·x), teacher–student regression (paper Fig. 2, eqs. 44–46).

A Flax module defines the network once; its parameters are split into the pure pytree
{W: (hidden, inputs), v: (hidden,)} that the engine integrates. ReLU is positively homogeneous, so
(v_j, W_j) ↦ (e^{−a_j}v_j, e^{a_j}W_j) preserves f; χ_j = ½(‖W_j‖² − v_j²) (eq. 45 prints v_j; its
gradient (W_j, −v_j) needs v_j², docs/theory.md §2); L_IB = (T/2)Σ log(‖W_j‖² + v_j²) (eq. 46).
Data: ``samples`` Gaussian inputs, labels from a random teacher with ``teacher_hidden`` neurons
plus Gaussian label noise, fixed by ``data_seed``; L = ½·mean((f(x) − y)²). ``fresh_data``: SGD draws
fresh minibatches instead (:mod:`langevin_ib.models.teacher_student`). The paper's Fig. 2 set-up
(eqs. 62–63): teacher entries N(0, 1.5²) (``teacher_scale``), student entries N(0, 0.05²)
(``init_scale``), then imbalanced as W_j ← s_j W_j, v_j ← v_j/s_j with
s_j = exp(2λ(j − 1)/(h − 1) − λ) (``imbalance`` λ, 1.2 in the paper), so that the initial ratios
|v_j|/‖W_j‖ spread over decades (docs/paper.md).
Quotient chart: the per-neuron vectors w_j = v_j W_j; observables: the strength ‖w_j‖ = |v_j|‖W_j‖,
the balance ratio |v_j|/‖W_j‖ and χ_j. Readout: the per-neuron ratios |v_j|/‖W_j‖ (Fig. 2's panel).
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from langevin_ib.models import rescaling, teacher_student
from langevin_ib.models.base import Model
from langevin_ib.models.fields import Field, non_negative, positive
from langevin_ib.models.readout import Readout
from langevin_ib.numerics import small_dot

FIELDS = {
    "inputs": positive(int, 3),
    "hidden": positive(int, 16),
    "teacher_hidden": positive(int, 2),
    "samples": positive(int, 64),
    "label_noise": non_negative(float, 0.1),
    "data_seed": non_negative(int, 0),
    "fresh_data": Field(bool, False, "true: minibatches of fresh x ~ N(0, I) (the paper's setup), false: the finite set"),
    "teacher_scale": non_negative(float, 0.0),  # std of the teacher's entries; 0: Flax's default initialiser
    "init_scale": non_negative(float, 0.0),  # std of the student's initial entries; 0: Flax's default initialiser
    "imbalance": non_negative(float, 0.0),  # λ of the initial rescaling s_j = exp(2λ(j − 1)/(h − 1) − λ)
}
OBSERVABLES = ("strength", "ratio", "chi")
# examples per block of the full-batch gradient: 2 keeps a chain's temporaries at 0.3 kB (41 kB for all 64 at
# once) and ran as fast as 4 and ~10× faster than all at once (4096 chains, float64; docs/engineering.md)
GRADIENT_BLOCK = 2


class TwoLayerReLU(nn.Module):
    """Its dots are products and sums (:mod:`langevin_ib.numerics.small_dot`): vmapped over chains they fuse."""

    hidden: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dense = functools.partial(nn.Dense, use_bias=False, dot_general=small_dot.dot_general)
        features = nn.relu(dense(self.hidden, name="hidden")(x))
        return dense(1, name="readout")(features)[..., 0]


def to_flax(params: dict) -> dict:
    return {"params": {"hidden": {"kernel": params["W"].T}, "readout": {"kernel": params["v"][:, None]}}}


def from_flax(variables: dict) -> dict:
    p = variables["params"]
    return {"W": p["hidden"]["kernel"].T, "v": p["readout"]["kernel"][:, 0]}


def imbalance_factors(hidden: int, imbalance: float) -> jnp.ndarray:
    """s_j = exp(2λ(j − 1)/(h − 1) − λ), j = 1…h (paper eq. 63); all 1 for one neuron."""
    position = jnp.linspace(-1.0, 1.0, hidden) if hidden > 1 else jnp.zeros(1)
    return jnp.exp(imbalance * position)


def build(cfg: dict, dtype=jnp.float32) -> Model:
    student_init, loss, gradient, source = teacher_student.regression(
        TwoLayerReLU(cfg["hidden"]), TwoLayerReLU(cfg["teacher_hidden"]), (cfg["samples"], cfg["inputs"]),
        cfg["label_noise"], cfg["data_seed"], to_flax, from_flax, dtype, cfg["fresh_data"],
        teacher_scale=cfg["teacher_scale"], init_scale=cfg["init_scale"], block=GRADIENT_BLOCK)
    scale = imbalance_factors(cfg["hidden"], cfg["imbalance"]).astype(dtype)

    def init(key: jax.Array) -> dict:
        params = student_init(key)
        if not cfg["imbalance"]:
            return params
        return {"W": scale[:, None] * params["W"], "v": params["v"] / scale}

    def observe(params: dict) -> dict:
        row_norm = jnp.linalg.norm(params["W"], axis=1)
        magnitude = jnp.abs(params["v"])
        return {"strength": magnitude * row_norm, "ratio": magnitude / row_norm,
                "chi": 0.5 * (row_norm**2 - params["v"] ** 2)}

    def readout_of(params: dict) -> dict:
        return {"ratio": jnp.abs(params["v"]) / jnp.linalg.norm(params["W"], axis=1)}

    return Model(init, loss, observe, quotient="strength", symmetry="chi", data=source, gradient=gradient,
                 **rescaling.declare(rescaling.pair("W", "v", cfg["hidden"], up_axis=0, down_axis=0, balance="ratio")),
                 quotient_map=lambda params: params["v"][:, None] * params["W"], readout=Readout(readout_of, {}))
