"""Throughput of the u·v Langevin step: this engine vs vectorised NumPy and PyTorch loops.

Same model (θ = u·v, L = ½(uv − 1)², T = 0.1, η = 0.01, Euler–Maruyama), same chain count, one
process. The engine runs as the CLI does: one JAX CPU device per core with the chains sharded over
them, a divergence check every 10 steps; PyTorch uses its default threads (one per core), NumPy one
core. Reports chain-steps per second, the median of --repeats runs, and the ratios.

    python scripts/bench.py --chains 100000 --steps 500
"""

import argparse
import statistics
import time

import numpy as np

TEMPERATURE, STEP, TARGET = 0.1, 0.01, 1.0


def engine(chains: int, steps: int) -> float:
    from langevin_ib.experiment import config, job
    raw = {"model": {"name": "uv", "target": TARGET},
           "dynamics": {"integrator": "euler_maruyama", "temperature": TEMPERATURE, "step_size": STEP},
           "run": {"chains": chains, "burn_in": steps, "steps": 10, "thin": 10, "chunk_steps": steps, "chain_groups": 1},
           "observables": {"theta": {"min": 0.0, "max": 2.0, "bins": 10}}}
    result = job.execute(config.resolve(raw), progress=False)
    return result.chain_steps / result.run_seconds


def numpy_loop(chains: int, steps: int) -> float:
    rng = np.random.default_rng(0)
    u, v = np.ones(chains, np.float32), np.ones(chains, np.float32)
    scale = np.float32(np.sqrt(2 * TEMPERATURE * STEP))
    start = time.perf_counter()
    for _ in range(steps):
        residual = u * v - TARGET
        noise = rng.standard_normal((2, chains), np.float32)
        u, v = u - STEP * residual * v + scale * noise[0], v - STEP * residual * u + scale * noise[1]
    return chains * steps / (time.perf_counter() - start)


def torch_loop(chains: int, steps: int) -> float:
    import torch

    torch.manual_seed(0)
    u, v = torch.ones(chains), torch.ones(chains)
    scale = (2 * TEMPERATURE * STEP) ** 0.5
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(steps):
            residual = u * v - TARGET
            noise = torch.randn(2, chains)
            u, v = u - STEP * residual * v + scale * noise[0], v - STEP * residual * u + scale * noise[1]
    return chains * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from langevin_ib.dynamics import sharding

    sharding.use_all_cpu_cores()  # as the CLI does: one JAX CPU device per core
    runners = {"langevin_ib (JAX)": engine, "numpy loop": numpy_loop}
    try:
        import torch  # noqa: F401

        runners["pytorch loop"] = torch_loop
    except ImportError:
        print("pytorch not installed: skipping its loop (pip install torch)")
    rates = {name: statistics.median(fn(args.chains, args.steps) for _ in range(args.repeats))
             for name, fn in runners.items()}
    ours = rates["langevin_ib (JAX)"]
    print(f"u·v Euler–Maruyama, {args.chains} chains × {args.steps} steps, median of {args.repeats}")
    for name, rate in rates.items():
        print(f"  {name:<20} {rate:.3e} chain-steps/s   engine / this = {ours / rate:.2f}")


if __name__ == "__main__":
    main()
