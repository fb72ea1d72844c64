"""Integrators, one module each (protocol in :mod:`.base`): ``REGISTRY[name].build(model) -> Integrator``;
each module declares its :class:`~.base.IntegratorSpec` as ``SPEC`` (weak order, whether it is constrained,
the noises it draws, whether it adds thermal noise, its static settings). :func:`build` passes each
exactly what its spec declares: ``noise=`` to those that draw more than Gaussian noise, ``settings``
to the stochastic-gradient ones (gd, sgd, sgld)."""

from langevin_ib.dynamics.integrators import euler_maruyama, gd, leimkuhler_matthews, projected, sgd, sgld
from langevin_ib.dynamics.integrators.base import Hyperparameters, Info, Integrator, IntegratorSpec, UnsupportedModel

REGISTRY = {
    "euler_maruyama": euler_maruyama,
    "leimkuhler_matthews": leimkuhler_matthews,
    "projected": projected,
    "gd": gd,
    "sgd": sgd,
    "sgld": sgld,
}
SPECS: dict[str, IntegratorSpec] = {name: module.SPEC for name, module in REGISTRY.items()}
CONSTRAINED = tuple(name for name, spec in SPECS.items() if spec.constrained)  # read from the declarations


def takes_settings(name: str) -> bool:
    """Whether integrator ``name`` declares static settings (``build(model, settings)``)."""
    return SPECS[name].settings is not None


def noisy(name: str) -> bool:
    """Whether integrator ``name`` adds temperature noise (Langevin ones and SGLD; not GD or SGD)."""
    return SPECS[name].thermal


def build(name: str, model, settings=None, *, noise: str = "gaussian") -> Integrator:
    """``REGISTRY[name].build(model)``, with ``settings`` for the integrators whose spec declares settings
    and ``noise=`` for those whose spec lists more than Gaussian noise.

    Raises:
      UnsupportedModel: the integrator cannot run the model, or draws only Gaussian noise and
        ``noise`` is another law.
    """
    module, spec = REGISTRY[name], SPECS[name]
    if noise not in spec.noises:
        raise UnsupportedModel(f"it draws only {list(spec.noises)} noise, not dynamics.noise={noise!r}")
    options = {} if noise == "gaussian" else {"noise": noise}
    if spec.settings is not None:
        return module.build(model, settings or spec.settings(), **options)
    return module.build(model, **options)


__all__ = ["CONSTRAINED", "Hyperparameters", "Info", "Integrator", "IntegratorSpec", "REGISTRY", "SPECS",
           "UnsupportedModel", "build", "noisy", "takes_settings"]
