"""The tests a run plans, decided by one rule (:func:`applicable`), and the evaluation of its
snapshot statistics.

The rule asks each test's own declaration: the histogram comparisons the predictions declare
(:data:`COMPARISONS`, :meth:`langevin_ib.statistics.comparison.HistogramTest.applies`: the model's
declared closed form, the chains, the observables histogrammed) and the full-conditional forms of
:data:`FORMS` (:meth:`langevin_ib.statistics.pit.Form.applies`: chains free, weight-decayed or
projected, the variable's observable histogrammed, the model's shapes). Each applicable form of
:data:`HISTOGRAM_FORMS` whose observable no comparison histograms also gives a comparison,
``<form>_histogram``: the observable's
histogram against the form's predicted one (:func:`langevin_ib.statistics.pit.histogram`), so a
model with a rescaling chain and no closed form still gets a histogram test. The snapshot statistics, evaluated every
``analysis.snapshot_every`` observations and summed along each chain
(:func:`langevin_ib.dynamics.grid.simulate_grid`), need a group action: the Stein statistics
(:mod:`langevin_ib.statistics.stein`) of every such model, and the PIT of each applicable form
(:mod:`langevin_ib.statistics.pit`, docs/theory.md §4): a rescaling strength on level sets of χ
(:mod:`langevin_ib.predictions.rescaling.level_set`) and over the fibre
(:mod:`langevin_ib.predictions.rescaling.fibre`), a pair's balance ratio
(:mod:`langevin_ib.predictions.rescaling.balance`), and a GL(r) model's singular values on the slice,
on level sets and over the fibre, and its mode energies (:mod:`langevin_ib.predictions.general_linear`).
The runner concatenates the statistics per chain in the order of the plan.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from langevin_ib.experiment.config import Experiment
from langevin_ib.predictions import theory_harmonic, theory_uv
from langevin_ib.predictions.rescaling import balance, level_set, fibre
from langevin_ib.statistics import pit, stein
from langevin_ib.predictions.general_linear import mode_energies, singular_fibre, singular_level_curves, singular_level_sets, singular_modes
from langevin_ib.models.base import Model
from langevin_ib.dynamics.kernel import Staged
from langevin_ib.dynamics.result import RunResult

STEIN = "stein"
HISTOGRAM = "_histogram"  # suffix of a form's histogram comparison
HISTOGRAM_FORMS = ("conditional",)  # the forms whose predicted histogram is tested (checked on examples/vector_scalar)
COMPARISONS = (("slice", theory_uv.SLICE), ("level_set", theory_uv.LEVEL_SET), ("marginal", theory_uv.MARGINAL),
               ("marginal", theory_harmonic.MARGINAL))  # (name, declaration): a model gets those that apply
FORMS = {"conditional": level_set.LEVEL_SET, "fibre": fibre.MARGINAL, "balance": balance.MARGINAL,
         "singular": singular_modes.ON_SLICE, "singular_level_set": singular_level_sets.LEVEL_SET,
         "singular_level_curve": singular_level_curves.LEVEL_CURVE,
         "singular_fibre": singular_fibre.MARGINAL, "mode_energy_level_set": mode_energies.LEVEL_SET}


def applicable(experiment: Experiment, model: Model) -> tuple[str, ...]:
    """The names of the tests a run of ``experiment`` on ``model`` makes: the comparisons that apply, the
    forms' histogram comparisons, then the Stein statistics and the forms, in the order of :data:`FORMS`."""
    dynamics, observed = experiment.dynamics, experiment.observables
    if dynamics.stochastic_gradient:  # the Gibbs tests do not apply; experiment.sgd_tests has their own
        return ()
    applied = [(name, test) for name, test in COMPARISONS if test.applies(model, dynamics, observed)]
    if not (model.group is not None and experiment.analysis.snapshot_every):
        return tuple(name for name, _ in applied)
    compared = {observable for _, test in applied for observable in test.observables}
    forms = [name for name, form in FORMS.items() if form.applies(model, dynamics, observed)]
    histograms = [name + HISTOGRAM for name in forms
                  if name in HISTOGRAM_FORMS and FORMS[name].observable(model) not in compared]
    return (*(name for name, _ in applied), *histograms, STEIN, *forms)


