"""scripts/profile_config.py: one tiny run profiled, every phase printed as a column and in the JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # two tiny runs (with and without snapshot statistics) in a fresh process: ~15 s on 2 cores
def test_a_tiny_run_prints_every_phase():
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "profile_config.py"), str(ROOT / "configs" / "uv_small.yaml"),
                           "run.chains=32", "run.steps=100", "run.chunk_steps=50", "run.chain_groups=8",
                           "analysis.snapshot_every=2", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    header, rule, row, data = done.stdout.strip().splitlines()
    columns = [c.strip() for c in header.strip("|").split("|")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    profiled = json.loads(data)
    phases = ("startup", "compile", "stepping", "snapshot_statistics", "chunk_statistics", "analysis", "figures", "io",
              "other")
    assert columns == ["config", "chain-steps", "wall s", *(f"{p} s" for p in phases), "snapshot statistics by kind s",
                       "analysis by test s", "wall/(compile+stepping)", "load"]
    assert len(cells) == len(columns) and rule.count("---") == len(columns)
    assert set(profiled["phases"]) == set(phases)
    assert sum(profiled["phases"].values()) == pytest.approx(profiled["wall"])
    assert all(profiled["phases"][p] > 0 for p in ("startup", "compile", "stepping", "analysis", "figures"))
    # the plan of uv_small with snapshots: Stein and the level-set PIT, each timed alone
    assert set(profiled["snapshot_statistics_by_kind"]) == {"stein", "conditional"}
    assert profiled["snapshots_per_chain"] == 100 // 10 // 2
    assert profiled["analysis_by_test"]["stationarity"] > 0 and profiled["analysis_by_test"]["chi_drift"] == 0
    assert profiled["chain_steps"] == 32 * (100 + 100)
