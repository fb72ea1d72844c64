"""The plain-weights baseline of a signal-recovery problem (the paper's eqs. 68 and 70): x = S w.

The same problem, data and readout as :mod:`.hadamard` (:mod:`.signal_recovery`), with the
coefficients w learned directly: no symmetry, so no implicit bias beyond the dynamics' own (gradient
descent from near zero tends to the minimum-norm interpolant). ``init`` as in :mod:`.hadamard`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from langevin_ib.models import signal_recovery
from langevin_ib.models.base import Model
from langevin_ib.models.hadamard import initial

FIELDS = signal_recovery.FIELDS
OBSERVABLES = ("z",)


arrays = signal_recovery.arrays


def build(cfg: dict, dtype=jnp.float32) -> Model:
    return bind(cfg, arrays(cfg), dtype)


def bind(cfg: dict, data: dict, dtype=jnp.float32) -> Model:
    """The model of the problem's arrays ``data`` (:func:`langevin_ib.models.signal_recovery.arrays`)."""
    matrix = signal_recovery.synthesis_matrix(cfg)
    synthesis = jnp.asarray(matrix, dtype)

    def predictor(params: dict) -> jax.Array:
        return synthesis @ params["w"]

    loss, examples = signal_recovery.regression(data, predictor, dtype)
    return Model(lambda key: {"w": initial(cfg, key, (cfg["size"],), dtype)}, loss, lambda params: {"z": params["w"]},
                 quotient="z", symmetry=None, data=examples, readout=signal_recovery.readout(cfg, data, predictor, dtype),
                 synthesis=matrix)
