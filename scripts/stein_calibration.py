"""Is a Stein rejection the chains' fault or the test's? Exact draws of the geometric level-set law of
θ = u₁⋯u_k (deep_scalar, one copy), on the level sets of χ that a run's chains reached, scored by the
same Stein statistic and Hotelling test as the run, then moved by the config's dynamics and scored again.

    python scripts/stein_calibration.py configs/deep_scalar.yaml dynamics.weight_decay=0.0
    python scripts/stein_calibration.py configs/deep_scalar.yaml dynamics.weight_decay=0.0 \
        --evolve 800 --evolve-step-size 0.0025

For one copy the level set of χ through a chain is a curve (r_a² = y + E_a, E_a ≥ 0 fixed) that
crosses θ = 0 where the factor with E_a = 0 changes sign. Along it, in the signed product θ, the
geometric law is e^{−U/T}/(θ² Σ_a r_a^{−2}) (langevin_ib.statistics.pit), drawn here by inverting its
CDF on a grid; the other factors' signs are uniform. Each chain gets ``--draws`` independent draws
on its final level set, summed like the run's snapshots, and the full-conditional PIT checks the
sampler. If the test rejects these exact draws, it is miscalibrated there. If it accepts them but
rejects them again after ``--evolve`` steps of the dynamics, the dynamics do not keep the geometric
law on those level sets; ``--evolve-step-size`` tells discretisation from anything else.
(docs/results.md, "What the Stein tests found": without weight decay it is discretisation.)
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.experiment import config as config_lib, job, plan
from langevin_ib.statistics import pit, stein
from langevin_ib.predictions.rescaling import level_set
from langevin_ib.dynamics import integrators

GRID_LINEAR, GRID_LOG = 16001, 4000


def exact_draws(model, chi_offsets: np.ndarray, temperature: float, weight_decay: float, draws: int,
                span: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """(chains, draws, k) factors drawn from the geometric law on each chain's level set."""
    chains, depth = chi_offsets.shape
    potential = model.potential(weight_decay)
    grid = np.unique(np.concatenate([np.linspace(*span, GRID_LINEAR), np.geomspace(1e-7, 1.0, GRID_LOG),
                                     -np.geomspace(1e-7, 1.0, GRID_LOG)]))
    grid = grid[(grid >= span[0]) & (grid <= span[1]) & (grid != 0.0)]

    @jax.jit
    def log_density(offsets):
        def at(theta):
            squared = level_set.level_set_radii(jnp.abs(theta), offsets)
            signs = jnp.ones(depth).at[jnp.argmin(offsets)].set(jnp.sign(theta))
            params = {"u": (signs * jnp.sqrt(squared))[:, None]}
            return -potential(params) / temperature - jnp.log(theta**2 * jnp.sum(1.0 / squared))
        return jax.vmap(at)(jnp.asarray(grid))

    radii = jax.jit(jax.vmap(level_set.level_set_radii, (0, None)))
    out = np.empty((chains, draws, depth))
    for c in range(chains):  # host loop over chains: an offline diagnostic, not a hot path
        logs = np.asarray(log_density(jnp.asarray(chi_offsets[c])), np.float64)
        weights = np.exp(logs - logs.max())
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (weights[1:] + weights[:-1]) * np.diff(grid))])
        theta = np.interp(rng.random(draws) * cdf[-1], cdf, grid)
        squared = np.asarray(radii(jnp.asarray(np.abs(theta)), jnp.asarray(chi_offsets[c])), np.float64)
        signs = rng.choice([-1.0, 1.0], (draws, depth))
        crossing = int(np.argmin(chi_offsets[c]))
        others = np.prod(np.delete(signs, crossing, axis=1), axis=1)
        signs[:, crossing] = np.sign(theta) * others
        out[c] = signs * np.sqrt(squared)
    return out


