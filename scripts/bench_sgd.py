"""Speed of minibatch SGD in the engine against a PyTorch loop batched over chains (issue 22).

The ReLU teacher–student of the paper's Fig. 2 (d = 3 inputs, 16 hidden units, a 2-unit teacher, fresh
x ~ N(0, I) minibatches of B = 8, label noise 0.1, ℓ = ½(f(x) − y)²), plain SGD at η = 0.02, C = 4096
independent chains. Engine: :func:`langevin_ib.dynamics.runner.simulate` with the registered ``sgd``
integrator, one compiled chunk of ``--steps`` steps (compile time excluded). PyTorch: the same update
for all chains at once, the forward pass as ``torch.bmm`` over the chain axis and the per-chain
gradients by autograd on the sum of the chains' losses (independent chains, so the sum's gradient is
each chain's own), in the same process with the same thread count. Each is timed ``--repeats`` times;
the medians are reported in chain-steps/s and as a ratio.

    PYTHONPATH=. python scripts/bench_sgd.py [--chains 4096] [--steps 500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp

from langevin_ib import models
from langevin_ib.dynamics import integrators
from langevin_ib.dynamics.integrators import sgd
from langevin_ib.dynamics.runner import RunSizes, simulate
from langevin_ib.models.fields import section

CFG = {"inputs": 3, "hidden": 16, "teacher_hidden": 2, "label_noise": 0.1, "fresh_data": True}
STEP_SIZE, BATCH = 0.02, 8


def engine(chains: int, steps: int, repeats: int) -> list[float]:
    spec = models.REGISTRY["relu"]
    model = spec.build(section("model", CFG, spec.FIELDS))
    integrator = sgd.build(model, sgd.Settings(BATCH, "fresh"))
    hyper = integrators.Hyperparameters(0.0, STEP_SIZE, 0.0)
    rates = []
    for seed in range(repeats + 1):
        sizes = RunSizes(chains=chains, steps=steps, chunk_steps=steps, chain_groups=1, seed=seed)
        result = simulate(model, integrator, hyper, sizes, binnings={}, chunk_statistics={}, progress=False)
        rates.append(chains * steps / result.run_seconds)
    return rates[1:]  # the first call also warms caches


def pytorch(chains: int, steps: int, repeats: int) -> list[float]:
    import torch

    torch.manual_seed(0)
    d, hidden, teacher_hidden = CFG["inputs"], CFG["hidden"], CFG["teacher_hidden"]
    teacher_w, teacher_v = torch.randn(teacher_hidden, d), torch.randn(teacher_hidden)
    rates = []
    for _ in range(repeats):
        w = (torch.randn(chains, hidden, d) / d**0.5).requires_grad_()
        v = (torch.randn(chains, hidden) / hidden**0.5).requires_grad_()
        start = time.perf_counter()
        for _ in range(steps):
            x = torch.randn(chains, BATCH, d)
            y = torch.relu(x @ teacher_w.T) @ teacher_v + CFG["label_noise"] * torch.randn(chains, BATCH)
            prediction = (torch.relu(torch.bmm(x, w.transpose(1, 2))) * v[:, None, :]).sum(-1)
            loss = (0.5 * (prediction - y) ** 2).mean(dim=1).sum()
            grad_w, grad_v = torch.autograd.grad(loss, (w, v))
            with torch.no_grad():
                w -= STEP_SIZE * grad_w
                v -= STEP_SIZE * grad_v
        rates.append(chains * steps / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ours = engine(args.chains, args.steps, args.repeats)
    print(f"engine  (jax {jax.__version__}, {jax.device_count()} device(s)): median "
          f"{statistics.median(ours):.3g} chain-steps/s over {args.repeats} runs {[f'{r:.3g}' for r in ours]}")
    try:
        import torch
    except ImportError:
        print("pytorch: not installed (pip install torch, the 'bench' extra); no ratio")
        return
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    theirs = pytorch(args.chains, args.steps, args.repeats)
    print(f"pytorch (torch {torch.__version__}, {torch.get_num_threads()} threads): median "
          f"{statistics.median(theirs):.3g} chain-steps/s over {args.repeats} runs {[f'{r:.3g}' for r in theirs]}")
    print(f"ratio engine/pytorch (medians): {statistics.median(ours) / statistics.median(theirs):.2f}")


if __name__ == "__main__":
    main()
