"""Integrators, one module each (protocol in :mod:`.base`): ``REGISTRY[name].build(model) -> Integrator``;
each module declares ``WEAK_ORDER`` and ``CONSTRAINED``. The stochastic-gradient ones (gd, sgd, sgld)
also declare ``Settings`` (their static batch size, sampling and optimizer) and take
``build(model, settings)``: :func:`build` passes settings to exactly the modules that declare them."""

from langevin_ib.dynamics.integrators import euler_maruyama, gd, leimkuhler_matthews, projected, sgd, sgld
from langevin_ib.dynamics.integrators.base import Hyperparameters, Info, Integrator, UnsupportedModel

REGISTRY = {
    "euler_maruyama": euler_maruyama,
    "leimkuhler_matthews": leimkuhler_matthews,
    "projected": projected,
    "gd": gd,
    "sgd": sgd,
    "sgld": sgld,
}
CONSTRAINED = tuple(name for name, module in REGISTRY.items() if module.CONSTRAINED)  # read from the declarations



def takes_settings(name: str) -> bool:
    """Whether integrator ``name`` declares static ``Settings`` (``build(model, settings)``)."""
    return hasattr(REGISTRY[name], "Settings")


def noisy(name: str) -> bool:
    """Whether integrator ``name`` adds temperature noise (Langevin ones and SGLD; not GD or SGD)."""
    return getattr(REGISTRY[name], "NOISE", True)


def build(name: str, model, settings=None) -> Integrator:
    """``REGISTRY[name].build(model)``, with ``settings`` for the integrators that declare them."""
    module = REGISTRY[name]
    return module.build(model, settings or module.Settings()) if takes_settings(name) else module.build(model)


__all__ = ["CONSTRAINED", "Hyperparameters", "Info", "Integrator", "REGISTRY", "UnsupportedModel", "build", "noisy",
           "takes_settings"]
