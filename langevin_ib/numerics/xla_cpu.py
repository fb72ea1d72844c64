"""A workaround for a miscompile of XLA:CPU, applied when langevin_ib is imported.

jaxlib 0.10.2 and 0.11 hand fused reductions on CPU to YNNPACK (``__ynn_fusion``), which returns
wrong sums for some vmapped reductions (jax-ml/jax#39103) and hangs on others (jax-ml/jax#39257).
A log-sum-exp over draws of a log-sum-exp, under ``jit(vmap)`` over four or more samples, comes out up
to 5 off in log with every intermediate array right (docs/engineering.md, "XLA:CPU miscompile"); the
upstream reproducer is 0.8% off (tests/numerics/test_xla_cpu.py).
``--xla_cpu_experimental_ynn_fusion_type=`` (empty) turns the offload off; XLA reads
XLA_FLAGS when it first starts a backend, so this must run before any JAX computation, and it
leaves alone a process whose XLA_FLAGS already name the flag. Older jaxlibs do not know the flag
(XLA aborts on unknown flags) and do not have the offload, so it is only added from 0.10.2 on.
"""

from __future__ import annotations

import os
import re
from importlib import metadata

FLAG = "--xla_cpu_experimental_ynn_fusion_type"
FIRST_AFFECTED = (0, 10, 2)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def disable_ynn_fusion() -> None:
    """Append ``FLAG=`` to XLA_FLAGS if jaxlib ≥ 0.10.2 and the user has not set it."""
    flags = os.environ.get("XLA_FLAGS", "")
    try:
        affected = _version(metadata.version("jaxlib")) >= FIRST_AFFECTED
    except metadata.PackageNotFoundError:
        return
    if affected and FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {FLAG}=".strip()
