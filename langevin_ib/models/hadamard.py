"""Hadamard factorisation z = A·w = u⊙v (paper §"Inverse design", eqs. 15–17).

The predictor is w = A⁻¹(u⊙v) for an injective linear A: ``identity`` (w = u⊙v, sparsity bias),
``difference`` (A the discrete gradient, so w = cumsum(u⊙v): total-variation-like bias). The loss
is ½·mean((M w − y)²) over ``measurements`` Gaussian rows M (or M = I when 0), y = M w* + noise,
w* with ``nonzeros`` entries equal to ``target``. Symmetry (u_i, v_i) ↦ (e^{a_i}u_i, e^{−a_i}v_i);
quotient z = u⊙v; χ_i = ½(u_i² − v_i²); L_IB = (T/2)Σ log(u_i² + v_i²) (eq. 15).
Data: the finite set of measurement rows (M_i, y_i) (the rows of I when M = I), ℓ = ½(M_i·w − y_i)²,
whose mean is L exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.models import rescaling
from langevin_ib.models.data import Data
from langevin_ib.models.base import Model
from langevin_ib.models.fields import Field, non_negative, positive

FIELDS = {
    "size": positive(int, 8),
    "operator": Field(str, "identity", choices=("identity", "difference")),
    "measurements": non_negative(int, 0),
    "nonzeros": positive(int, 2),
    "target": Field(float, 1.0, "the value of w*'s non-zero entries (a float)"),
    "noise": non_negative(float, 0.0),
    "data_seed": non_negative(int, 0),
    "init_scale": positive(float, 1.0),
    "init_noise": non_negative(float, 0.1),
}
OBSERVABLES = ("z", "chi")


def data(cfg: dict) -> tuple[np.ndarray | None, np.ndarray]:
    """(M or None for M = I, y) drawn once from ``data_seed``."""
    rng = np.random.default_rng(cfg["data_seed"])
    n = cfg["size"]
    signal = np.zeros(n)
    signal[rng.choice(n, min(cfg["nonzeros"], n), replace=False)] = cfg["target"]
    if cfg["measurements"] == 0:
        return None, signal + cfg["noise"] * rng.standard_normal(n)
    matrix = rng.standard_normal((cfg["measurements"], n)) / np.sqrt(cfg["measurements"])
    return matrix, matrix @ signal + cfg["noise"] * rng.standard_normal(cfg["measurements"])


def build(cfg: dict, dtype=jnp.float32) -> Model:
    n = cfg["size"]
    matrix, targets = data(cfg)
    matrix = None if matrix is None else jnp.asarray(matrix, dtype)
    targets = jnp.asarray(targets, dtype)
    synthesis = (lambda z: z) if cfg["operator"] == "identity" else jnp.cumsum

    def predictor(params: dict) -> jax.Array:
        return synthesis(params["u"] * params["v"])

    def loss(params: dict) -> jax.Array:
        w = predictor(params)
        return 0.5 * jnp.mean(((w if matrix is None else matrix @ w) - targets) ** 2)

    def init(key: jax.Array) -> dict:
        ku, kv = jax.random.split(key)
        jitter = lambda k: 1.0 + cfg["init_noise"] * jax.random.normal(k, (n,), dtype)
        return {"u": cfg["init_scale"] * jitter(ku), "v": cfg["init_scale"] * jitter(kv)}

    def observe(params: dict) -> dict:
        u, v = params["u"], params["v"]
        return {"z": u * v, "chi": 0.5 * (u**2 - v**2)}

    def example_loss(params: dict, example: dict) -> jax.Array:
        return 0.5 * (example["row"] @ predictor(params) - example["label"]) ** 2

    rows = jnp.eye(n, dtype=dtype) if matrix is None else matrix
    return Model(init, loss, observe, quotient="z", symmetry="chi",
                 data=Data(example_loss, examples={"row": rows, "label": targets}),
                 **rescaling.declare(rescaling.pair("u", "v", n, observable="z", signed=True)))
