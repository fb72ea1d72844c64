"""Hadamard factorisation c = u⊙v of a signal's coefficients (paper §"Inverse design", eqs. 14–17).

The predictor is the signal x = S(u⊙v) of the recovery problem :mod:`.signal_recovery` (S the
``operator``: identity for sparsity, ``difference``/cumsum for a total-variation-like bias, or a user
matrix); the loss ½·mean((M x − y)²). Symmetry (u_i, v_i) ↦ (e^{a_i}u_i, e^{−a_i}v_i); quotient
z = u⊙v; χ_i = ½(u_i² − v_i²); L_IB = (T/2)Σ log(u_i² + v_i²) (eq. 15), whose minimum over the orbit
is (T/2)Σ log|(A x)_i| with A = S⁺ (eq. 16). ``init``: ``jittered`` u, v = init_scale·(1 + init_noise·ε)
or ``gaussian`` u, v ~ N(0, init_scale²) (zero mean, the paper's Figs. 5–6).
Data: the finite set of measurement rows (M_i, y_i), ℓ = ½(M_i·x − y_i)², whose mean is L exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from langevin_ib.models import rescaling, signal_recovery
from langevin_ib.models.base import Model

FIELDS = signal_recovery.FIELDS
OBSERVABLES = ("z", "chi")


def initial(cfg: dict, key: jax.Array, shape: tuple, dtype) -> jax.Array:
    """One factor's initial values under ``init`` (module docstring)."""
    draw = jax.random.normal(key, shape, dtype)
    if cfg["init"] == "gaussian":
        return cfg["init_scale"] * draw
    return cfg["init_scale"] * (1.0 + cfg["init_noise"] * draw)


arrays = signal_recovery.arrays


def build(cfg: dict, dtype=jnp.float32) -> Model:
    return bind(cfg, arrays(cfg), dtype)


def bind(cfg: dict, data: dict, dtype=jnp.float32) -> Model:
    """The model of the problem's arrays ``data`` (:func:`langevin_ib.models.signal_recovery.arrays`)."""
    n = cfg["size"]
    matrix = signal_recovery.synthesis_matrix(cfg)
    synthesis = (lambda z: z) if cfg["operator"] == "identity" else (
        jnp.cumsum if cfg["operator"] == "difference" else (lambda z: jnp.asarray(matrix, dtype) @ z))

    def predictor(params: dict) -> jax.Array:
        return synthesis(params["u"] * params["v"])

    def init(key: jax.Array) -> dict:
        ku, kv = jax.random.split(key)
        return {"u": initial(cfg, ku, (n,), dtype), "v": initial(cfg, kv, (n,), dtype)}

    def observe(params: dict) -> dict:
        u, v = params["u"], params["v"]
        return {"z": u * v, "chi": 0.5 * (u**2 - v**2)}

    loss, examples = signal_recovery.regression(data, predictor, dtype)
    return Model(init, loss, observe, quotient="z", symmetry="chi", data=examples,
                 readout=signal_recovery.readout(cfg, data, predictor, dtype), synthesis=matrix,
                 **rescaling.declare(rescaling.pair("u", "v", n, observable="z", signed=True)))
