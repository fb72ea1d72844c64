"""Speed of minibatch SGD in the engine against a PyTorch loop batched over chains (issue 22).

The ReLU teacher–student of the paper's Fig. 2 (d = 3 inputs, 16 hidden units, a 2-unit teacher, fresh
x ~ N(0, I) minibatches of B = 8, label noise 0.1, ℓ = ½(f(x) − y)²), plain SGD at η = 0.02, C = 4096
independent chains, float32. Engine: :func:`langevin_ib.dynamics.grid.simulate_run` with the registered
``sgd`` integrator on one JAX CPU device per core (as the CLI runs), one compiled chunk of ``--steps``
steps, the divergence checked every ``--thin`` steps (1: every step, the strictest; configs/relu_sgd.yaml
uses 10), no histograms, compile time excluded. PyTorch: the same
update and the same 32 normal draws per chain-step for all chains at once, the forward pass as
``torch.bmm`` over the chain axis and the per-chain gradients by autograd on the sum of the chains'
losses (independent chains, so the sum's gradient is each chain's own), as many intra-op threads as
the engine has devices. Each repeat runs both in turn (interleaved, so load on a shared machine hits
both alike); the medians are reported in chain-steps/s and as a ratio against the issue's target
(engine ≥ 5× PyTorch at 4096 chains).

    PYTHONPATH=. python scripts/bench_sgd.py [--chains 4096] [--steps 500] [--repeats 5] [--thin 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

CFG = {"inputs": 3, "hidden": 16, "teacher_hidden": 2, "label_noise": 0.1, "fresh_data": True}
STEP_SIZE, BATCH, CHAINS, TARGET = 0.02, 8, 4096, 5.0


def engine(chains: int, steps: int, thin: int = 1):
    """A function (seed) -> chain-steps/s of the engine's run, compile excluded."""
    from langevin_ib import models
    from langevin_ib.dynamics import integrators
    from langevin_ib.dynamics.integrators import sgd
    from langevin_ib.dynamics.grid import simulate_run
    from langevin_ib.dynamics.kernel import RunSizes
    from langevin_ib.models.fields import section

    spec = models.REGISTRY["relu"]
    model = spec.build(section("model", CFG, spec.FIELDS))
    integrator = sgd.build(model, sgd.Settings(BATCH, "fresh"))
    hyper = integrators.Hyperparameters(0.0, STEP_SIZE, 0.0)

    def run(seed: int) -> float:
        sizes = RunSizes(chains=chains, steps=steps, thin=thin, chunk_steps=steps, chain_groups=1, seed=seed)
        result = simulate_run(model, integrator, hyper, sizes, binnings={}, chunk_statistics={}, progress=False)
        return result.chain_steps / result.run_seconds

    return run


def pytorch(chains: int, steps: int):
    """A function (seed) -> chain-steps/s of the PyTorch loop."""
    import torch

    d, hidden, teacher_hidden = CFG["inputs"], CFG["hidden"], CFG["teacher_hidden"]

    def run(seed: int) -> float:
        torch.manual_seed(seed)
        teacher_w, teacher_v = torch.randn(teacher_hidden, d), torch.randn(teacher_hidden)
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
        return chains * steps / (time.perf_counter() - start)

    return run


def measure(chains: int, steps: int, repeats: int, thin: int = 1) -> dict:
    """Interleaved repeats of both loops after one warm-up each: {"engine": [...], "pytorch": [...] or None}."""
    import jax

    runners = {"engine": engine(chains, steps, thin)}
    try:
        import torch

        torch.set_num_threads(jax.local_device_count())
        runners["pytorch"] = pytorch(chains, steps)
    except ImportError:
        print("pytorch: not installed (pip install torch, the 'bench' extra); no ratio")
    for fn in runners.values():
        fn(0)
    rates = {name: [] for name in runners}
    for seed in range(1, repeats + 1):
        for name, fn in runners.items():
            rates[name].append(fn(seed))
    return {"chains": chains, "steps": steps, "thin": thin, "engine": rates["engine"], "pytorch": rates.get("pytorch")}


def report(result: dict) -> None:
    """Print the medians, the ratio and whether the issue's target is met."""
    import jax

    ours = statistics.median(result["engine"])
    print(f"\nReLU teacher–student SGD (d=3, 16 hidden, B=8), {result['chains']} chains × {result['steps']} steps, "
          f"divergence check every {result['thin']} steps, median of {len(result['engine'])} interleaved repeats")
    print(f"  engine  (jax {jax.__version__}, {jax.local_device_count()} CPU devices) {ours:11.3e} chain-steps/s "
          f"{[f'{r:.3g}' for r in result['engine']]}")
    if result["pytorch"] is None:
        return
    import torch

    theirs = statistics.median(result["pytorch"])
    print(f"  pytorch (torch {torch.__version__}, {torch.get_num_threads()} threads, bmm loop) {theirs:11.3e} "
          f"chain-steps/s {[f'{r:.3g}' for r in result['pytorch']]}")
    ratio = ours / theirs
    verdict = "met" if ratio >= TARGET else f"not met: {TARGET / ratio:.2f}× short"
    print(f"  engine / pytorch = {ratio:.2f} (target ≥ {TARGET:g}× at {CHAINS} chains: {verdict}; "
          "where the engine's time goes: docs/engineering.md, 'Minibatch SGD')")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=CHAINS)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--thin", type=int, default=1, help="check (and observe) every thin steps; 1: every step")
    args = parser.parse_args()
    from langevin_ib.dynamics import sharding

    sharding.use_all_cpu_cores()  # as the CLI does: one JAX CPU device per core
    report(measure(args.chains, args.steps, args.repeats, args.thin))


if __name__ == "__main__":
    main()
