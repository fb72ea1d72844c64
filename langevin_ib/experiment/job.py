"""One experiment from a resolved config: simulate, fit, and write config.yaml, summary.json,
histograms.npz and the figures into an output folder (schema in README.md)."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import jax
import numpy as np
import yaml

from langevin_ib.experiment import analysis, plots, snapshots
from langevin_ib import geometry, models
from langevin_ib.dynamics import integrators
from langevin_ib.models.fields import ConfigError
from langevin_ib.dynamics.accumulators import Binning
from langevin_ib.models.base import Model
from langevin_ib.dynamics.runner import CHI_QUANTILES, RunResult, RunSizes, simulate


def build_model(config: dict) -> Model:
    """The config's model in its run.dtype (float64 switches JAX to 64-bit first)."""
    jax.config.update("jax_enable_x64", config["run"]["dtype"] == "float64")
    return models.lookup(config["model"]["name"]).build(config["model"], jax.numpy.dtype(config["run"]["dtype"]))


def execute(config: dict, progress: bool = True) -> RunResult:
    """Build the model and integrator named in the config and run the chains."""
    model = build_model(config)
    return simulate_model(config, model, snapshots.plan(config, model), progress)


def simulate_model(config: dict, model: Model, planned: dict, progress: bool) -> RunResult:
    """Run the config's chains of ``model``, evaluating the ``planned`` snapshot statistics."""
    run, dyn = config["run"], config["dynamics"]
    try:
        integrator = integrators.REGISTRY[dyn["integrator"]].build(model)
    except integrators.UnsupportedModel as error:
        raise ConfigError(f"dynamics.integrator: {dyn['integrator']!r} cannot run model {config['model']['name']!r}: "
                          f"{error}; use one of {sorted(set(integrators.REGISTRY) - set(integrators.CONSTRAINED))}")
    hyperparameters = integrators.Hyperparameters(dyn["temperature"], dyn["step_size"], dyn["weight_decay"])
    binnings = {name: Binning(b["min"], b["max"], b["bins"]) for name, b in config["observables"].items()}
    statistic = {"statistics": tuple(fn for fn, _ in planned.values()),
                 "statistic_every": config["analysis"]["snapshot_every"]} if planned else {}
    sizes = RunSizes(**{k: run[k] for k in RunSizes._fields})
    return simulate(model, integrator, hyperparameters, sizes, binnings=binnings, progress=progress, **statistic)


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


def summarise(config: dict, result: RunResult, fits: dict, snapshot_tests: dict, wall_seconds: float) -> dict:
    run = config["run"]
    moments = {}
    for name, m in result.histograms.moments.items():
        n, s1, s2 = m.astype(float).sum(axis=0)
        mean = s1 / n if n else float("nan")
        moments[name] = {"mean": mean, "variance": s2 / n - mean**2 if n else float("nan")}
    return {
        "model": config["model"]["name"],
        "integrator": config["dynamics"]["integrator"],
        "sizes": {"chains": run["chains"], "steps": run["steps"], "burn_in": run["burn_in"], "thin": run["thin"],
                  "observations_per_chain": run["steps"] // run["thin"], "chain_groups": run["chain_groups"],
                  "dtype": run["dtype"], "devices": jax.device_count(), "backend": jax.default_backend()},
        "timing": {"wall_seconds": wall_seconds, "compile_seconds": result.compile_seconds,
                   "run_seconds": result.run_seconds,
                   "chain_steps_per_second": result.chain_steps / result.run_seconds if result.run_seconds else None},
        "divergence": {"diverged": result.diverged, "fraction": result.diverged / run["chains"],
                       "first_step": int(result.diverged_at.min()) if result.diverged else None,
                       "bound": run["divergence_bound"]},
        "out_of_range": {name: {"underflow": int(c[:, 0].sum()), "overflow": int(c[:, -1].sum())}
                         for name, c in result.histograms.counts.items()},
        "moments": moments,
        "significance": config["analysis"]["significance"],
        "fits": fits,
        **snapshot_tests,
    }


def run_and_write(config: dict, out: Path, progress: bool = True) -> dict:
    """Run one experiment and write its outputs into ``out``; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    start = time.perf_counter()
    model = build_model(config)
    planned = snapshots.plan(config, model)
    result = simulate_model(config, model, planned, progress)
    comparisons = analysis.comparisons(config, result)
    fits = analysis.fit_all(config, comparisons)
    snapshot_tests, snapshot_arrays = snapshots.tests(config, model, planned, result)
    summary = summarise(config, result, fits, snapshot_tests, time.perf_counter() - start)
    np.savez_compressed(out / "histograms.npz", **histogram_arrays(result, comparisons), **snapshot_arrays)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plots.plot_fits(out / "density.png", comparisons, fits, result.binnings, result.histograms.counts)
    for name, form in snapshots.FORMS.items():
        if snapshot_tests[name] is not None:
            observable = snapshots.observable(model, form)
            plots.plot_conditional(out / f"{name}.png", snapshot_tests[name], snapshot_arrays,
                                   result.binnings[observable].edges, observable, name, form)
    if len(result.chi_trace["step"]):
        plots.plot_chi_trace(out / "chi.png", result.chi_trace, config["run"]["burn_in"])
    return summary
