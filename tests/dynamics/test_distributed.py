"""The multi-host recipe of docs/sweeps.md ("Multi-host runs") on its single-process path: a run launched
after ``jax.distributed.initialize(..., num_processes=1, process_id=0)`` writes bitwise the histograms
of the same run launched plainly (u·v, 64 chains × 300 steps, one fresh process each). The χ trace's
mean over chains is a float32 all-reduce across the devices, done by another collective (Gloo) under
jax.distributed: it agrees within the summation bound n·eps·max|χ| (n = 64 chains, |χ| ≤ 1000, the
χ histogram's range, checked by its empty under/overflow)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]
CHAINS = 64
ARGS = ["run", str(ROOT / "configs" / "uv_small.yaml"), "--quiet", f"run.chains={CHAINS}", "run.burn_in=100", "run.steps=200",
        "analysis.snapshot_every=0", "observables.chi.min=-1000", "observables.chi.max=1000"]
LAUNCHER = """
import sys
import langevin_ib  # first: it sets XLA's flags
import jax
jax.distributed.initialize(coordinator_address=sys.argv[1], num_processes=1, process_id=0)
from langevin_ib import cli
assert jax.process_count() == 1
sys.exit(cli.main(sys.argv[2:]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_run_after_distributed_initialize_is_bitwise_the_plain_run(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    plain = [sys.executable, "-m", "langevin_ib.cli", *ARGS, "--out", str(tmp_path / "plain")]
    launched = [sys.executable, "-c", LAUNCHER, f"localhost:{free_port()}", *ARGS, "--out", str(tmp_path / "launched")]
    for command in (plain, launched):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    with np.load(tmp_path / "plain" / "histograms.npz") as a, np.load(tmp_path / "launched" / "histograms.npz") as b:
        assert a.files == b.files
        for name in a.files:
            if name != "chi_trace_mean":
                np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        assert a["chi_underflow"].sum() == a["chi_overflow"].sum() == 0
        bound = CHAINS * np.finfo(np.float32).eps * np.abs(a["chi_edges"]).max()
        np.testing.assert_allclose(a["chi_trace_mean"], b["chi_trace_mean"], rtol=0, atol=bound)
