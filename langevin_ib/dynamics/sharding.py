"""The chain axis split over every local device: one mesh axis, ``chains``, and nothing else.

Chains never interact, so the integrator runs without communication; only the histograms, which
are replicated, are summed across devices at each observation. On a CPU-only machine JAX exposes
one device unless asked; ``use_all_cpu_cores`` asks for one CPU device per core, which is how the
engine uses more than one core (XLA runs each CPU device's fused loops on one thread).
"""

from __future__ import annotations

import os
import warnings

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def use_all_cpu_cores() -> None:
    """One CPU device per core, unless XLA_FLAGS already fixes the count. Call before any JAX computation."""
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)
    except RuntimeError:  # JAX already ran something in this process: keep its devices
        warnings.warn("JAX was initialised before langevin_ib could ask for one CPU device per core; "
                      f"running on {jax.local_device_count()} device(s)", stacklevel=2)


def chain_shardings(chains: int) -> tuple[NamedSharding, NamedSharding]:
    """(split over chains, replicated) on the most local devices whose count divides ``chains``."""
    devices = jax.local_devices()
    count = max(d for d in range(1, len(devices) + 1) if chains % d == 0)
    mesh = Mesh(devices[:count], ("chains",))
    return NamedSharding(mesh, PartitionSpec("chains")), NamedSharding(mesh, PartitionSpec())