def stein_per_sample(model, temperature: float, weight_decay: float, keys: jax.Array, samples: dict) -> np.ndarray:
    """(samples, width) Stein statistics, one sample at a time as the runner maps chains: batched CPU
    LAPACK calls can deadlock a 2-thread pool."""
    statistic = stein.statistic(model, temperature, weight_decay)
    return np.asarray(jax.jit(lambda k, p: jax.lax.map(lambda x: statistic(*x), (k, p)))(keys, samples), np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*", metavar="section.key=value")
    parser.add_argument("--draws", type=int, default=20, help="exact draws per chain (the run's snapshots: 20)")
    parser.add_argument("--span", type=float, nargs=2, default=(-3.0, 5.0), help="θ range of the grid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--evolve", type=int, nargs="*", default=(500, 2000),
                        help="steps of the config's dynamics to run from the exact draws before testing again")
    parser.add_argument("--evolve-step-size", type=float, default=None, help="η of those steps (default: the config's)")
    args = parser.parse_args()
    experiment = config_lib.load(args.config, args.overrides)
    if experiment.model.name != "deep_scalar" or experiment.model.fields["copies"] != 1:
        raise SystemExit("model: this diagnostic draws exact level-set samples of deep_scalar with copies: 1")
    dyn, significance = experiment.dynamics, experiment.analysis.significance
    experiment, model = job.prepare(experiment)
    planned = plan.statistics(experiment, model)
    result = job.simulate_model(experiment, model, progress=True)
    run_tests, _ = plan.tests(experiment, model, planned, result)
    alive = ~np.asarray(result.final_state.diverged)
    factors = np.asarray(result.final_state.integrator.position["u"][:, :, 0], np.float64)[alive]  # (chains, k)
    squared = factors**2
    offsets = squared - squared.min(axis=1, keepdims=True)
    draws = exact_draws(model, offsets, dyn.temperature, dyn.weight_decay, args.draws, tuple(args.span),
                        np.random.default_rng(args.seed))
    keys = jax.random.split(jax.random.key(args.seed), draws.shape[0] * args.draws)
    dtype = result.final_state.integrator.position["u"].dtype
    samples = {"u": jnp.asarray(draws.reshape(-1, draws.shape[2])[:, :, None], dtype)}
    per_draw = stein_per_sample(model, dyn.temperature, dyn.weight_decay, keys, samples)
    per_draw = per_draw.reshape(draws.shape[0], args.draws, -1)  # (chains, draws, width)
    exact = stein.tests(per_draw.sum(axis=1), args.draws, np.ones(per_draw.shape[0], bool), significance)
    # the same draws under the full-conditional PIT (no Stein field, no derivative): checks the sampler
    form = level_set.LEVEL_SET
    binning = experiment.observables[form.observable(model)]
    pit_values = jax.jit(jax.vmap(pit.statistic(model, dyn.temperature, dyn.weight_decay, binning, form)))(samples)
    pit_sums = np.asarray(pit_values, np.float64).reshape(draws.shape[0], args.draws, -1).sum(axis=1)
    pit_tests, _ = pit.tests(pit_sums, np.ones(draws.shape[0], bool), experiment.run.chain_groups, binning,
                             significance, experiment.analysis.min_expected, form)
    print("exact draws, full-conditional PIT: " + ", ".join(
        f"{h} z = {r['z']:.1f} (p = {r['p_value']:.3g})" for h, r in pit_tests["hypotheses"].items()))
    spread = np.abs(0.5 * (squared[:, 0] - squared[:, 1]))
    print(f"{alive.sum()} chains; |χ₁| at the end of the run: median {np.median(spread):.2f}, 90% {np.quantile(spread, 0.9):.2f}")
    for label, tests in (("run", run_tests["stein"]), (f"exact draws ({args.draws} per chain)", exact)):
        print(f"{label}: {tests['chains']} chains x {tests['snapshots_per_chain']} snapshots")
        for name, r in tests["hypotheses"].items():
            print(f"  {name:10s} T² = {r['t_squared']:.1f} on {r['rank']} dof, z = "
                  + ", ".join(f"{z:.1f}" for z in r["z"].values()) + f", p = {r['p_value']:.3g}")
    # the PIT holds each factor's sign; the Stein fields run along the whole level set, across θ = 0
    print(f"fraction with θ < 0: run (final state) {np.mean(np.prod(factors, axis=1) < 0):.4f}, "
          f"exact draws {np.mean(np.prod(draws, axis=2) < 0):.4f}")
    means = per_draw.sum(axis=1)[:, 0] / args.draws  # geometric, first field
    centred = means - means.mean()
    print(f"exact draws, geometric field 1 per-chain means: kurtosis {np.mean(centred**4) / np.mean(centred**2)**2:.1f}")
    # the loss Hessian's large eigenvalue near θ*, |∇θ|² = Σ_a Π_{b≠a} u_b², grows with the imbalance
    stiffness = np.sum((np.prod(factors, axis=1, keepdims=True) / factors) ** 2, axis=1)
    print("η·|∇θ|² at the end of the run: median {:.3g}, 90% {:.3g}, 99% {:.3g}".format(
        *(dyn.step_size * np.quantile(stiffness, [0.5, 0.9, 0.99]))))
    # the config's dynamics started from the exact draws: does the conditional law on the level sets stay geometric?
    step_size = args.evolve_step_size or dyn.step_size
    integrator = integrators.REGISTRY[dyn.integrator].build(model)
    hyperparameters = integrators.Hyperparameters(*(jnp.asarray(v, dtype) for v in
                                                    (dyn.temperature, step_size, dyn.weight_decay)))
    for steps in args.evolve:
        key = jax.random.fold_in(jax.random.key(args.seed), steps)
        advance = jax.jit(lambda state, k: jax.lax.scan(lambda s, kk: (integrator.step(kk, s, hyperparameters)[0], None),
                                                        state, jax.random.split(k, steps))[0])
        moved = integrator.position(advance(integrator.init(key, samples, hyperparameters), jax.random.fold_in(key, 1)))
        evolved = stein.tests(stein_per_sample(model, dyn.temperature, dyn.weight_decay, keys, moved), 1,
                              np.ones(len(keys), bool), significance)
        print(f"exact draws after {steps} steps of η = {step_size} ({len(keys)} samples, one snapshot each): " + ", ".join(
            f"{h} z = {max(r['z'].values(), key=abs):.1f} (p = {r['p_value']:.3g})" for h, r in evolved["hypotheses"].items()))


if __name__ == "__main__":
    main()
