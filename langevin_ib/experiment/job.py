"""One experiment (:class:`langevin_ib.experiment.config.Experiment`): simulate, fit, and write
config.yaml, summary.json, histograms.npz and the figures into an output folder (schema in README.md)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from langevin_ib.experiment import (comparisons as comparisons_lib, paper_metrics, paper_plots, plan, plots, sgd_stationary,
                                    sgd_tests, verdicts, window)
from langevin_ib.experiment.config import Experiment
from langevin_ib import models
from langevin_ib.dynamics import grid, integrators, kernel as kernel_lib, memory, readout_bands
from langevin_ib.base import ConfigError
from langevin_ib.models.base import Model
from langevin_ib.dynamics.kernel import CHI_QUANTILES, Budget, RunSizes
from langevin_ib.dynamics.result import RunResult


def precision(experiment: Experiment):
    """A context in which JAX computes in the experiment's run.dtype: 64-bit inside the block for float64,
    32-bit for float32, and the global ``jax_enable_x64`` as it was found once the block ends. Build,
    simulate and analyse a run inside it."""
    return jax.enable_x64(experiment.run.dtype == "float64")


def model_config(experiment: Experiment) -> dict:
    """The model's config as its module's ``build``/``arrays``/``bind`` take it: its name and fields."""
    return {"name": experiment.model.name, **experiment.model.fields}


def build_model(experiment: Experiment) -> Model:
    """The experiment's model in its run.dtype (built in :func:`precision`; compute with it there too)."""
    with precision(experiment):
        return models.lookup(experiment.model.name).build(model_config(experiment), jax.numpy.dtype(experiment.run.dtype))


def prepare(experiment: Experiment) -> tuple[Experiment, Model]:
    """The experiment with its plan (:func:`langevin_ib.experiment.plan.planned`) and its built model."""
    model = build_model(experiment)
    return plan.planned(experiment, model), model


def execute(experiment: Experiment, progress: bool = True) -> RunResult:
    """Build the model and integrator of the experiment and run the chains (in :func:`precision`)."""
    with precision(experiment):
        experiment, model = prepare(experiment)
        return simulate_model(experiment, model, progress)


def build_integrator(experiment: Experiment, model: Model) -> integrators.Integrator:
    """The experiment's integrator for ``model``; a ConfigError where it cannot run the model."""
    dyn = experiment.dynamics
    try:
        return integrators.build(dyn.integrator, model, dyn.minibatch, noise=dyn.noise)
    except integrators.UnsupportedModel as error:
        raise ConfigError(f"dynamics.integrator: {dyn.integrator!r} cannot run model {experiment.model.name!r}: "
                          f"{error}; use one of {sorted(set(integrators.REGISTRY) - set(integrators.CONSTRAINED))}")


def hyperparameters_of(experiment: Experiment) -> integrators.Hyperparameters:
    dyn = experiment.dynamics
    return integrators.Hyperparameters(dyn.temperature, dyn.step_size, dyn.weight_decay)


def statistics_of(experiment: Experiment, model: Model):
    """``h -> statistics``: the planned snapshot statistics of the point with hyperparameters ``h``,
    temperature and weight decay taken from ``h`` (traced), in a single run as in a sweep, so that a
    sweep point and its run alone evaluate one program."""

    def statistics(h: integrators.Hyperparameters) -> tuple:
        values = {name: getattr(h, name) for name in ("temperature", "weight_decay")}
        point = dataclasses.replace(experiment, dynamics=dataclasses.replace(experiment.dynamics, **values))
        return tuple(fn for fn, _ in plan.statistics(point, model).values())
    return statistics


def chunk_statistics_of(experiment: Experiment, model: Model) -> dict | None:
    """The chunk statistics of the run: the SGD bands for a stochastic-gradient run, else the default χ trace
    and, for a model with a readout, its bands over time (so Langevin ablations draw the same panels)."""
    if experiment.dynamics.stochastic_gradient:
        return sgd_tests.chunk_statistics(model)
    if model.readout is None:
        return None
    return {**({"chi": kernel_lib.chi_quantiles} if model.symmetry is not None else {}), "readout": readout_bands.bands}


def sizes_of(experiment: Experiment) -> RunSizes:
    return RunSizes(**{k: getattr(experiment.run, k) for k in RunSizes._fields})


