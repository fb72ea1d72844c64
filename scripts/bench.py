"""Throughput of the u·v Langevin step as configs run it: this engine (each integrator and noise) vs
PyTorch loops doing the same observation work, in one process, interleaved, at thin 1 and thin 10.

Same model (θ = u·v, L = ½(uv − 1)², T = 0.05, η = 1e-3, float32), same chain count. The engine
runs as a measured run does (``dynamics.grid.simulate_grid``): one JAX CPU device per core with the
chains sharded over them, and every ``thin`` steps the divergence check (|θ|_∞ ≤ 1e3 and finite, a
failed chain rolled back and frozen), θ histogrammed (60 bins, 32 chain groups, first and second half
of the window) and the per-chain Σθ, Σθ² and observation count accumulated. The shipped configs
observe every 10 steps (``run.thin: 10``). The PyTorch loops draw Gaussian noise; "+observe" does the
engine's work at each observation (the same check with its rollback, a scatter of θ into the same
bins × groups × halves, the per-chain sums); the plain loop only steps. Each PyTorch loop runs on
1 thread and on one per core, and the faster is the reference ("pytorch loop", "pytorch loop +observe":
on a loaded machine two threads can stall on each other at every small op).

What is timed. Engine, "steady" (the figure of the tables and targets): the run's calls after its
first, from the end of the first call to the end of the last (the first call is the probe of one
block that sizes the others, and holds the compile); so the setup (initial state, placing the keys),
the probe and the end-of-run reduction are left out, which a long run amortises. Engine, "whole run":
``RunResult.run_seconds`` (everything but the compile), in the JSON. PyTorch: the whole loop, from
after its allocations to its end. Each repeat runs every variant once, in turn, so load on a shared
machine hits all alike; the medians are printed with the ratios to the PyTorch loops, then each CPU
target of issues 24 and 33 with its measured ratio: the median over repeats of the ratio within a
repeat (both variants timed seconds apart), its range over the repeats, and "met" or the distance
(``--json`` for a machine-readable copy).

    python scripts/bench.py --chains 4096 65536 --thin 1 10 --steps 5000 --repeats 3 --json bench.json

``--sgd`` adds the minibatch-SGD benchmark of issue 22 (scripts/bench_sgd.py) with the same steps and repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

TEMPERATURE, STEP, TARGET, BINS, GROUPS, BOUND = 0.05, 1e-3, 1.0, 60, 32, 1.0e3
LOW, HIGH = 0.0, 2.0  # θ's histogram range
VARIANTS = (("euler_maruyama", "gaussian"), ("euler_maruyama", "two_point"), ("euler_maruyama", "three_point"),
            ("leimkuhler_matthews", "gaussian"), ("leimkuhler_matthews", "three_point"))
REFERENCE = "pytorch loop +observe"


class Clock:
    """A stand-in for simulate_grid's progress bar: the time and the steps of each call's end."""

    disable = True  # grid.exclude leaves it alone

    def __init__(self):
        self.marks: list[tuple[float, int]] = []

    def update(self, steps: int) -> None:
        self.marks.append((time.perf_counter(), steps))


def engine(integrator: str, noise: str):
    """A function (chains, steps, thin) -> {"steady", "whole run"} chain-steps/s of the engine's measured
    run, compile excluded (module docstring); "steady" is None where the run was one call."""
    from langevin_ib.dynamics import integrators
    from langevin_ib.base import Binning
    from langevin_ib.dynamics.grid import simulate_grid
    from langevin_ib.dynamics.kernel import RunSizes
    from langevin_ib.models import uv

    model = uv.build({"target": TARGET, "copies": 1, "init_u": 1.0, "init_v": 1.0, "init_noise": 0.0, "label_noise": 0.0})
    built = integrators.build(integrator, model, noise=noise)
    hyperparameters = integrators.Hyperparameters(*(np.asarray([h]) for h in (TEMPERATURE, STEP, 0.0)))

    def run(chains: int, steps: int, thin: int) -> dict:
        sizes = RunSizes(chains, steps, thin=thin, chunk_steps=steps, chain_groups=GROUPS, divergence_bound=BOUND)
        clock = Clock()
        (result,), _ = simulate_grid(model, built, hyperparameters, sizes, binnings={"theta": Binning(LOW, HIGH, BINS)},
                                     chunk_statistics={}, bar=clock)
        (start, _), *later = clock.marks
        steady = chains * sum(n for _, n in later) / (later[-1][0] - start) if later else None
        return {"steady": steady, "whole run": result.chain_steps / result.run_seconds}

    return run


def torch_loop(observe: bool, threads: int):
    """A function (chains, steps, thin) -> chain-steps/s of a PyTorch Euler–Maruyama loop on ``threads``
    intra-op threads; with ``observe``, every ``thin`` steps the engine's observation work (see the module
    docstring)."""

    def run(chains: int, steps: int, thin: int) -> float:
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        u, v = torch.ones(chains), torch.ones(chains)
        scale, width = (2 * TEMPERATURE * STEP) ** 0.5, BINS + 2
        group = torch.arange(chains) % GROUPS
        cells = 2 * GROUPS * width  # (half, group, bin); a failed chain counts in the extra cell, dropped
        counts = torch.zeros(cells, dtype=torch.int64)
        sums, observed = torch.zeros(2, chains), torch.zeros(chains, dtype=torch.int64)
        diverged, half = torch.zeros(chains, dtype=torch.bool), steps // thin // 2
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(steps // thin):
                u_checked, v_checked = u, v
                for _ in range(thin):
                    residual = u * v - TARGET
                    noise = torch.randn(2, chains)
                    u, v = u - STEP * residual * v + scale * noise[0], v - STEP * residual * u + scale * noise[1]
                if not observe:
                    continue
                accept = ~diverged & (torch.maximum(u.abs(), v.abs()) <= BOUND)  # NaN fails the comparison
                if not bool(accept.all()):  # roll back and freeze the failed chains, as the engine's check
                    u, v = torch.where(accept, u, u_checked), torch.where(accept, v, v_checked)
                diverged, alive = ~accept, accept.to(torch.int64)
                theta = u * v
                index = torch.clamp(torch.floor((theta - LOW) * (BINS / (HIGH - LOW))), -1, BINS).long() + 1
                cell = ((observed >= half).long() * GROUPS + group) * width + index
                counts += torch.bincount(torch.where(accept, cell, cells), minlength=cells + 1)[:cells]
                x = torch.where(accept, theta, 0.0)
                sums += torch.stack([x, x * x])
                observed += alive
        return chains * steps / (time.perf_counter() - start)

    return run


# (name, chains, thin, numerator, denominator, target): the CPU targets of issues 24 and 33; the denominators are
# the fair comparison (a PyTorch loop with the engine's observation work) and EM with the same noise
TARGETS = (
    ("EM two-point ≥ 10× PyTorch+observe", 65536, 10, "engine euler_maruyama two_point", REFERENCE, 10.0),
    ("EM Gaussian ≥ 1.2× PyTorch+observe", 65536, 1, "engine euler_maruyama gaussian", REFERENCE, 1.2),
    ("EM Gaussian ≥ 1.0× PyTorch+observe", 4096, 1, "engine euler_maruyama gaussian", REFERENCE, 1.0),
    *((f"LM ≥ 0.95× EM, {noise}", chains, thin, f"engine leimkuhler_matthews {noise}",
       f"engine euler_maruyama {noise}", 0.95)
      for noise in ("gaussian", "three_point") for chains in (4096, 65536) for thin in (1, 10)),
)
NOT_HERE = ("memory ≤ 3× state + accumulators: scripts/memory_per_chain.py (fresh processes, peak RSS)",
            "GPU ≥ 1e11 chain-steps/s at ≥ 1e7 chains, ≥ 50% of the bandwidth roofline: scripts/bench_gpu.py")


def verdicts(results: dict) -> list[dict]:
    """Each target of TARGETS whose chain count and thin were measured: the median over repeats of the ratio
    within a repeat, its range, the target, met or not (by the median)."""
    out = []
    for name, chains, thin, numerator, denominator, target in TARGETS:
        repeats = results.get(f"{chains} thin {thin}", {}).get("repeats", [])
        ratios = [r[numerator] / r[denominator] for r in repeats if r.get(numerator) and r.get(denominator)]
        if ratios:
            ratio = statistics.median(ratios)
            out.append({"target": name, "chains": chains, "thin": thin, "measured": ratio, "range": [min(ratios), max(ratios)],
                        "wanted": target, "met": ratio >= target})
    return out


def repeat(runners: dict, chains: int, steps: int, thin: int) -> tuple[dict, dict]:
    """Every variant once, in turn: (chain-steps/s, steady for the engine; the engine's whole-run rates), the
    PyTorch references the faster of their thread counts in this repeat."""
    rates, whole = {}, {}
    for name, fn in runners.items():
        rate = fn(chains, steps, thin)
        if isinstance(rate, dict):
            rates[name], whole[name] = rate["steady"], rate["whole run"]
        else:
            rates[name] = rate
    for loop in ("pytorch loop", REFERENCE):
        rates[loop] = max(rate for name, rate in rates.items() if name.startswith(f"{loop}, "))
    return rates, whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, nargs="+", default=[4096, 65536])
    parser.add_argument("--thin", type=int, nargs="+", default=[1, 10], help="observe every thin steps")
    parser.add_argument("--steps", type=int, default=5000, help="a multiple of every thin")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the medians and ratios here")
    parser.add_argument("--sgd", action="store_true", help="also time SGD on the ReLU teacher–student (bench_sgd.py)")
    args = parser.parse_args()
    if any(args.steps % thin for thin in args.thin):
        parser.error(f"--steps: got {args.steps}; use a multiple of every --thin ({args.thin})")
    from langevin_ib.dynamics import sharding

    sharding.use_all_cpu_cores()  # as the CLI does: one JAX CPU device per core
    import jax
    import torch

    runners = {f"engine {i} {n}": engine(i, n) for i, n in VARIANTS}
    cores = os.cpu_count() or 1
    for threads in sorted({1, cores}):
        runners |= {f"pytorch loop, {threads} thread(s)": torch_loop(False, threads),
                    f"{REFERENCE}, {threads} thread(s)": torch_loop(True, threads)}
    report = {"machine": f"{platform.processor() or platform.machine()}, {jax.local_device_count()} JAX devices, "
                         f"{cores} cores, load average {os.getloadavg()[0]:.1f} at the start",
              "jax": jax.__version__, "torch": torch.__version__, "steps": args.steps, "repeats": args.repeats,
              "model": f"u·v, T={TEMPERATURE}, η={STEP}, float32, θ observed every thin steps", "results": {}}
    for chains in args.chains:
        for thin in args.thin:
            for name, fn in runners.items():  # warm up the PyTorch loops (each engine run compiles its own programs)
                if not name.startswith("engine"):
                    fn(chains, 5 * thin, thin)
            repeats = [repeat(runners, chains, args.steps, thin) for _ in range(args.repeats)]
            steady = [r for r, _ in repeats]
            if any(rate is None for r in steady for rate in r.values()):
                raise SystemExit(f"--steps: {args.steps} steps of {chains} chains ran in one call; use more steps")
            rates = {name: statistics.median(r[name] for r in steady) for name in steady[0]}
            print(f"\nu·v, {chains} chains × {args.steps} steps, thin {thin}, median of {args.repeats} interleaved repeats "
                  f"(engine: steady, after the probe call; load average {os.getloadavg()[0]:.1f} at the end)")
            print(f"  {'':<36} {'chain-steps/s':>13} {'min':>9} {'max':>9} {'/ pytorch':>10} {'/ +observe':>10}  "
                  f"{'LM / EM same noise':>18}")
            for name, rate in rates.items():
                spread = [r[name] for r in steady]
                em = name.replace("leimkuhler_matthews", "euler_maruyama")
                lm = f"{statistics.median(r[name] / r[em] for r in steady):18.2f}" if "leimkuhler" in name else ""
                print(f"  {name:<36} {rate:13.3e} {min(spread):9.2e} {max(spread):9.2e} {rate / rates['pytorch loop']:10.2f} "
                      f"{rate / rates[REFERENCE]:10.2f}  {lm}")
            report["results"][f"{chains} thin {thin}"] = {
                "chains": chains, "thin": thin, "rates": rates, "repeats": steady,
                "whole run": {name: statistics.median(w[name] for _, w in repeats) for name in repeats[0][1]},
                "load average at the end": os.getloadavg()[0]}
    report["targets"] = verdicts(report["results"])
    print("\nCPU targets of issues 24 and 33 (same process, interleaved; median of the ratios within a repeat):")
    for v in report["targets"]:
        state = "met" if v["met"] else f"not met: {v['wanted'] - v['measured']:.2f} short"
        print(f"  {v['target']:<36} at {v['chains']:>6} chains, thin {v['thin']:>2}: {v['measured']:6.2f} "
              f"(range {v['range'][0]:.2f}–{v['range'][1]:.2f}; target {v['wanted']}): {state}")
    for line in NOT_HERE:
        print(f"  not measured here: {line}")
    if args.sgd:  # issue 22: 4096 chains against a PyTorch bmm loop, target ≥ 5× (scripts/bench_sgd.py)
        import bench_sgd

        report["sgd"] = bench_sgd.measure(bench_sgd.CHAINS, args.steps, args.repeats)
        bench_sgd.report(report["sgd"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
