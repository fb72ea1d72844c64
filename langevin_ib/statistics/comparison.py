"""Histogram comparisons: a run's group counts against each hypothesis' predicted probabilities, every
hypothesis scored with the same statistic (:func:`langevin_ib.statistics.goodness_of_fit.pearson_test`)
on the same counts, so that a wrong hypothesis is rejected, or not, on the samples the right one is.

A prediction declares the comparisons it can make as :class:`HistogramTest` values (as it declares
its full conditionals as :class:`langevin_ib.statistics.pit.Form` values); the planner runs every
declaration whose :meth:`HistogramTest.applies` holds for the model, so a user's model gets every
comparison its declarations allow.
"""

from __future__ import annotations

from typing import Any, Callable, Collection, NamedTuple

import numpy as np

from langevin_ib.models.base import Model
from langevin_ib.statistics import goodness_of_fit
from langevin_ib.statistics.pit import CHAINS


class Comparison(NamedTuple):
    description: str
    counts: np.ndarray  # (G, bins, columns)
    probabilities: dict  # hypothesis -> (bins, columns), conditional on each column
    axes: tuple  # observable names: (binned,) or (binned, conditioned on)


class HistogramTest(NamedTuple):
    """A histogram comparison a prediction declares: ``build(model, dynamics, result) -> Comparison``
    (``result``: a run's histograms, ``.binnings``, ``.histograms``, ``.joint``), the runs it applies
    to (``chains``, as :data:`langevin_ib.statistics.pit.CHAINS`), the observables it needs
    histogrammed and ``supports(model)``, whether the model declares what it needs."""

    build: Callable[[Model, Any, Any], Comparison]
    chains: str
    observables: tuple[str, ...]
    supports: Callable[[Model], bool] = lambda model: True

    def applies(self, model: Model, dynamics, observed: Collection[str]) -> bool:
        """The rule of :meth:`langevin_ib.statistics.pit.Form.applies`, for a histogram."""
        return (CHAINS[self.chains](dynamics) and all(name in observed for name in self.observables)
                and self.supports(model))


def in_range(result, name: str) -> np.ndarray:
    """(G, bins, 1) in-range counts of one observable."""
    return result.histograms.counts[name][:, 1:-1, None]


def one_observable(result, name: str, description: str, bin_probabilities: Callable, hypotheses: tuple[str, ...],
                   **kwargs) -> Comparison:
    """The histogram of observable ``name`` against ``bin_probabilities(edges, hypothesis, **kwargs)``."""
    edges = result.binnings[name].edges
    return Comparison(description, in_range(result, name),
                      {h: bin_probabilities(edges, h, **kwargs)[:, None] for h in hypotheses}, (name,))


def fit(comparisons: dict[str, Comparison], significance: float, min_expected: float) -> dict:
    """Score every hypothesis of every comparison with the same statistic on the same counts."""
    fits = {}
    for name, comparison in comparisons.items():
        hypotheses = {
            hypothesis: goodness_of_fit.pearson_test(comparison.counts, probabilities, significance=significance,
                                                     min_expected=min_expected)
            for hypothesis, probabilities in comparison.probabilities.items()
        }
        fits[name] = {"description": comparison.description, "axes": list(comparison.axes), "hypotheses": hypotheses}
    return fits
