"""Integrators of overdamped Langevin dynamics, one module each (protocol in :mod:`.base`):
``REGISTRY[name].build(model) -> Integrator``; each module declares ``WEAK_ORDER`` and ``CONSTRAINED``."""

from langevin_ib.dynamics.integrators import euler_maruyama, leimkuhler_matthews, projected
from langevin_ib.dynamics.integrators.base import Hyperparameters, Info, Integrator, UnsupportedModel

REGISTRY = {
    "euler_maruyama": euler_maruyama,
    "leimkuhler_matthews": leimkuhler_matthews,
    "projected": projected,
}
CONSTRAINED = tuple(name for name, module in REGISTRY.items() if module.CONSTRAINED)  # read from the declarations

__all__ = ["CONSTRAINED", "Hyperparameters", "Info", "Integrator", "REGISTRY", "UnsupportedModel"]
