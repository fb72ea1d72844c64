"""Multi-process runs (docs/sweeps.md, "Multi-node runs").

A launcher that initialises jax.distributed itself, on its single-process path: a run launched
after ``jax.distributed.initialize(..., num_processes=1, process_id=0)`` writes bitwise the histograms
of the same run launched plainly (u·v, 64 chains × 300 steps, one fresh process each). The χ trace's
mean over chains is a float32 all-reduce across the devices, done by another collective (Gloo) under
jax.distributed: it agrees within the summation bound n·eps·max|χ| (n = 64 chains, |χ| ≤ 1000, the
χ histogram's range, checked by its empty under/overflow).

``--distributed`` with two processes on localhost: see the tests below."""

import json
import os
import signal
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


# Two processes on localhost, one CPU device each, CPU collectives through Gloo (``--distributed``),
# against one process with two CPU devices: the same mesh of two devices, so the same programs and the
# same numbers; every histograms.npz array and every summary number but the timings must be equal bitwise.
SMALL = ["run", str(ROOT / "configs" / "uv_small.yaml"), "--quiet", "run.chains=16", "run.burn_in=20", "run.steps=40",
         "run.chunk_steps=20", "run.chain_groups=4"]
TIMEOUT = 300  # seconds per process: a collective that waits for a dead peer must not hang the suite


def launch(args: list[str], processes: int, port: int | None = None) -> list[subprocess.Popen]:
    """``langevin-ib ARGS`` as one process with two CPU devices, or as ``processes`` joined processes with one."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    if processes == 1:
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        return [subprocess.Popen([sys.executable, "-m", "langevin_ib.cli", *args], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)]
    port = port or free_port()
    return [subprocess.Popen([sys.executable, "-m", "langevin_ib.cli", *args, "--distributed"], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env={**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=1",
                                  "JAX_COORDINATOR_ADDRESS": f"localhost:{port}", "JAX_NUM_PROCESSES": str(processes),
                                  "JAX_PROCESS_ID": str(i)})
            for i in range(processes)]


def finished(launched: list[subprocess.Popen]) -> list[tuple[int, str]]:
    """(exit status, output) of each process."""
    logs = [p.communicate(timeout=TIMEOUT)[0] for p in launched]
    return [(p.returncode, log) for p, log in zip(launched, logs)]


def assert_same_outputs(a: Path, b: Path) -> None:
    with np.load(a / "histograms.npz") as x, np.load(b / "histograms.npz") as y:
        assert x.files == y.files
        for name in x.files:
            assert x[name].tobytes() == y[name].tobytes(), name
    summaries = [json.loads((folder / "summary.json").read_text()) for folder in (a, b)]
    for summary in summaries:
        summary.pop("timing")
    assert summaries[0] == summaries[1]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "run"
    [(code, log)] = finished(launch([*SMALL, "--out", str(out)], 1))
    assert code == 0, log[-2000:]
    return out


@pytest.mark.slow
def test_two_processes_write_bitwise_what_one_process_with_two_devices_writes(one_process, tmp_path):
    out = tmp_path / "two"
    for code, log in finished(launch([*SMALL, "--out", str(out)], 2)):
        assert code == 0, log[-2000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in one_process.iterdir())
    assert_same_outputs(one_process, out)


@pytest.mark.slow
def test_a_signal_to_one_process_stops_both_and_resume_continues_bitwise(one_process, tmp_path):
    out = tmp_path / "two"
    launched = launch([*SMALL, "--out", str(out)], 2)
    for line in launched[1].stdout:  # the run's line comes once its signal handlers are set, before the compile
        if line.startswith("run:"):
            launched[1].send_signal(signal.SIGTERM)
            break
    stopped = finished(launched)
    assert [code for code, _ in stopped] == [143, 143], [log[-1000:] for _, log in stopped]
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.p0of2.npz", "checkpoint.p1of2.npz"]
    [(code, log)] = finished(launch([*SMALL, "--out", str(out), "--resume"], 1))
    assert code == 2 and "saved by another number of processes" in log, log[-1000:]
    resumed = finished(launch([*SMALL, "--out", str(out), "--resume"], 2))
    assert [code for code, _ in resumed] == [0, 0], [log[-1000:] for _, log in resumed]
    assert "resume: continuing from" in resumed[0][1]
    assert_same_outputs(one_process, out)


def test_distributed_without_a_coordinator_is_one_line_exit_2():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COORDINATOR", "SLURM_", "OMPI_"))}
    done = subprocess.run([sys.executable, "-m", "langevin_ib.cli", *SMALL, "--distributed"], timeout=TIMEOUT,
                          env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert "--distributed: no coordinator" in done.stderr


@pytest.mark.slow  # two processes joining: about 10 s, more on a loaded machine
def test_chains_that_the_processes_do_not_divide_are_one_line_exit_2(tmp_path):
    for code, log in finished(launch([*SMALL, "run.chains=15", "--out", str(tmp_path / "odd")], 2)):
        assert code == 2, log[-2000:]
        assert "run.chains=15: not divisible by the 2 devices of the 2 processes" in log
    assert not (tmp_path / "odd").exists()
