"""langevin_ib: stochastic learning dynamics in symmetric models, and the implicit bias they induce.

``import langevin_ib as lib; lib.run(config, overrides)`` and ``lib.sweep(config, grid)``
(:mod:`langevin_ib.api`); the API's names are imported on first use, so importing the package stays light.
"""

from langevin_ib.numerics.xla_cpu import disable_ynn_fusion

disable_ynn_fusion()

__version__ = "0.1.0"
__all__ = ["run", "sweep", "Result", "SweepResult", "Experiment", "ConfigError"]


def __getattr__(name: str):
    if name in __all__:
        from langevin_ib import api

        return getattr(api, name)
    raise AttributeError(f"module 'langevin_ib' has no attribute {name!r}")