def comparison(experiment: Experiment, model: Model, name: str):
    """The declaration of the planned comparison ``name`` for ``model``."""
    return next(test for test_name, test in COMPARISONS
                if test_name == name and test.applies(model, experiment.dynamics, experiment.observables))


def per_statistic(planned_statistics: dict, result: RunResult) -> dict[str, np.ndarray]:
    """name -> (chains, width) sums of each planned snapshot statistic of a run (:func:`statistics`)."""
    offsets = np.cumsum([0, *(width for _, width in planned_statistics.values())])
    return {name: result.chain_statistics[:, start:stop]
            for name, start, stop in zip(planned_statistics, offsets[:-1], offsets[1:])}


def planned(experiment: Experiment, model: Model) -> Experiment:
    """``experiment`` with its ``tests`` (:func:`applicable`)."""
    return dataclasses.replace(experiment, tests=applicable(experiment, model))


def forms(experiment: Experiment) -> dict[str, pit.Form]:
    """The planned full-conditional forms, by name."""
    return {name: form for name, form in FORMS.items() if name in experiment.tests}


def widths(experiment: Experiment, model: Model) -> dict[str, int]:
    """name -> width of every planned snapshot statistic, without building any."""
    out = {STEIN: stein.WIDTH} if STEIN in experiment.tests else {}
    out.update({name: pit.width(experiment.observables[form.observable(model)].bins, form)
                for name, form in forms(experiment).items()})
    return out


def statistics(experiment: Experiment, model: Model) -> dict[str, tuple[Callable | Staged, int]]:
    """name -> (fn(key, params) -> (width,) or a :class:`~langevin_ib.dynamics.kernel.Staged` one, width) for
    every planned snapshot statistic: the PIT forms staged (:func:`langevin_ib.statistics.pit.staged`), so
    that a form's table is built once per evaluation over the chains, in the program that evaluates it."""
    dyn, width = experiment.dynamics, widths(experiment, model)
    out = {STEIN: (stein.statistic(model, dyn.temperature, dyn.weight_decay), width[STEIN])} if STEIN in width else {}
    for name, form in forms(experiment).items():
        shared, per_chain = pit.staged(model, dyn.temperature, dyn.weight_decay,
                                       experiment.observables[form.observable(model)], form)
        out[name] = (Staged(shared, lambda table, key, params, per_chain=per_chain: per_chain(table, params)), width[name])
    return out


def tests(experiment: Experiment, model: Model, planned_statistics: dict, result: RunResult) -> tuple[dict, dict]:
    """({"stein": …, and one entry per key of FORMS} summaries, arrays for histograms.npz) of a run
    that evaluated ``planned_statistics`` (:func:`statistics`); None where nothing ran."""
    out, arrays = {STEIN: None, **{name: None for name in FORMS}}, {}
    if result.chain_statistics is None or result.statistic_snapshots == 0:
        return out, arrays
    settings, dyn, alive = experiment.analysis, experiment.dynamics, ~np.asarray(result.final_state.diverged)
    for name, sums in per_statistic(planned_statistics, result).items():
        if name == STEIN:
            out[name] = stein.tests(sums, result.statistic_snapshots, alive, settings.significance)
            continue
        form = FORMS[name]
        bins = experiment.observables[form.observable(model)]
        out[name], pit_arrays = pit.tests(sums, alive, experiment.run.chain_groups, bins, settings.significance,
                                          settings.min_expected, form)
        arrays.update({f"{name}_{k}": v for k, v in pit_arrays.items()})
        if form.error is not None:
            out[name]["quadrature_error_log_density"] = form.error(model, dyn.temperature, dyn.weight_decay, bins)
    return out, arrays
