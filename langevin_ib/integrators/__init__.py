"""Integrators of overdamped Langevin dynamics, each a factory ``build(gradient, temperature, step_size)``."""

from langevin_ib.integrators import euler_maruyama, leimkuhler_matthews
from langevin_ib.integrators.base import Integrator

REGISTRY = {
    "euler_maruyama": euler_maruyama.build,
    "leimkuhler_matthews": leimkuhler_matthews.build,
}

__all__ = ["Integrator", "REGISTRY"]
