"""One experiment (:class:`langevin_ib.experiment.config.Experiment`): simulate, fit, and write
config.yaml, summary.json, histograms.npz and the figures into an output folder (schema in README.md)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import numpy as np
import yaml

from langevin_ib.experiment import comparisons as comparisons_lib, plan, plots, verdicts
from langevin_ib.experiment.config import Experiment
from langevin_ib import models
from langevin_ib.dynamics import integrators
from langevin_ib.models.fields import ConfigError
from langevin_ib.models.base import Model
from langevin_ib.dynamics.runner import CHI_QUANTILES, RunResult, RunSizes, simulate


def build_model(experiment: Experiment) -> Model:
    """The experiment's model in its run.dtype (float64 switches JAX to 64-bit first)."""
    dtype = experiment.run.dtype
    jax.config.update("jax_enable_x64", dtype == "float64")
    return models.lookup(experiment.model.name).build({"name": experiment.model.name, **experiment.model.fields},
                                                      jax.numpy.dtype(dtype))


def prepare(experiment: Experiment) -> tuple[Experiment, Model]:
    """The experiment with its plan (:func:`langevin_ib.experiment.plan.planned`) and its built model."""
    model = build_model(experiment)
    return plan.planned(experiment, model), model


def execute(experiment: Experiment, progress: bool = True) -> RunResult:
    """Build the model and integrator of the experiment and run the chains."""
    experiment, model = prepare(experiment)
    return simulate_model(experiment, model, plan.statistics(experiment, model), progress)


def simulate_model(experiment: Experiment, model: Model, planned: dict, progress: bool) -> RunResult:
    """Run the experiment's chains of ``model``, evaluating the ``planned`` snapshot statistics."""
    run, dyn = experiment.run, experiment.dynamics
    try:
        integrator = integrators.build(dyn.integrator, model, dyn.noise)
    except integrators.UnsupportedModel as error:
        raise ConfigError(f"dynamics.integrator: {dyn.integrator!r} cannot run model {experiment.model.name!r}: "
                          f"{error}; use one of {sorted(set(integrators.REGISTRY) - set(integrators.CONSTRAINED))}")
    hyperparameters = integrators.Hyperparameters(dyn.temperature, dyn.step_size, dyn.weight_decay)
    statistic = {"statistics": tuple(fn for fn, _ in planned.values()),
                 "statistic_every": experiment.analysis.snapshot_every} if planned else {}
    sizes = RunSizes(**{k: getattr(run, k) for k in RunSizes._fields})
    return simulate(model, integrator, hyperparameters, sizes, binnings=dict(experiment.observables),
                    progress=progress, **statistic)


def histogram_arrays(result: RunResult, comparisons: dict) -> dict:
    """Everything an outside script needs to recompute each fit (names documented in README.md)."""
    arrays = {}
    for name, binning in result.binnings.items():
        counts = result.histograms.counts[name]
        arrays[f"{name}_edges"] = binning.edges
        arrays[f"{name}_counts"] = counts[:, 1:-1]
        arrays[f"{name}_underflow"] = counts[:, 0]
        arrays[f"{name}_overflow"] = counts[:, -1]
        arrays[f"{name}_moments"] = result.histograms.moments[name]
    if result.joint is not None:
        arrays["joint_counts"] = result.histograms.joint
        arrays["joint_axes"] = np.asarray(result.joint)
    for test, comparison in comparisons.items():
        arrays[f"{test}_counts"] = comparison.counts
        for hypothesis, probabilities in comparison.probabilities.items():
            arrays[f"{test}_{hypothesis}_probabilities"] = probabilities
    trace = result.chi_trace
    if len(trace["step"]):
        arrays.update(chi_trace_step=trace["step"], chi_trace_mean=trace["mean"],
                      chi_trace_quantiles=trace["quantiles"], chi_trace_levels=np.asarray(CHI_QUANTILES))
    return arrays


def summarise(experiment: Experiment, result: RunResult, fits: dict, snapshot_tests: dict, wall_seconds: float) -> dict:
    run = experiment.run
    moments = {}
    for name, m in result.histograms.moments.items():
        n, s1, s2 = m.astype(float).sum(axis=0)
        mean = s1 / n if n else float("nan")
        moments[name] = {"mean": mean, "variance": s2 / n - mean**2 if n else float("nan")}
    return {
        "model": experiment.model.name,
        "integrator": experiment.dynamics.integrator,
        "sizes": {"chains": run.chains, "steps": run.steps, "burn_in": run.burn_in, "thin": run.thin,
                  "observations_per_chain": run.steps // run.thin, "chain_groups": run.chain_groups,
                  "dtype": run.dtype, "devices": jax.device_count(), "backend": jax.default_backend()},
        "timing": {"wall_seconds": wall_seconds, "compile_seconds": result.compile_seconds,
                   "run_seconds": result.run_seconds,
                   "chain_steps_per_second": result.chain_steps / result.run_seconds if result.run_seconds else None},
        "divergence": {"diverged": result.diverged, "fraction": result.diverged / run.chains,
                       "first_step": int(result.diverged_at.min()) if result.diverged else None,
                       "bound": run.divergence_bound},
        "out_of_range": {name: {"underflow": int(c[:, 0].sum()), "overflow": int(c[:, -1].sum())}
                         for name, c in result.histograms.counts.items()},
        "moments": moments,
        "significance": experiment.analysis.significance,
        "fits": fits,
        **snapshot_tests,
    }


def run_and_write(experiment: Experiment, out: Path, progress: bool = True) -> dict:
    """Run one experiment and write its outputs into ``out``; returns the summary, whose
    ``conclusion`` (:func:`langevin_ib.experiment.verdicts.conclusion`) reads its verdicts."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(experiment.to_yaml())
    start = time.perf_counter()
    experiment, model = prepare(experiment)
    statistics = plan.statistics(experiment, model)
    result = simulate_model(experiment, model, statistics, progress)
    comparisons = comparisons_lib.build(experiment, result)
    fits = comparisons_lib.fit_all(experiment, comparisons)
    snapshot_tests, snapshot_arrays = plan.tests(experiment, model, statistics, result)
    summary = summarise(experiment, result, fits, snapshot_tests, time.perf_counter() - start)
    summary["conclusion"] = verdicts.conclusion(summary)
    np.savez_compressed(out / "histograms.npz", **histogram_arrays(result, comparisons), **snapshot_arrays)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plots.plot_fits(out / "density.png", comparisons, fits, result.binnings, result.histograms.counts)
    for name, form in plan.forms(experiment).items():
        if snapshot_tests[name] is not None:
            observable = form.observable(model)
            plots.plot_conditional(out / f"{name}.png", snapshot_tests[name], snapshot_arrays,
                                   result.binnings[observable].edges, observable, name, form)
    if len(result.chi_trace["step"]):
        plots.plot_chi_trace(out / "chi.png", result.chi_trace, experiment.run.burn_in)
    return summary
