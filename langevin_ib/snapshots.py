"""The per-chain statistics evaluated every ``analysis.snapshot_every`` observations and summed along
each chain (:func:`langevin_ib.runner.simulate`): the Stein statistics (:mod:`langevin_ib.stein`)
of every model with a group action, and for every rescaling model whose strength is histogrammed
the full-conditional PIT of the strengths on level sets of χ (:mod:`langevin_ib.conditionals`)
and, with weight decay, with χ integrated over the fibre (:mod:`langevin_ib.fibre`).
The runner concatenates them per chain in the order of :func:`plan`."""

from __future__ import annotations

from typing import Callable

import numpy as np

from langevin_ib import conditionals, fibre, integrators, stein
from langevin_ib.histograms import Binning
from langevin_ib.models.base import Model
from langevin_ib.runner import RunResult


FORMS = {"conditional": conditionals.LEVEL_SET, "fibre": fibre.MARGINAL}


def _strength_binning(config: dict, model: Model) -> Binning | None:
    if model.chain is None or model.chain.observable not in config["observables"]:
        return None
    b = config["observables"][model.chain.observable]
    return Binning(b["min"], b["max"], b["bins"])


def plan(config: dict, model: Model) -> dict[str, tuple[Callable, int]]:
    """name -> (fn(key, params) -> (width,), width) for every statistic this run evaluates."""
    if model.group is None or config["analysis"]["snapshot_every"] == 0:
        return {}
    dyn = config["dynamics"]
    out = {"stein": (stein.statistic(model, dyn["temperature"], dyn["weight_decay"]),
                     len(stein.HYPOTHESES) * len(stein.FIELDS))}
    binning = _strength_binning(config, model)
    if binning is None:
        return out
    for name, form in FORMS.items():
        if form is fibre.MARGINAL and (dyn["weight_decay"] <= 0 or dyn["integrator"] in integrators.CONSTRAINED):
            continue  # no marginal over the fibre without weight decay, nor for chains held at χ = 0
        pit = conditionals.statistic(model, dyn["temperature"], dyn["weight_decay"], binning, form)
        out[name] = (lambda key, params, pit=pit: pit(params), conditionals.width(binning.bins, form))
    return out


def tests(config: dict, model: Model, planned: dict, result: RunResult) -> tuple[dict, dict]:
    """({"stein": …, "conditional": …, "fibre": …} summaries, arrays for histograms.npz) of a run
    that evaluated ``planned`` (:func:`plan`); None where nothing ran."""
    out, arrays = {"stein": None, **{name: None for name in FORMS}}, {}
    if result.chain_statistics is None or result.statistic_snapshots == 0:
        return out, arrays
    analysis, alive = config["analysis"], ~np.asarray(result.final_state.diverged)
    start = 0
    for name, (_, width) in planned.items():
        sums = result.chain_statistics[:, start:start + width]
        start += width
        if name == "stein":
            out[name] = stein.tests(sums, result.statistic_snapshots, alive, analysis["significance"])
        else:
            binning = _strength_binning(config, model)
            out[name], pit_arrays = conditionals.tests(
                sums, alive, config["run"]["chain_groups"], binning, analysis["significance"],
                analysis["min_expected"], FORMS[name])
            arrays.update({f"{name}_{k}": v for k, v in pit_arrays.items()})
            if name == "fibre":
                dyn = config["dynamics"]
                out[name]["quadrature_error_log_density"] = fibre.quadrature_error(
                    model, dyn["temperature"], dyn["weight_decay"], binning)
    return out, arrays
