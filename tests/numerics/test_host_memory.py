"""glibc's mmap threshold fixed by the CLI (langevin_ib.numerics.host_memory): after a large free has
raised glibc's default threshold, a 1 MB buffer is still mapped (so it is unmapped when freed) with
the fixed threshold, and comes from the heap without it. Read from mallinfo2's hblkhd (bytes in
mapped blocks); each case runs in a fresh process."""

import ctypes
import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
import numpy as np
from langevin_ib.numerics import host_memory

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Mallinfo2
if sys.argv[1] == "fixed":
    assert host_memory.release_large_buffers()
a = np.ones(2**21); del a  # a 16 MB buffer freed: glibc's default threshold rises to 16 MB
before = libc.mallinfo2().hblkhd
b = np.ones(2**17)  # 1 MB
print((libc.mallinfo2().hblkhd - before) / 2**20)
"""


def mapped_mb(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


def has_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not (sys.platform.startswith("linux") and has_mallinfo2()), reason="glibc ≥ 2.33 only")
def test_fixed_threshold_maps_large_buffers():
    """The 1 MB buffer adds at least 1 MB of mapped blocks with the fixed threshold, none without."""
    assert mapped_mb("fixed") >= 1
    assert mapped_mb("default") == 0
