"""Large host buffers handed back to the system when freed (glibc), so a run's peak RSS is its live data.

glibc's malloc serves a request below its mmap threshold from a heap arena, and raises that threshold
(up to 32 MB) after each large free. XLA:CPU allocates every compiled call's temporaries anew, from
several threads' arenas, so the per-chain arrays of successive calls (the initial state, each chunk,
the χ quantiles, the host's reductions) pile up in arenas instead of being reused or returned: on u·v
the peak RSS was 146 B per chain, 116 B with the threshold fixed at 256 kB
(``scripts/memory_per_chain.py``, docs/engineering.md "Memory"). ``mallopt(M_MMAP_THRESHOLD, …)``
fixes the threshold and turns its adjustment off; buffers above it are mapped and unmapped, which no
number depends on. Linux with glibc only; left alone where MALLOC_MMAP_THRESHOLD_ is set.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
THRESHOLD = 256 * 1024


def release_large_buffers() -> bool:
    """Fix glibc's mmap threshold at THRESHOLD bytes; whether it was set."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD))
