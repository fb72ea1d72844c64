"""langevin_ib: stochastic learning dynamics in symmetric models, and the implicit bias they induce."""

from langevin_ib.numerics.xla_cpu import disable_ynn_fusion

disable_ynn_fusion()

__version__ = "0.1.0"
