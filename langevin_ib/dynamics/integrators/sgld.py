"""Stochastic-gradient Langevin dynamics (Welling–Teh 2011): θ ← θ − η·u(g_B + λθ) + √(2ηT)ξ.

The minibatch update of :mod:`.sgd` plus isotropic Gaussian noise at temperature T.
Exports ``State``, ``Info``, ``Settings``, ``SPEC``, ``build``.
"""

from __future__ import annotations

from langevin_ib.dynamics.integrators.base import Integrator
from langevin_ib.dynamics.integrators import sgd
from langevin_ib.dynamics.integrators.sgd import Info, Settings, State, make
from langevin_ib.models.base import Model

SPEC = sgd.SPEC._replace(thermal=True)
__all__ = ["Info", "SPEC", "Settings", "State", "build"]


def build(model: Model, settings: Settings = Settings()) -> Integrator:
    """An Integrator stepping θ − η·u(g_B + λθ) + √(2ηT)ξ on ``model.data``."""
    return make(model, settings, SPEC, "sgld")
