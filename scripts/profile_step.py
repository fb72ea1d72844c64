"""Where the time of the engine's u·v step goes: the measured kernel's parts compiled separately, in one
process, interleaved (median of --repeats), and LM's position-only rollback against the full one.

Parts, each over --steps steps of --chains chains on one JAX CPU device per core: the noise alone
(drawn and summed), the integration alone (a scan of integrator steps), the integration with the
divergence check at every step (``kernel.advance``, thin 1), and the whole measured kernel (check,
θ histogram, per-chain Σx, Σx²: ``kernel.measure``). Then, for LM, the measured kernel with
``with_position`` (the check rolls back only the position) and without (every state leaf), with EM
as the reference. Figures: docs/engineering.md, "Issue 24, second pass".

    python scripts/profile_step.py --chains 65536 --noise two_point
    python scripts/profile_step.py --chains 65536 --noise gaussian --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time

TEMPERATURE, STEP, TARGET, BINS = 0.05, 1e-3, 1.0, 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=65536)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--noise", default="two_point", choices=("gaussian", "two_point", "three_point"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from langevin_ib.dynamics import sharding

    sharding.use_all_cpu_cores()
    import jax
    import jax.numpy as jnp

    from langevin_ib.dynamics import accumulators, integrators, kernel, noise
    from langevin_ib.base import Binning
    from langevin_ib.dynamics.kernel import RunSizes
    from langevin_ib.models import uv

    chains, steps = args.chains, args.steps
    model = uv.build({"target": TARGET, "copies": 1, "init_u": 1.0, "init_v": 1.0, "init_noise": 0.0, "label_noise": 0.0})
    sizes = RunSizes(chains, steps, thin=1, chunk_steps=steps, chain_groups=32)
    binnings = {"theta": Binning(0.0, 2.0, BINS)}
    keys = kernel.keys(0)
    split, replicated = sharding.chain_shardings(chains)
    hyper = integrators.Hyperparameters(*(jax.device_put(jnp.float32(h), replicated) for h in (TEMPERATURE, STEP, 0.0)))
    sample = noise.lookup(args.noise)

    def setup(integrator):
        kern = kernel.build(model, integrator, sizes, binnings)
        start = lambda key, h: kernel.initial_state(kern, key, kernel.initial_parameters(kern, key), h)
        state = jax.jit(start, out_shardings=split)(keys.init, hyper)
        shapes = jax.eval_shape(lambda st: jax.vmap(model.observe)(integrator.position(st.integrator)), state)
        acc = jax.device_put(accumulators.empty(binnings, None, 32, shapes), accumulators.shardings(split, replicated))
        return kern, state, acc

    def measured(integrator):
        kern, state, acc = setup(integrator)
        return lambda st, a: kernel.measure(kern, keys, st, a, None, hyper, jnp.int32(0), steps), (state, acc)

    em = integrators.build("euler_maruyama", model, noise=args.noise)
    kern, state, acc = setup(em)

    def noise_only(st):
        body = lambda carry, k: (jax.tree.map(jnp.add, carry, sample(jax.random.fold_in(keys.noise, k), carry)), None)
        return jax.lax.scan(body, em.position(st.integrator), jnp.arange(steps))[0]

    def integrate_only(st):
        body = lambda carry, k: (em.step(jax.random.fold_in(keys.noise, k), carry, hyper)[0], None)
        return jax.lax.scan(body, st.integrator, jnp.arange(steps))[0]

    parts = {"EM noise alone": (noise_only, (state,)), "EM integrate": (integrate_only, (state,)),
             "EM integrate + check": (lambda st: kernel.advance(kern, keys.noise, st, hyper, jnp.int32(0), steps), (state,)),
             "EM measured kernel": measured(em)}
    if args.noise != "two_point":  # LM does not offer two-point noise
        lm = integrators.build("leimkuhler_matthews", model, noise=args.noise)
        parts["LM measured kernel"] = measured(lm)
        parts["LM measured kernel, full rollback"] = measured(lm._replace(with_position=None))
    compiled = {name: jax.jit(fn).lower(*inputs).compile() for name, (fn, inputs) in parts.items()}
    rates = {name: [] for name in parts}
    for _ in range(args.repeats):
        for name, (_, inputs) in parts.items():
            start = time.perf_counter()
            jax.block_until_ready(compiled[name](*inputs))
            rates[name].append(chains * steps / (time.perf_counter() - start))
    reference = statistics.median(rates["EM measured kernel"])
    print(f"u·v, {chains} chains × {steps} steps, {args.noise} noise, median of {args.repeats} interleaved repeats")
    for name, samples in rates.items():
        rate = statistics.median(samples)
        print(f"  {name:<36} {rate:10.3e} chain-steps/s  {rate / reference:5.2f} × EM measured kernel")


if __name__ == "__main__":
    main()
