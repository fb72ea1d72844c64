"""scripts/bench_gpu.py: one line and exit 0 without a GPU; its measuring code runs (--cpu)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_gpu.py"), *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_without_a_gpu_it_says_so_in_one_line():
    done = _run()
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and "no GPU" in done.stdout


@pytest.mark.slow  # a fresh process compiling both workloads: 10 CPU-s
def test_both_workloads_measure_on_the_cpu(tmp_path):
    out = tmp_path / "bench.json"
    done = _run("--cpu", "--seconds", "0.05", "--fuse", "2", "--json", str(out))
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())["results"]
    assert [r["workload"] for r in results] == ["uv", "relu_sgd"]
    assert [r["state_bytes_per_chain"] for r in results] == [8, 4 * (16 * 3 + 16)]
    assert all(r["chain_steps_per_s"] > 0 and r["bytes_needed"] > 0 for r in results)
