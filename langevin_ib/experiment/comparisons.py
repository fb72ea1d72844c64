"""The histogram comparisons: which histogram of a model is tested against which hypotheses, the
runs each applies to, and the fits.

A :class:`Comparison` holds group counts (G, bins, columns) and, per hypothesis, the predicted
probabilities (bins, columns) conditional on each column. Every comparison is scored with the
same statistic (:func:`langevin_ib.statistics.goodness_of_fit.pearson_test`) so that a wrong hypothesis is
rejected, or not, on the same samples as the right one.
"""

from __future__ import annotations

from typing import Callable, Collection, NamedTuple

import numpy as np

from langevin_ib.experiment.config import Experiment
from langevin_ib.models.base import Model
from langevin_ib.statistics import goodness_of_fit, pit
from langevin_ib.dynamics import integrators
from langevin_ib.predictions import theory_harmonic, theory_uv
from langevin_ib.dynamics.runner import RunResult


class Comparison(NamedTuple):
    description: str
    counts: np.ndarray  # (G, bins, columns)
    probabilities: dict  # hypothesis -> (bins, columns)
    axes: tuple  # observable names: (binned,) or (binned, conditioned on)


class Test(NamedTuple):
    """One comparison of a model (:data:`TESTS`): ``build(experiment, result) -> Comparison``, the
    runs it applies to (``chains``, as :data:`langevin_ib.statistics.pit.CHAINS`) and the observables
    it needs histogrammed."""

    build: Callable[[Experiment, RunResult], Comparison]
    chains: str
    observables: tuple[str, ...]

    def applies(self, model: Model, dynamics, observed: Collection[str]) -> bool:
        """The rule of :meth:`langevin_ib.statistics.pit.Form.applies`, for a histogram."""
        return pit.CHAINS[self.chains](dynamics) and all(name in observed for name in self.observables)


def in_range(result: RunResult, name: str) -> np.ndarray:
    """(G, bins, 1) in-range counts of one observable."""
    return result.histograms.counts[name][:, 1:-1, None]


def _uv_kwargs(experiment: Experiment) -> dict:
    dyn = experiment.dynamics
    return dict(temperature=dyn.temperature, target=experiment.model.fields["target"], weight_decay=dyn.weight_decay)


def one_observable(result: RunResult, name: str, description: str, bin_probabilities: Callable,
                   hypotheses: tuple[str, ...], **kwargs) -> Comparison:
    """The histogram of observable ``name`` against ``bin_probabilities(edges, hypothesis, **kwargs)``."""
    edges = result.binnings[name].edges
    return Comparison(description, in_range(result, name),
                      {h: bin_probabilities(edges, h, **kwargs)[:, None] for h in hypotheses}, (name,))


def uv_slice(experiment: Experiment, result: RunResult) -> Comparison:
    """θ on the slice (theory_uv.slice_probabilities, docs/theory.md)."""
    return one_observable(result, "theta", "θ histogram of chains constrained to the slice χ = 0",
                          theory_uv.slice_probabilities, theory_uv.SLICE_HYPOTHESES, **_uv_kwargs(experiment))


def uv_level_set(experiment: Experiment, result: RunResult) -> Comparison:
    """θ on each level set of χ (theory_uv.level_set_probabilities, docs/theory.md)."""
    theta_edges, chi_edges = (result.binnings[n].edges for n in result.joint)
    kwargs = _uv_kwargs(experiment)
    return Comparison(
        "θ histogram conditioned on level sets of χ (one column per χ bin)",
        result.histograms.joint,
        {h: theory_uv.level_set_probabilities(theta_edges, chi_edges, h, **kwargs) for h in theory_uv.HYPOTHESES},
        result.joint,
    )


def uv_marginal(experiment: Experiment, result: RunResult) -> Comparison:
    """θ over all χ under weight decay (theory_uv.bin_probabilities, docs/theory.md §4b)."""
    return one_observable(result, "theta", "θ histogram, all χ: the weight-decayed Gibbs measure is normalisable",
                          theory_uv.bin_probabilities, theory_uv.HYPOTHESES, **_uv_kwargs(experiment))


def harmonic_marginal(experiment: Experiment, result: RunResult) -> Comparison:
    """x against the discrete and continuous Gaussian stationary laws (theory_harmonic)."""
    dyn = experiment.dynamics
    return one_observable(result, "x", "x histogram against Gaussian stationary laws", theory_harmonic.bin_probabilities,
                          theory_harmonic.HYPOTHESES, temperature=dyn.temperature,
                          stiffness=experiment.model.fields["stiffness"], step_size=dyn.step_size,
                          weak_order=integrators.SPECS[dyn.integrator].weak_order)


TESTS = {  # model name -> comparison name -> Test; a model not listed has histograms only
    "uv": {"slice": Test(uv_slice, "projected", ("theta",)),
           "level_set": Test(uv_level_set, "free", ("theta", "chi")),
           "marginal": Test(uv_marginal, "weight_decayed", ("theta",))},
    "harmonic": {"marginal": Test(harmonic_marginal, "any", ("x",))},
}


def build(experiment: Experiment, result: RunResult) -> dict[str, Comparison]:
    """The planned comparisons (``experiment.tests``) of a run."""
    tests = TESTS.get(experiment.model.name, {})
    return {name: test.build(experiment, result) for name, test in tests.items() if name in experiment.tests}


def fit_all(experiment: Experiment, comparisons: dict[str, Comparison]) -> dict:
    """Score every hypothesis of every comparison with the same statistic on the same counts."""
    settings = experiment.analysis
    fits = {}
    for name, comparison in comparisons.items():
        hypotheses = {
            hypothesis: goodness_of_fit.pearson_test(
                comparison.counts, probabilities, significance=settings.significance,
                min_expected=settings.min_expected)
            for hypothesis, probabilities in comparison.probabilities.items()
        }
        fits[name] = {"description": comparison.description, "axes": list(comparison.axes), "hypotheses": hypotheses}
    return fits
