"""u·v Euler–Maruyama throughput on the local accelerator, against its memory-bandwidth roofline.

For 10⁶, 10⁷ and 10⁸ chains (sizes whose state and noise do not fit in half the device memory are
skipped, with a message): chain-steps per second of K fused steps per launch (a ``lax.scan`` of K
steps: θ read and written once per step, noise generated in registers), the bytes moved per
chain-step (state read + written; the noise is generated, not loaded), and the fraction of the
device's peak bandwidth that implies. Peak bandwidths by device kind below, or ``--bandwidth`` in
TB/s. Without an accelerator it runs a short CPU check (10⁵ chains) so the script is known to work.
Each size runs for about --seconds; the whole script finishes in well under 5 minutes.

    python scripts/bench_gpu.py --noise two_point --fuse 16
"""

from __future__ import annotations

import argparse
import json
import time

PEAK_TB_S = {"H200": 4.8, "H100 SXM": 3.35, "H100 PCIe": 2.0, "H100": 3.35, "A100-SXM4-80GB": 2.04,
             "A100-SXM4-40GB": 1.56, "A100": 1.56, "L40S": 0.864, "L4": 0.3, "RTX 4090": 1.01, "V100": 0.9,
             "TPU v4": 1.2, "TPU v5e": 0.82, "TPU v5p": 2.76}
TEMPERATURE, STEP, TARGET = 0.05, 1e-3, 1.0


def peak_bandwidth(kind: str) -> float | None:
    """TB/s of the longest PEAK_TB_S key contained in the device kind, or None."""
    matches = [k for k in PEAK_TB_S if k.lower() in kind.lower()]
    return PEAK_TB_S[max(matches, key=len)] if matches else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", default="two_point", choices=("gaussian", "two_point", "three_point"))
    parser.add_argument("--fuse", type=int, default=16, help="steps per launch (lax.scan body)")
    parser.add_argument("--seconds", type=float, default=10.0, help="about this long per size")
    parser.add_argument("--bandwidth", type=float, help="peak memory bandwidth in TB/s (default: by device kind)")
    parser.add_argument("--json")
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp

    from langevin_ib.dynamics import integrators
    from langevin_ib.models import uv

    device = jax.devices()[0]
    accelerator = device.platform != "cpu"
    sizes = (10**6, 10**7, 10**8) if accelerator else (10**5,)
    stats = device.memory_stats() if accelerator and hasattr(device, "memory_stats") else None
    memory = (stats or {}).get("bytes_limit")
    peak = args.bandwidth or (peak_bandwidth(device.device_kind) if accelerator else None)
    print(f"device: {device.device_kind} ({device.platform}), memory {memory or '?'} B, "
          f"peak bandwidth {peak or '?'} TB/s" + ("" if accelerator else ": no accelerator, short CPU check"))

    model = uv.build({"target": TARGET, "copies": 1, "init_u": 1.0, "init_v": 1.0, "init_noise": 0.0, "label_noise": 0.0})
    integrator = integrators.build("euler_maruyama", model, noise=args.noise)
    hyper = integrators.Hyperparameters(jnp.float32(TEMPERATURE), jnp.float32(STEP), jnp.float32(0.0))
    bytes_per_chain_step = 2 * 2 * 4  # u, v float32, read and written once per fused step

    @jax.jit
    def launch(state, key, start):
        body = lambda s, k: (integrator.step(jax.random.fold_in(key, k), s, hyper)[0], None)
        return jax.lax.scan(body, state, start + jnp.arange(args.fuse))[0]

    results = []
    for chains in sizes:
        need = chains * 2 * 4 * 4  # state twice (donation aside) + noise temporaries, float32
        if memory and need > memory // 2:
            print(f"  {chains:.0e} chains: skipped, needs ~{need / 2**30:.1f} GiB of {memory / 2**30:.1f}")
            continue
        state = integrator.init(jax.random.key(0), {"u": jnp.ones((chains, 1)), "v": jnp.ones((chains, 1))}, hyper)
        key = jax.random.key(1)
        state = jax.block_until_ready(launch(state, key, jnp.int32(0)))  # compile
        launches, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds or launches < 2:
            state = launch(state, key, jnp.int32(launches * args.fuse))
            launches += 1
            if launches % 8 == 0:
                jax.block_until_ready(state)
        jax.block_until_ready(state)
        rate = chains * args.fuse * launches / (time.perf_counter() - start)
        fraction = rate * bytes_per_chain_step / (peak * 1e12) if peak else None
        results.append({"chains": chains, "chain_steps_per_s": rate, "bytes_per_chain_step": bytes_per_chain_step,
                        "roofline_fraction": fraction})
        print(f"  {chains:.0e} chains: {rate:.3e} chain-steps/s, {bytes_per_chain_step} B/chain-step"
              + (f", {100 * fraction:.1f}% of the {peak} TB/s roofline" if fraction else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device.device_kind, "noise": args.noise, "fuse": args.fuse, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
