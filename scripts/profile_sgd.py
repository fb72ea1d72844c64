"""Where the SGD step of the ReLU teacher–student goes (issue 22): variants of the compiled step, interleaved.

The step of scripts/bench_sgd.py (4096 chains, d = 3, 16 hidden, B = 8, fresh data, plain SGD) as a
jitted scan of ``--steps`` steps on one JAX CPU device, without the runner's divergence check; the
variants swap one piece at trace time: ``jax.random.normal`` for :func:`langevin_ib.numerics.fused_random.normal`,
``lax.dot_general`` for :func:`langevin_ib.numerics.small_dot.dot_general`, or leave out the data
(a fixed minibatch) or the gradient. CPU time per chain-step (process time, robust to other jobs'
load, all threads counted) and wall rate, medians of ``--repeats`` interleaved runs.

    PYTHONPATH=. python scripts/profile_sgd.py [--chains 4096] [--steps 50] [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=1"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from langevin_ib import models  # noqa: E402
from langevin_ib.dynamics import integrators  # noqa: E402
from langevin_ib.dynamics.integrators import sgd  # noqa: E402
from langevin_ib.models.fields import section  # noqa: E402
from langevin_ib.numerics import fused_random, small_dot  # noqa: E402

CFG = {"inputs": 3, "hidden": 16, "teacher_hidden": 2, "label_noise": 0.1, "fresh_data": True}
BATCH = 8


@contextlib.contextmanager
def swapped(jax_normal: bool, lax_dot: bool):
    saved = fused_random.normal, small_dot.dot_general
    fused_random.normal = jax.random.normal if jax_normal else saved[0]
    small_dot.dot_general = jax.lax.dot_general if lax_dot else saved[1]
    try:
        yield
    finally:
        fused_random.normal, small_dot.dot_general = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    chains, steps = args.chains, args.steps
    spec = models.REGISTRY["relu"]
    model = spec.build(section("model", CFG, spec.FIELDS))
    integrator = sgd.build(model, sgd.Settings(BATCH, "fresh"))
    hyper = integrators.Hyperparameters(jnp.float32(0), jnp.float32(0.02), jnp.float32(0))
    state = integrator.init(None, jax.vmap(model.init)(jax.random.split(jax.random.key(0), chains)), hyper)
    key = jax.random.key(1)
    draw = lambda k: jax.tree.map(lambda x: x.reshape(chains, BATCH, *x.shape[1:]), model.data.draw(k, chains * BATCH))
    fixed = draw(key)
    grad = lambda position, examples: jax.vmap(model.data.batch_loss_and_gradient)(position, examples)[1]
    descend = lambda s, g: s._replace(position=jax.tree.map(lambda p, d: p - 0.02 * d, s.position, g))
    pieces = {
        "step": lambda k, s: integrator.step(k, s, hyper)[0],
        "draw only": lambda k, s: descend(s, jax.tree.map(lambda p: 1e-9 * jnp.sum(draw(k)["x"]) * p, s.position)),
        "gradient only (fixed minibatch)": lambda k, s: descend(s, grad(s.position, fixed)),
    }
    variants = {name: (fn, False, False) for name, fn in pieces.items()}
    variants |= {"step, jax.random.normal": (pieces["step"], True, False),
                 "step, lax.dot_general": (pieces["step"], False, True),
                 "step, jax.random.normal and lax.dot_general": (pieces["step"], True, True)}
    compiled = {}
    for name, (fn, jax_normal, lax_dot) in variants.items():
        body = lambda c, t, fn=fn: (fn(jax.random.fold_in(key, t), c), None)
        loop = lambda s, body=body: jax.lax.scan(body, s, jnp.arange(steps))[0]
        with swapped(jax_normal, lax_dot):
            compiled[name] = jax.jit(loop).lower(state).compile()
    wall, cpu = {n: [] for n in compiled}, {n: [] for n in compiled}
    for _ in range(args.repeats):
        for name, fn in compiled.items():
            t, c = time.perf_counter(), time.process_time()
            jax.block_until_ready(fn(state))
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    print(f"{chains} chains × {steps} steps, 1 JAX CPU device, medians of {args.repeats} interleaved runs")
    for name in compiled:
        rate, ns = chains * steps / statistics.median(wall[name]), statistics.median(cpu[name]) / (chains * steps) * 1e9
        print(f"  {name:46s} {ns:7.0f} CPU ns per chain-step   {rate:9.3g} chain-steps/s")


if __name__ == "__main__":
    main()
