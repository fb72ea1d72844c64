"""Wall clock of a 64-point T × η sweep of u·v as one program against 64 separate ``langevin-ib run`` processes.

Usage: PYTHONPATH=. python scripts/bench_sweep.py [--separate K] [--parallel J]
Runs the same points and sizes both ways; with K < 64 the separate runs are timed on the first K
points and scaled to 64 (said in the output). Snapshot statistics are off on both sides.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

CONFIG = Path(__file__).parents[1] / "configs" / "uv_small.yaml"
SIZES = ["run.chains=256", "run.burn_in=200", "run.steps=400", "run.thin=10", "run.chunk_steps=200"]  # steps: logspace η
TEMPERATURES = np.round(np.logspace(-1.5, -0.5, 8), 6)
STEPS = np.round(np.logspace(-3, -1.7, 8), 6)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "langevin_ib.cli", *args, "--quiet"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--separate", type=int, default=64, help="separate runs to time (scaled to 64)")
    parser.add_argument("--parallel", type=int, default=1, help="separate runs at once")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[1]),
                                                                        os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as tmp:
        config = CONFIG
        t0 = time.perf_counter()
        subprocess.run(cli("sweep", str(config), "--out", f"{tmp}/sweep",
                           "dynamics.temperature=" + ",".join(map(str, TEMPERATURES)),
                           "dynamics.step_size=" + ",".join(map(str, STEPS)), *SIZES), env=env, check=True,
                       stdout=subprocess.DEVNULL)
        sweep_seconds = time.perf_counter() - t0
        print(f"64-point sweep as one program: {sweep_seconds:.1f} s", flush=True)
        points = list(itertools.product(TEMPERATURES, STEPS))[:args.separate]

        def one(i_point):
            i, (t, eta) = i_point
            subprocess.run(cli("run", str(config), "--out", f"{tmp}/run{i}", f"dynamics.temperature={t}",
                               f"dynamics.step_size={eta}", *SIZES), env=env, check=True, stdout=subprocess.DEVNULL)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(one, enumerate(points)))
        separate_seconds = (time.perf_counter() - t0) * 64 / len(points)
    scaled = "" if len(points) == 64 else f" (timed {len(points)}, scaled to 64)"
    print(f"64-point sweep as one program: {sweep_seconds:.1f} s; 64 separate runs{scaled}: {separate_seconds:.1f} s "
          f"({args.parallel} at a time); ratio {separate_seconds / sweep_seconds:.1f}x")


if __name__ == "__main__":
    main()
