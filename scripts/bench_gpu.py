"""Chain-steps per second on the local GPU, against its memory-bandwidth roofline (issue 34).

Two workloads, each as K fused steps per launch (a ``lax.scan`` of K steps, the state read and written
once per step, the noise and the minibatches generated on the device, never loaded):

- ``uv``: θ = u·v under Euler–Maruyama (``--noise``), 8 B of state per chain;
- ``relu_sgd``: the ReLU teacher–student of the paper's Fig. 2 (d = 3, 16 hidden, B = 8 fresh
  examples per step) under plain SGD, 256 B of state per chain.

For 10⁶, 10⁷ and 10⁸ chains it prints chain-steps/s, the bytes of state moved per chain-step and the
fraction of the device's peak bandwidth that implies (peak by device kind below, or ``--bandwidth``).
A size is run only when its compiled program (XLA's own memory analysis: arguments, outputs and
temporaries) fits in 90 % of the device's free memory; otherwise it says so with the estimate.
Without a GPU it says so in one line and exits 0; ``--cpu`` runs the same code at small sizes on the
CPU, so that the script itself is known to work (tests/scripts/test_bench_gpu.py).

    python scripts/bench_gpu.py [--workload uv relu_sgd] [--noise two_point] [--fuse 16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

PEAK_TB_S = {"H200": 4.8, "H100 SXM": 3.35, "H100 PCIe": 2.0, "H100": 3.35, "A100-SXM4-80GB": 2.04,
             "A100-SXM4-40GB": 1.56, "A100": 1.56, "L40S": 0.864, "L4": 0.3, "RTX 4090": 1.01, "V100": 0.9}
GPU_SIZES, CPU_SIZES = (10**6, 10**7, 10**8), (2**12,)
UV = {"target": 1.0, "copies": 1, "init_u": 1.0, "init_v": 1.0, "init_noise": 0.0, "label_noise": 0.0}
RELU = {"inputs": 3, "hidden": 16, "teacher_hidden": 2, "label_noise": 0.1, "fresh_data": True}
TEMPERATURE, UV_STEP, RELU_STEP, BATCH = 0.05, 1e-3, 0.02, 8


def peak_bandwidth(kind: str) -> float | None:
    """TB/s of the longest PEAK_TB_S key contained in the device kind, or None."""
    matches = [k for k in PEAK_TB_S if k.lower() in kind.lower()]
    return PEAK_TB_S[max(matches, key=len)] if matches else None


def workload(name: str, noise: str):
    """(integrator, hyperparameters, init(chains) -> params) of a workload."""
    import jax.numpy as jnp

    from langevin_ib import models
    from langevin_ib.dynamics import integrators
    from langevin_ib.models.fields import section

    if name == "uv":
        model = models.REGISTRY["uv"].build(section("model", UV, models.REGISTRY["uv"].FIELDS))
        integrator = integrators.build("euler_maruyama", model, noise=noise)
        hyper = integrators.Hyperparameters(jnp.float32(TEMPERATURE), jnp.float32(UV_STEP), jnp.float32(0.0))
    else:
        spec = models.REGISTRY["relu"]
        model = spec.build(section("model", RELU, spec.FIELDS))
        integrator = integrators.build("sgd", model, integrators.REGISTRY["sgd"].Settings(BATCH, "fresh"))
        hyper = integrators.Hyperparameters(jnp.float32(0.0), jnp.float32(RELU_STEP), jnp.float32(0.0))
    return model, integrator, hyper


def measure(name: str, chains: int, args, device, free: int | None) -> dict:
    """Compile the fused launch for ``chains``, check its memory, time it for about ``args.seconds``."""
    import jax
    import numpy as np

    model, integrator, hyper = workload(name, args.noise)
    params = jax.vmap(model.init)(jax.random.split(jax.random.key(0), chains))
    state_bytes = sum(np.dtype(x.dtype).itemsize * x.size for x in jax.tree.leaves(params)) // chains

    def launch(state, key, start):
        body = lambda s, k: (integrator.step(jax.random.fold_in(key, k), s, hyper)[0], None)
        return jax.lax.scan(body, state, start + jax.numpy.arange(args.fuse))[0]

    state = integrator.init(jax.random.key(1), params, hyper)
    compiled = jax.jit(launch, donate_argnums=0).lower(state, jax.random.key(2), 0).compile()
    analysis = compiled.memory_analysis()
    need = (analysis.argument_size_in_bytes + analysis.output_size_in_bytes + analysis.temp_size_in_bytes
            if analysis is not None else None)
    record = {"workload": name, "chains": chains, "state_bytes_per_chain": state_bytes, "bytes_needed": need}
    if need is not None and free is not None and need > 0.9 * free:
        print(f"  {name} {chains:.0e} chains: skipped, needs {need / 2**30:.1f} GiB of {free / 2**30:.1f} free")
        return record
    key = jax.random.key(2)
    state = jax.block_until_ready(compiled(state, key, 0))
    launches, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds or launches < 2:
        state = compiled(state, key, launches * args.fuse)
        launches += 1
        if launches % 8 == 0:
            jax.block_until_ready(state)
    jax.block_until_ready(state)
    rate = chains * args.fuse * launches / (time.perf_counter() - start)
    moved = 2 * state_bytes  # the state read and written once per step
    peak = args.bandwidth or peak_bandwidth(device.device_kind)
    fraction = rate * moved / (peak * 1e12) if peak else None
    record.update(chain_steps_per_s=rate, bytes_per_chain_step=moved, roofline_fraction=fraction)
    print(f"  {name} {chains:.0e} chains: {rate:.3e} chain-steps/s, {moved} B/chain-step"
          + (f", {100 * fraction:.2f}% of the {peak} TB/s roofline" if fraction else ""))
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", nargs="+", default=["uv", "relu_sgd"], choices=("uv", "relu_sgd"))
    parser.add_argument("--noise", default="two_point", choices=("gaussian", "two_point", "three_point"))
    parser.add_argument("--fuse", type=int, default=16, help="steps per launch (lax.scan body)")
    parser.add_argument("--seconds", type=float, default=10.0, help="about this long per size")
    parser.add_argument("--bandwidth", type=float, help="peak memory bandwidth in TB/s (default: by device kind)")
    parser.add_argument("--cpu", action="store_true", help="no GPU: run small sizes on the CPU to check the script")
    parser.add_argument("--json")
    args = parser.parse_args()

    import jax

    import langevin_ib  # noqa: F401  before the backend starts: its XLA flags (numerics/xla_cpu.py)

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus and not args.cpu:
        print(f"bench_gpu: no GPU found (JAX devices: {jax.devices()[0].platform}); nothing to measure. "
              "Install the GPU extra (README) on a GPU machine.")
        return 0
    device = gpus[0] if gpus else jax.devices("cpu")[0]
    stats = device.memory_stats() if gpus else None
    free = stats["bytes_limit"] - stats.get("bytes_in_use", 0) if stats and "bytes_limit" in stats else None
    print(f"device: {device.device_kind} ({device.platform}), free memory "
          f"{f'{free / 2**30:.1f} GiB' if free else '?'}, peak bandwidth "
          f"{args.bandwidth or peak_bandwidth(device.device_kind) or '?'} TB/s")
    results = []
    with jax.default_device(device):
        for name in args.workload:
            for chains in (GPU_SIZES if gpus else CPU_SIZES):
                results.append(measure(name, chains, args, device, free))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device.device_kind, "noise": args.noise, "fuse": args.fuse, "results": results},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
