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


def build(cfg: dict, dtype=jnp.float32) -> Model:
    prob = signal_recovery.problem(cfg)
    synthesis = jnp.asarray(prob.synthesis, dtype)

    def predictor(params: dict) -> jax.Array:
        return synthesis @ params["w"]

    loss, data = signal_recovery.regression(prob, predictor, dtype)
    return Model(lambda key: {"w": initial(cfg, key, (cfg["size"],), dtype)}, loss, lambda params: {"z": params["w"]},
                 quotient="z", symmetry=None, data=data, readout=signal_recovery.readout(prob, predictor, dtype),
                 synthesis=prob.synthesis)
