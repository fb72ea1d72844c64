"""langevin_ib: stochastic learning dynamics in symmetric models, and the implicit bias they induce."""

__version__ = "0.1.0"