def budget_of(experiments: list[Experiment]) -> Budget | None:
    """The per-point budget of grid points whose durations are given in time (their steps depend on η;
    the thinning an int where given in steps), None where every duration is in steps (:class:`Budget`)."""
    if not experiments[0].run.in_time:
        return None
    runs = [e.run for e in experiments]
    thin = runs[0].thin if runs[0].thin_time is None else np.asarray([r.thin for r in runs])
    return Budget(np.asarray([r.burn_in for r in runs]), thin, np.asarray([r.steps // r.thin for r in runs]))


def data_of(experiment: Experiment, points: list[Experiment]) -> tuple[Callable, Any] | None:
    """(parts, arrays) of the grid ``points`` of the planned ``experiment`` whose model module draws its data
    in ``arrays(cfg)`` and reads it through ``bind(cfg, arrays, dtype)`` (docs/sweeps.md, "Ensembles over
    data sets"): each point's host-drawn arrays stacked on a leading axis, and ``parts(arrays) -> (model,
    integrator, statistics)`` of one point, built from its arrays in the grid's traced body; None for other
    models (their data are constants of the program)."""
    module = models.lookup(experiment.model.name)
    if not hasattr(module, "arrays"):
        return None
    dtype = jax.numpy.dtype(experiment.run.dtype)

    def parts(arrays) -> tuple:
        model = module.bind(model_config(experiment), arrays, dtype)
        return model, build_integrator(experiment, model), statistics_of(experiment, model)

    drawn = [module.arrays(model_config(e)) for e in points]
    return parts, jax.tree.map(lambda *a: np.stack(a), *drawn)


def simulate_model(experiment: Experiment, model: Model, progress: bool, checkpoint=None) -> RunResult:
    """Run the planned experiment's chains of ``model`` as a grid of one point
    (:func:`langevin_ib.dynamics.grid.simulate_run`, the path every sweep point takes too, its data
    arrays bound in the program where the model declares them: :func:`data_of`), saving
    ``checkpoint`` (a :class:`langevin_ib.dynamics.checkpoint.Checkpointer`) at chunk boundaries."""
    return grid.simulate_run(model, build_integrator(experiment, model), hyperparameters_of(experiment),
                             sizes_of(experiment), binnings=dict(experiment.observables),
                             statistics=statistics_of(experiment, model),
                             statistic_every=experiment.analysis.snapshot_every,
                             chunk_statistics=chunk_statistics_of(experiment, model), progress=progress,
                             checkpoint=checkpoint, per_point=budget_of([experiment]), data=data_of(experiment, [experiment]))


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


DIVERGED_WARNING = 0.01  # above this fraction of diverged chains the verdicts carry a caveat


def warnings_of(experiment: Experiment, result: RunResult) -> list[str]:
    """The caveats of a run's verdicts: diverged chains above :data:`DIVERGED_WARNING` of the run."""
    run = experiment.run
    fraction = result.diverged / run.chains
    if fraction <= DIVERGED_WARNING:
        return []
    return [f"{result.diverged} of {run.chains} chains ({fraction:.0%}) diverged (left |theta| <= run.divergence_bound="
            f"{run.divergence_bound:g} or became non-finite); the verdicts describe the surviving chains, a selected "
            "sample, not the stationary law"]


def summarise(experiment: Experiment, result: RunResult, fits: dict, snapshot_tests: dict, wall_seconds: float) -> dict:
    run = experiment.run
    moments = {}
    for name, m in result.histograms.moments.items():
        n, s1, s2 = m.astype(float).sum(axis=0)
        moments[name] = ({"mean": s1 / n, "variance": s2 / n - (s1 / n) ** 2} if n else
                         {"mean": None, "variance": None, "reason": "no observation (every chain diverged before one)"})
    return {
        "model": experiment.model.name,
        "integrator": experiment.dynamics.integrator,
        "sizes": {"chains": run.chains, "steps": run.steps, "burn_in": run.burn_in, "thin": run.thin,
                  **window.durations(experiment), "observations_per_chain": run.steps // run.thin, "chain_groups": run.chain_groups,
                  "dtype": run.dtype, "devices": jax.device_count(), "backend": jax.default_backend()},
        "timing": {"wall_seconds": wall_seconds, "compile_seconds": result.compile_seconds,
                   "run_seconds": result.run_seconds,
                   "chain_steps_per_second": result.chain_steps / result.run_seconds if result.run_seconds else None},
        "divergence": {"diverged": result.diverged, "fraction": result.diverged / run.chains,
                       "first_step": int(result.diverged_at.min()) if result.diverged else None,
                       "bound": run.divergence_bound},
        "warnings": warnings_of(experiment, result),
        "out_of_range": {name: {"underflow": int(c[:, 0].sum()), "overflow": int(c[:, -1].sum())}
                         for name, c in result.histograms.counts.items()},
        "moments": moments,
        "significance": experiment.analysis.significance,
        "fits": fits,
        **snapshot_tests,
    }


def strict(value: Any) -> Any:
    """``value`` as strict JSON data: every non-finite number becomes null, and a mapping that held one
    gains a ``reason`` (unless it has one) naming the undefined keys."""
    if isinstance(value, dict):
        out = {key: strict(item) for key, item in value.items()}
        undefined = [str(key) for key, item in value.items() if isinstance(item, (float, np.floating))
                     and not math.isfinite(item)]
        if undefined and "reason" not in out:
            out["reason"] = "not a finite number (nothing to estimate it from): " + ", ".join(undefined)
        return out
    if isinstance(value, (list, tuple, np.ndarray)):
        return [strict(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_json(path: Path, summary: dict) -> None:
    path.write_text(json.dumps(strict(summary), indent=2, allow_nan=False))


def check_memory(experiment: Experiment, model: Model, log: Callable[[str], None] | None,
                 points: int = 1) -> tuple[memory.Estimate, int]:
    """The run's memory estimate (:mod:`langevin_ib.dynamics.memory`) and the passes that ``points``
    grid points of it need (as many points per pass as fit in the memory available); ``log``
    receives the run's sizes and estimate in one line. A ConfigError where not even one point fits;
    nothing is built or compiled. A single run is one point; a sweep's or batch's group many."""
    run = experiment.run
    width = sum(plan.widths(experiment, model).values())
    estimate = memory.estimate(model, build_integrator(experiment, model), hyperparameters_of(experiment), run.chains,
                               run.chain_groups, dict(experiment.observables), width)
    free, where = memory.available()
    bins = ", ".join(f"{name} {b.bins}" for name, b in experiment.observables.items())
    if log is not None:
        log(f"run: {run.chains} chains x {run.burn_in + run.steps} steps, {run.chain_groups} chain groups, bins {bins}, "
            f"{width} snapshot statistics per chain; memory estimate {estimate.describe()}"
            + (f" of {memory.size(free)} available ({where})" if free is not None else ""))
    passes = memory.passes(points, estimate.total, free)
    if passes:
        return estimate, passes
    widest = max(experiment.observables, key=lambda name: experiment.observables[name].bins)
    raise ConfigError(f"run.chains={run.chains}, observables.{widest}.bins={experiment.observables[widest].bins}: "
                      f"the run needs an estimated {estimate.describe()} but {memory.size(free)} is available "
                      f"({where}); use fewer chains (run.chains), fewer bins (observables.<name>.bins) or groups "
                      "(run.chain_groups), or analysis.snapshot_every=0 (no snapshot statistics)")


def run_and_write(experiment: Experiment, out: Path | None, progress: bool = True,
                  log: Callable[[str], None] | None = print, resume: bool = False) -> "Analysis":
    """Run one experiment in its precision (:func:`precision`) and, unless ``out`` is None, write its
    outputs into a new folder ``out`` (an earlier run's folder there is replaced only once this run has
    written everything); returns its :class:`Analysis`, whose summary's ``conclusion``
    (:func:`langevin_ib.experiment.verdicts.conclusion`) reads its verdicts. ``log`` receives the line of
    sizes and memory estimate. The run checkpoints into ``out`` (:mod:`langevin_ib.dynamics.checkpoint`),
    which survives a kill; ``resume`` continues from it."""
    from langevin_ib.dynamics import checkpoint as checkpoint_lib
    from langevin_ib.experiment import output

    if out is None:
        with precision(experiment):
            return run(experiment, progress, log)
    with output.staged(out, "run") as staging:
        checkpointer = checkpoint_lib.Checkpointer(out, experiment.to_dict(), experiment.run.checkpoint_every_seconds,
                                                   experiment.run.checkpoint_every_chunks)
        if not resume:
            checkpointer.remove()
        with checkpointer.signals():
            with precision(experiment):
                analysed = run(experiment, progress, log, checkpointer)
            write_outputs(staging, analysed)
        return analysed


def run(experiment: Experiment, progress: bool, log: Callable[[str], None] | None, checkpoint=None) -> "Analysis":
    """Simulate, fit and test one run (inside :func:`precision`), saving ``checkpoint`` at chunk boundaries."""
    start = time.perf_counter()
    experiment, model = prepare(experiment)
    check_memory(experiment, model, log)
    if log is not None and (warning := window.burn_in_warning(experiment, model)):
        log(warning)
    statistics = plan.statistics(experiment, model)
    result = simulate_model(experiment, model, progress, checkpoint)
    return analyse(experiment, model, statistics, result, start)


def write_outputs(out: Path, analysed: "Analysis") -> None:
    """config.yaml, histograms.npz, summary.json and the figures of one run (or sweep or batch point) into ``out``."""
    from langevin_ib.experiment import output

    (out / "config.yaml").write_text(analysed.experiment.to_yaml())
    np.savez_compressed(out / "histograms.npz", **analysed.arrays)
    write_json(out / "summary.json", analysed.summary)
    output.save_figures(out, figures(analysed))


class Analysis(NamedTuple):
    """Everything a run's outputs are made of (:func:`analyse`)."""

    experiment: Experiment  # planned
    model: Model
    result: RunResult
    comparisons: dict
    fits: dict
    snapshot_tests: dict
    snapshot_arrays: dict
    sgd_arrays: dict
    summary: dict  # summary.json
    arrays: dict  # histograms.npz


def analyse(experiment: Experiment, model: Model, statistics: dict, result: RunResult, started: float,
            integrator: integrators.Integrator | None = None) -> Analysis:
    """Fit, test and summarise a finished run of the planned ``experiment`` (``statistics``: its planned
    snapshot statistics; ``started``: the ``time.perf_counter()`` its wall time counts from; ``integrator``:
    the one that ran it, built here if not given; a sweep passes its own, so that the re-taken steps of
    its points share one compiled function). A single run, a sweep point and a batch point are analysed
    by this one function."""
    comparisons = comparisons_lib.build(experiment, model, result, statistics)
    fits = comparisons_lib.fit_all(experiment, comparisons)
    snapshot_tests, snapshot_arrays = plan.tests(experiment, model, statistics, result)
    integrator = build_integrator(experiment, model) if integrator is None else integrator
    sgd_summary, sgd_arrays = (sgd_tests.analyse(experiment, model, result, integrator, hyperparameters_of(experiment))
                               if experiment.dynamics.stochastic_gradient else ({}, {}))
    readout_summary, readout_arrays = paper_metrics.readout(model, result,
                                                            integrator.position(result.final_state.integrator))
    summary = summarise(experiment, result, fits, snapshot_tests, time.perf_counter() - started)
    summary.update(sgd_summary, **readout_summary)
    summary["stationarity"] = window.stationarity(experiment, model, result)
    summary = verdicts.with_stationarity(summary)
    summary["conclusion"] = verdicts.conclusion(summary)
    arrays = {**histogram_arrays(result, comparisons), **snapshot_arrays, **sgd_arrays, **readout_arrays}
    return Analysis(experiment, model, result, comparisons, fits, snapshot_tests, snapshot_arrays, sgd_arrays,
                    summary, arrays)


def figures(analysed: Analysis) -> dict:
    """A run's figures by name (each saved as <name>.png): density, one per conditional test, bands (SGD), chi."""
    experiment, model, result = analysed.experiment, analysed.model, analysed.result
    laws = sgd_stationary.comparisons(analysed.summary, analysed.sgd_arrays)  # SGD's, scored outside the fits
    out = {"density": plots.plot_fits({**analysed.comparisons, **laws},
                                      {**analysed.fits, **{name: analysed.summary[name] for name in laws}},
                                      result.binnings, result.histograms.counts)}
    for name, form in plan.forms(experiment).items():
        if analysed.snapshot_tests[name] is not None:
            observable = form.observable(model)
            out[name] = plots.plot_conditional(analysed.snapshot_tests[name], analysed.snapshot_arrays,
                                               result.binnings[observable].edges, observable, name, form)
    if analysed.sgd_arrays.get("bands_step") is not None:
        out["bands"] = sgd_tests.plot_bands(analysed.sgd_arrays, model, experiment.run.burn_in)
    if "readout" in analysed.summary:
        readout = {"readout": paper_plots.plot_readout(analysed.arrays, analysed.summary["readout"]["metrics"],
                                                       experiment.model.name),
                   "readout_bands": paper_plots.plot_readout_bands(analysed.arrays, experiment.run.burn_in)}
        out.update({name: figure for name, figure in readout.items() if figure is not None})
    if len(result.chi_trace["step"]):
        out["chi"] = plots.plot_chi_trace(result.chi_trace, experiment.run.burn_in)
    return out
