"""Checkpoints: a run killed with SIGKILL after a checkpoint and resumed ends bitwise equal to an
uninterrupted one; SIGTERM saves and stops with one line; other configs and corrupt files are refused."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from langevin_ib.dynamics import checkpoint

ROOT = Path(__file__).parents[2]
SIZES = ["run.burn_in=200", "run.steps=4000", "run.checkpoint_every_seconds=0", "run.checkpoint_every_chunks=1",
         "analysis.snapshot_every=5"]  # snapshot statistics on: their per-chain sums are in the carry


def command(config, out, *extra):
    return [sys.executable, "-m", "langevin_ib.cli", "run", str(config), "--out", str(out), "--quiet", *SIZES, *extra]


def start(config, out, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(command(config, out, *extra), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(process, out):
    path = out / checkpoint.FILE
    while not path.exists():
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)


def numbers(out):
    summary = json.loads((out / "summary.json").read_text())
    summary.pop("timing")
    with np.load(out / "histograms.npz") as data:
        return summary, {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return ROOT / "configs" / "uv_small.yaml"


@pytest.mark.slow
def test_killed_and_resumed_is_bitwise_the_uninterrupted_run(config, tmp_path):
    whole = start(config, tmp_path / "whole")
    killed = start(config, tmp_path / "killed")
    wait_for_checkpoint(killed, tmp_path / "killed")
    killed.kill()
    killed.wait()
    assert not (tmp_path / "killed" / "summary.json").exists()
    assert whole.wait() == 0, whole.communicate()
    resumed = start(config, tmp_path / "killed", "--resume")
    assert resumed.wait() == 0, resumed.communicate()
    (summary_a, arrays_a), (summary_b, arrays_b) = numbers(tmp_path / "whole"), numbers(tmp_path / "killed")
    assert summary_a == summary_b
    assert summary_a["stein"]["snapshots_per_chain"] > 0
    assert arrays_a.keys() == arrays_b.keys()
    for name in arrays_a:
        np.testing.assert_array_equal(arrays_a[name], arrays_b[name], err_msg=name)
    assert not (tmp_path / "killed" / checkpoint.FILE).exists()


@pytest.mark.slow
def test_sigterm_saves_and_stops_with_one_line_and_other_configs_and_corrupt_files_are_refused(config, tmp_path):
    out = tmp_path / "run"
    process = start(config, out)
    wait_for_checkpoint(process, out)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate()
    assert process.returncode == 143 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "--resume" in err
    other = start(config, out, "--resume", "dynamics.temperature=0.2", "run.seed=3")
    _, err = other.communicate()
    assert other.returncode == 2 and "dynamics.temperature" in err and "run.seed" in err, err
    path = out / checkpoint.FILE
    good = path.read_bytes()
    path.write_bytes(good[:len(good) // 2] + bytes(len(good) - len(good) // 2))
    corrupt = start(config, out, "--resume")
    _, err = corrupt.communicate()
    assert corrupt.returncode == 2 and "corrupt" in err and err.count("\n") == 1, err
    assert path.exists()
