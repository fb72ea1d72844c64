"""Which histogram each model is tested on, against which hypotheses, and the fits.

A :class:`Comparison` holds group counts (G, bins, columns) and, per hypothesis, the predicted
probabilities (bins, columns) conditional on each column. Every comparison is scored with the
same statistic (:func:`langevin_ib.statistics.goodness_of_fit.pearson_test`) so that a wrong hypothesis is
rejected, or not, on the same samples as the right one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from langevin_ib.statistics import goodness_of_fit
from langevin_ib.dynamics import integrators
from langevin_ib.predictions import theory_harmonic, theory_uv
from langevin_ib.dynamics.runner import RunResult


class Comparison(NamedTuple):
    description: str
    counts: np.ndarray  # (G, bins, columns)
    probabilities: dict  # hypothesis -> (bins, columns)
    axes: tuple  # observable names: (binned,) or (binned, conditioned on)


def in_range(result: RunResult, name: str) -> np.ndarray:
    """(G, bins, 1) in-range counts of one observable."""
    return result.histograms.counts[name][:, 1:-1, None]


def uv_comparisons(config: dict, result: RunResult) -> dict[str, Comparison]:
    dyn, model = config["dynamics"], config["model"]
    kwargs = dict(temperature=dyn["temperature"], target=model["target"], weight_decay=dyn["weight_decay"])
    if dyn["integrator"] in integrators.CONSTRAINED:
        edges = result.binnings["theta"].edges
        return {"slice": Comparison(
            "θ histogram of chains constrained to the slice χ = 0",
            in_range(result, "theta"),
            {h: theory_uv.slice_probabilities(edges, h, **kwargs)[:, None] for h in theory_uv.SLICE_HYPOTHESES},
            ("theta",),
        )}
    out = {}
    if result.joint is not None:
        theta_edges, chi_edges = (result.binnings[n].edges for n in result.joint)
        out["level_set"] = Comparison(
            "θ histogram conditioned on level sets of χ (one column per χ bin)",
            result.histograms.joint,
            {h: theory_uv.level_set_probabilities(theta_edges, chi_edges, h, **kwargs) for h in theory_uv.HYPOTHESES},
            result.joint,
        )
    if dyn["weight_decay"] > 0 and "theta" in result.binnings:
        edges = result.binnings["theta"].edges
        out["marginal"] = Comparison(
            "θ histogram, all χ: the weight-decayed Gibbs measure is normalisable",
            in_range(result, "theta"),
            {h: theory_uv.bin_probabilities(edges, h, **kwargs)[:, None] for h in theory_uv.HYPOTHESES},
            ("theta",),
        )
    return out


def harmonic_comparisons(config: dict, result: RunResult) -> dict[str, Comparison]:
    dyn = config["dynamics"]
    kwargs = dict(temperature=dyn["temperature"], stiffness=config["model"]["stiffness"],
                  step_size=dyn["step_size"], weak_order=integrators.REGISTRY[dyn["integrator"]].WEAK_ORDER)
    edges = result.binnings["x"].edges
    return {"marginal": Comparison(
        "x histogram against Gaussian stationary laws",
        in_range(result, "x"),
        {h: theory_harmonic.bin_probabilities(edges, h, **kwargs)[:, None] for h in theory_harmonic.HYPOTHESES},
        ("x",),
    )}


REGISTRY = {"uv": uv_comparisons, "harmonic": harmonic_comparisons}


def comparisons(config: dict, result: RunResult) -> dict[str, Comparison]:
    """The model's comparisons; none (histograms only) for a model without predictions yet."""
    build = REGISTRY.get(config["model"]["name"])
    return {} if build is None else build(config, result)


def fit_all(config: dict, comparisons: dict[str, Comparison]) -> dict:
    """Score every hypothesis of every comparison with the same statistic on the same counts."""
    analysis = config["analysis"]
    fits = {}
    for name, comparison in comparisons.items():
        hypotheses = {
            hypothesis: goodness_of_fit.pearson_test(
                comparison.counts, probabilities, significance=analysis["significance"],
                min_expected=analysis["min_expected"])
            for hypothesis, probabilities in comparison.probabilities.items()
        }
        fits[name] = {"description": comparison.description, "axes": list(comparison.axes), "hypotheses": hypotheses}
    return fits
