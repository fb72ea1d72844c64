"""Integrators, one module each (protocol in :mod:`.base`): ``REGISTRY[name].build(model) -> Integrator``;
each module declares ``WEAK_ORDER`` and ``CONSTRAINED``. Those that can draw discrete noise declare
``NOISES`` and take ``build(model, noise=...)``; the stochastic-gradient ones (gd, sgd, sgld) declare
``Settings`` (their static batch size, sampling and optimizer) and take ``build(model, settings)``.
:func:`build` passes each exactly what its module declares."""

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


def build(name: str, model, settings=None, *, noise: str = "gaussian") -> Integrator:
    """``REGISTRY[name].build(model)``, with ``settings`` for the integrators that declare ``Settings``
    and ``noise=`` for those that declare ``NOISES``.

    Raises:
      UnsupportedModel: the integrator cannot run the model, or draws only Gaussian noise and
        ``noise`` is another law.
    """
    module = REGISTRY[name]
    supported = getattr(module, "NOISES", ("gaussian",))
    if noise not in supported:
        raise UnsupportedModel(f"it draws only {list(supported)} noise, not dynamics.noise={noise!r}")
    options = {} if noise == "gaussian" else {"noise": noise}
    if takes_settings(name):
        return module.build(model, settings or module.Settings(), **options)
    return module.build(model, **options)


__all__ = ["CONSTRAINED", "Hyperparameters", "Info", "Integrator", "REGISTRY", "UnsupportedModel", "build", "noisy",
           "takes_settings"]
