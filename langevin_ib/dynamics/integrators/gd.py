"""Full-batch gradient descent: θ ← θ − η·u(∇L + λθ), on ``model.loss`` (no data source needed).

The update of :mod:`.sgd` with the full batch (``Settings.batch_size`` is ignored).
For u·v it changes χ by exactly −η²(∂L/∂θ)²χ per step (docs/sgd.md).
Exports ``State``, ``Info``, ``Settings``, ``SPEC``, ``build``.
"""

from __future__ import annotations

from langevin_ib.dynamics.integrators.base import Integrator
from langevin_ib.dynamics.integrators import sgd
from langevin_ib.dynamics.integrators.sgd import Info, Settings, State, make
from langevin_ib.models.base import Model

SPEC = sgd.SPEC._replace(thermal=False)
__all__ = ["Info", "SPEC", "Settings", "State", "build"]


def build(model: Model, settings: Settings = Settings()) -> Integrator:
    """An Integrator stepping θ − η·u(∇L + λθ) ."""
    return make(model, settings._replace(batch_size=None), SPEC, "gd")
