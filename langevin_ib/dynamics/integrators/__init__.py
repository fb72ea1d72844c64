"""Integrators of overdamped Langevin dynamics, one module each (protocol in :mod:`.base`):
``REGISTRY[name].build(model) -> Integrator`` (or :func:`build` with a noise law); each module declares
``WEAK_ORDER`` and ``CONSTRAINED``, and those that can draw discrete noise ``NOISES``."""

from langevin_ib.dynamics.integrators import euler_maruyama, leimkuhler_matthews, projected
from langevin_ib.dynamics.integrators.base import Hyperparameters, Info, Integrator, UnsupportedModel

REGISTRY = {
    "euler_maruyama": euler_maruyama,
    "leimkuhler_matthews": leimkuhler_matthews,
    "projected": projected,
}
CONSTRAINED = tuple(name for name, module in REGISTRY.items() if module.CONSTRAINED)  # read from the declarations


def build(name: str, model, noise: str = "gaussian") -> Integrator:
    """``REGISTRY[name].build(model)``, with ``noise=`` passed to an integrator that declares ``NOISES``.

    Raises:
      UnsupportedModel: the integrator cannot run the model, or draws only Gaussian noise and
        ``noise`` is another law.
    """
    module = REGISTRY[name]
    if noise == "gaussian":
        return module.build(model)
    supported = getattr(module, "NOISES", ("gaussian",))
    if noise not in supported:
        raise UnsupportedModel(f"it draws only {list(supported)} noise, not dynamics.noise={noise!r}")
    return module.build(model, noise=noise)

__all__ = ["CONSTRAINED", "build", "Hyperparameters", "Info", "Integrator", "REGISTRY", "UnsupportedModel"]
