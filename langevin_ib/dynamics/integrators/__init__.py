"""Integrators of overdamped Langevin dynamics, each a factory ``build(gradient, temperature, step_size)``;
``projected`` also takes the model's ``constraint`` χ (:data:`CONSTRAINED`)."""

from langevin_ib.dynamics.integrators import euler_maruyama, leimkuhler_matthews, projected
from langevin_ib.dynamics.integrators.base import Integrator

REGISTRY = {
    "euler_maruyama": euler_maruyama.build,
    "leimkuhler_matthews": leimkuhler_matthews.build,
    "projected": projected.build,
}
CONSTRAINED = ("projected",)

__all__ = ["CONSTRAINED", "Integrator", "REGISTRY"]
