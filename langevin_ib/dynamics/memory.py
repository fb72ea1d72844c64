"""A run's peak memory, estimated from shapes alone (``jax.eval_shape``: nothing is compiled or
allocated), and the memory the machine has for it.

The terms: the chain state (model parameters and the integrator's state; a checked block holds the
state, the proposal and the kept state at once, so three copies), the histograms (groups × bins of
every observable and the joint histogram), the per-chain moments and observation counts, one
observation of every chain (with its bin indices), the per-chain sums of the snapshot statistics,
and the host's post-processing (float64 copies of the per-chain statistics and of the histograms).
This one model sizes a single run and every grid point of a sweep or batch; a grid whose points do
not fit at once runs in passes (:func:`passes`).
"""

from __future__ import annotations

import math
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from langevin_ib.dynamics import kernel as kernel_lib
from langevin_ib.base import Binning
from langevin_ib.dynamics.integrators.base import Hyperparameters, Integrator
from langevin_ib.models.base import Model

STATE_COPIES = 3  # state, proposal and kept state inside one checked block
INT_BYTES, HOST_BYTES = 4, 8  # int32 counts; float64 on the host
MEMORY_ENV = "LANGEVIN_IB_MEMORY_BYTES"  # overrides the memory available (tests, shared machines)


class Estimate(NamedTuple):
    """Estimated peak bytes of each part of a run."""

    state: int
    histograms: int
    moments: int
    observations: int
    statistics: int
    post_processing: int

    @property
    def total(self) -> int:
        return sum(self)

    def describe(self) -> str:
        parts = ", ".join(f"{name.replace('_', '-')} {size(getattr(self, name))}" for name in self._fields)
        return f"{size(self.total)} ({parts})"


def size(nbytes: float) -> str:
    """e.g. 1.5 GB (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB"):
        if abs(nbytes) < 1000 or unit == "EB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.3g} {unit}"
        nbytes /= 1000
    raise AssertionError


def _bytes(tree: Any) -> int:
    return sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def per_chain(model: Model, integrator: Integrator, hyperparameters: Hyperparameters) -> tuple[int, dict]:
    """(bytes of one chain's integrator state, name -> (m,) shape-dtype of one chain's observations)."""
    key = jax.random.key(0)
    params = jax.eval_shape(lambda k: jax.tree.map(lambda x: x[None], model.init(k)), key)
    state = jax.eval_shape(lambda k, p: integrator.init(k, p, hyperparameters), key, params)
    observed = jax.eval_shape(lambda p: jax.vmap(model.observe)(p), params)
    return _bytes(state), {name: jax.ShapeDtypeStruct(o.shape[1:], o.dtype) for name, o in observed.items()}


def estimate(model: Model, integrator: Integrator, hyperparameters: Hyperparameters, chains: int, groups: int,
             binnings: dict[str, Binning], statistic_width: int) -> Estimate:
    """The peak bytes of ``chains`` chains histogrammed into ``binnings`` over ``groups`` groups (with
    the joint (quotient, χ) histogram when both are binned), with ``statistic_width`` snapshot
    statistics per chain."""
    state_bytes, observed = per_chain(model, integrator, hyperparameters)
    joint = kernel_lib.joint_axes(model, binnings)
    dtype = jnp.dtype(next(iter(observed.values())).dtype).itemsize if observed else 4
    copies = {name: math.prod(observed[name].shape) if name in observed else 1 for name in binnings}
    cells = sum(groups * (b.bins + 2) for b in binnings.values())
    if joint is not None:
        cells += groups * binnings[joint[0]].bins * binnings[joint[1]].bins
    sums = chains * sum(4 * m for m in copies.values())  # Σx, Σx² and their index-weighted twins (the trend)
    return Estimate(
        state=chains * (STATE_COPIES * state_bytes + INT_BYTES),
        histograms=2 * cells * (2 * INT_BYTES + HOST_BYTES),  # two halves; a scatter-add may copy them; float64 on the host
        moments=sums * (dtype + HOST_BYTES) + chains * INT_BYTES,
        observations=chains * sum(copies.values()) * (dtype + 2 * INT_BYTES),  # values, bin index, group
        statistics=chains * statistic_width * dtype,
        post_processing=(chains * statistic_width + cells) * HOST_BYTES,  # float64 copies in the tests
    )


def passes(points: int, per_point: int, free: int | None) -> int:
    """Passes that run ``points`` grid points of ``per_point`` estimated bytes each within ``free``
    bytes, as many points per pass as fit (one pass where ``free`` is unknown); 0 where not even one
    point fits."""
    if free is None:
        return 1
    per_pass = free // max(per_point, 1)
    return math.ceil(points / per_pass) if per_pass else 0


def available() -> tuple[int | None, str]:
    """(bytes free for a run, where the figure comes from): $LANGEVIN_IB_MEMORY_BYTES when set, else
    the accelerator's free memory when JAX reports it, else the host's MemAvailable (or free physical
    pages); None where none is known."""
    if MEMORY_ENV in os.environ:
        return int(float(os.environ[MEMORY_ENV])), f"${MEMORY_ENV}"
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" and hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return stats["bytes_limit"] - stats.get("bytes_in_use", 0), f"{device.platform} device memory"
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "host memory (MemAvailable)"
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "host memory (free pages)"
    except (ValueError, OSError, AttributeError):
        return None, "unknown"
