"""Marginal peak memory per chain of a measured run: peak RSS (VmHWM) of ``job.execute`` in a fresh
process, minus that process's RSS once JAX has started, at two chain counts; the slope is the bytes
per chain, compared with what the state and the per-chain accumulators need (``bytes_needed``).

Each run is the config's, with no burn-in, thin 1, ``--steps`` steps in one chunk and no snapshot
tests, on one JAX CPU device per core with glibc's mmap threshold fixed (as the CLI runs;
``langevin_ib.numerics.host_memory``).

    python scripts/memory_per_chain.py configs/uv.yaml --chains 100000 1000000
    python scripts/memory_per_chain.py configs/relu.yaml --chains 10000 100000
    python scripts/memory_per_chain.py configs/uv.yaml dynamics.integrator=euler_maruyama dynamics.noise=two_point
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, sys
from langevin_ib.dynamics import sharding
from langevin_ib.numerics import host_memory
host_memory.release_large_buffers()  # as the CLI does
sharding.use_all_cpu_cores()
import jax, jax.numpy as jnp, numpy as np
from langevin_ib.experiment import config, job
from langevin_ib.dynamics import memory

def rss(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field + ":"))

experiment = config.load(sys.argv[1], sys.argv[2:])
_, model = job.prepare(experiment)
jax.block_until_ready(jnp.zeros(8) + 1)  # JAX and its devices started
base = rss("VmRSS")
result = job.execute(experiment, progress=False)
peak = rss("VmHWM")
state = sum(np.asarray(leaf).nbytes for leaf in jax.tree.leaves(result.final_state))
print(json.dumps({"base": base, "peak": peak, "state_bytes": state}))
"""


def measure(config: str, chains: int, steps: int, extra: list[str]) -> dict:
    overrides = [*extra, f"run.chains={chains}", "run.burn_in=0", "run.thin=1", f"run.steps={steps}",
                 f"run.chunk_steps={steps}", "analysis.snapshot_every=0"]
    out = subprocess.run([sys.executable, "-c", CHILD, config, *overrides], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bytes_needed(config: str, extra: list[str]) -> tuple[int, dict]:
    """Per chain: the integrator state + diverged_at, and the accumulators (observation count, Σx, Σx², Σk·x, Σk·x²)."""
    from langevin_ib.dynamics import memory
    from langevin_ib.experiment import config as config_lib, job

    experiment = config_lib.load(config, extra)
    with job.precision(experiment):  # the run's dtype (float64 needs x64, as the run enables it)
        _, model = job.prepare(experiment)
        integrator = job.build_integrator(experiment, model)
        state, observed = memory.per_chain(model, integrator, job.hyperparameters_of(experiment))
    sums = sum(4 * o.size * o.dtype.itemsize for name, o in observed.items() if name in experiment.observables)
    return state + 4 + 4 + sums, {"state": state + 4, "accumulators": 4 + sums}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*", help="section.key=value, as for langevin-ib run")
    parser.add_argument("--chains", type=int, nargs=2, default=[100_000, 1_000_000])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--json")
    args = parser.parse_args()
    small, large = (measure(args.config, n, args.steps, args.overrides) for n in args.chains)
    marginal = ((large["peak"] - large["base"]) - (small["peak"] - small["base"])) / (args.chains[1] - args.chains[0])
    needed, parts = bytes_needed(args.config, args.overrides)
    report = {"config": args.config, "overrides": args.overrides, "chains": args.chains, "runs": [small, large], "bytes_per_chain": marginal,
              "needed_per_chain": needed, "needed_parts": parts, "ratio": marginal / needed}
    print(f"{args.config}: peak above start {small['peak'] - small['base']:.3e} B at {args.chains[0]} chains, "
          f"{large['peak'] - large['base']:.3e} B at {args.chains[1]}: {marginal:.0f} B per chain against "
          f"{needed} B of state + accumulators ({parts}): {marginal / needed:.2f}× (target ≤ 3×)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
