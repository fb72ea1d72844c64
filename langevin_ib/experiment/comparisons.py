"""The histogram comparisons of a run: those its plan names (:func:`langevin_ib.experiment.plan.applicable`),
built by the predictions that declare them (:class:`langevin_ib.statistics.comparison.HistogramTest`) and
from the forms' predicted histograms (:func:`langevin_ib.statistics.pit.histogram`), then scored
(:func:`langevin_ib.statistics.comparison.fit`)."""

from __future__ import annotations

import numpy as np

from langevin_ib.dynamics.result import RunResult
from langevin_ib.experiment import plan
from langevin_ib.experiment.config import Experiment
from langevin_ib.models.base import Model
from langevin_ib.statistics import comparison as comparison_lib, pit
from langevin_ib.statistics.comparison import Comparison


def build(experiment: Experiment, model: Model, result: RunResult, planned_statistics: dict) -> dict[str, Comparison]:
    """The planned comparisons (``experiment.tests``) of a run that evaluated ``planned_statistics``
    (:func:`langevin_ib.experiment.plan.statistics`)."""
    out, sums = {}, None
    for name in experiment.tests:
        if not name.endswith(plan.HISTOGRAM) and name not in plan.FORMS and name != plan.STEIN:
            out[name] = plan.comparison(experiment, model, name).build(model, experiment.dynamics, result)
        elif name.endswith(plan.HISTOGRAM) and result.chain_statistics is not None and result.statistic_snapshots:
            sums = plan.per_statistic(planned_statistics, result) if sums is None else sums
            form_name = name[: -len(plan.HISTOGRAM)]
            form = plan.FORMS[form_name]
            observable = form.observable(model)
            counts, probabilities = pit.histogram(sums[form_name], ~np.asarray(result.final_state.diverged),
                                                  experiment.run.chain_groups, experiment.observables[observable].bins,
                                                  form)
            out[name] = Comparison(f"{observable} histogram against each hypothesis' prediction averaged over the "
                                   f"samples' full conditionals ({form.condition})", counts, probabilities, (observable,))
    return out


def fit_all(experiment: Experiment, comparisons: dict[str, Comparison]) -> dict:
    """Score every hypothesis of every comparison with the same statistic on the same counts."""
    settings = experiment.analysis
    return comparison_lib.fit(comparisons, settings.significance, settings.min_expected)
