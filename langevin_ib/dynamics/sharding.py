"""The chain axis split over every device of every process: one mesh axis, ``chains``, and nothing else.

Chains never interact, so the integrator runs without communication; only the histograms, which
are replicated, are summed across devices at each observation. On a CPU-only machine JAX exposes
one device unless asked; ``use_all_cpu_cores`` asks for one CPU device per core, which is how the
engine uses more than one core (XLA runs each CPU device's fused loops on one thread).

Several processes (``jax.distributed``, docs/sweeps.md "Multi-node runs") share one mesh over
``jax.devices()``: each process steps the chains of its own devices, the host reads gather the
global arrays (:func:`gathered`) and host decisions that must be taken alike on every process
(when to save, how long a call is) are agreed (:func:`agreed_max`).
"""

from __future__ import annotations

import os
import warnings

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from langevin_ib.base import ConfigError


def use_all_cpu_cores() -> None:
    """One CPU device per core, unless XLA_FLAGS already fixes the count. Call before any JAX computation."""
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)
    except RuntimeError:  # JAX already ran something in this process: keep its devices
        warnings.warn("JAX was initialised before langevin_ib could ask for one CPU device per core; "
                      f"running on {jax.local_device_count()} device(s)", stacklevel=2)


def initialize_distributed() -> None:
    """Join the processes of a multi-process run (``--distributed``): ``jax.distributed.initialize``
    with the coordinator, process count and id of SLURM's environment (srun), or of
    JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID; CPU collectives through Gloo.
    A ConfigError (one line) when none is found. Call before any JAX computation."""
    if jax.distributed.is_initialized():
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    counts = {}
    for name, key in (("num_processes", "JAX_NUM_PROCESSES"), ("process_id", "JAX_PROCESS_ID")):
        if os.environ.get(key):
            try:
                counts[name] = int(os.environ[key])
            except ValueError:
                raise ConfigError(f"--distributed: {key}={os.environ[key]!r}; expected an integer") from None
    try:
        jax.distributed.initialize(**counts)
    except (ValueError, TypeError, RuntimeError) as err:
        raise ConfigError(f"--distributed: no coordinator found ({' '.join(str(err).split())}); launch under "
                          "SLURM (srun) or set JAX_COORDINATOR_ADDRESS=host:port, JAX_NUM_PROCESSES and "
                          "JAX_PROCESS_ID") from None


def check_chains(chains: int) -> None:
    """A ConfigError unless the devices of a multi-process run divide ``chains`` (each process steps
    an equal slice); one process uses the most devices that divide them."""
    if jax.process_count() > 1 and chains % jax.device_count():
        raise ConfigError(f"run.chains={chains}: not divisible by the {jax.device_count()} devices of the "
                          f"{jax.process_count()} processes; expected a multiple of {jax.device_count()}")


def chain_shardings(chains: int) -> tuple[NamedSharding, NamedSharding]:
    """(split over chains, replicated) on every device of a multi-process run, or on the most local
    devices whose count divides ``chains``."""
    devices = jax.devices()
    count = len(devices) if jax.process_count() > 1 else max(
        d for d in range(1, len(devices) + 1) if chains % d == 0)
    mesh = Mesh(np.asarray(devices[:count]), ("chains",))
    return NamedSharding(mesh, PartitionSpec("chains")), NamedSharding(mesh, PartitionSpec())


def gathered(tree):
    """``tree`` with every array whole on every process (host numpy arrays after a multi-process
    allgather; unchanged in one process)."""
    if jax.process_count() == 1:
        return tree
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def agreed_max(values):
    """The element-wise maximum of ``values`` (host numbers) over the processes."""
    if jax.process_count() == 1:
        return np.asarray(values)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(np.asarray(values))).max(axis=0)
