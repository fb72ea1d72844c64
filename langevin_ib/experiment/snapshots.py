"""The per-chain statistics evaluated every ``analysis.snapshot_every`` observations and summed along
each chain (:func:`langevin_ib.dynamics.runner.simulate`): the Stein statistics (:mod:`langevin_ib.statistics.stein`)
of every model with a group action, and for every rescaling model whose strength is histogrammed
the full-conditional PIT of the strengths on level sets of χ (:mod:`langevin_ib.statistics.pit`)
and, with weight decay, with χ integrated over the fibre (:mod:`langevin_ib.predictions.rescaling.fibre`), and of the
balance ratio of a pair that the model observes (:mod:`langevin_ib.predictions.rescaling.balance`), and the singular
values of a GL(r) model: on the slice for projected chains (:mod:`langevin_ib.predictions.general_linear.singular_modes`), on
level sets of χ for free chains (rank 2: :mod:`langevin_ib.predictions.general_linear.singular_level_sets`; rank ≥ 3:
:mod:`langevin_ib.predictions.general_linear.singular_level_curves`) and with the fibre
integrated out for free chains of rank 2 to 5 with weight decay (:mod:`langevin_ib.predictions.general_linear.singular_fibre`), and
the mode energies of a GL(r) model on level sets of χ at any rank (:mod:`langevin_ib.predictions.general_linear.mode_energies`).
The runner concatenates them per chain in the order of :func:`plan`."""

from __future__ import annotations

from typing import Callable

import numpy as np

from langevin_ib.predictions.rescaling import balance, level_set, fibre
from langevin_ib.statistics import pit, stein
from langevin_ib.dynamics import integrators
from langevin_ib.predictions.general_linear import mode_energies, singular_fibre, singular_level_curves, singular_level_sets, singular_modes
from langevin_ib.dynamics.accumulators import Binning
from langevin_ib.models.base import Model
from langevin_ib.dynamics.runner import RunResult


FORMS = {"conditional": level_set.LEVEL_SET, "fibre": fibre.MARGINAL, "balance": balance.MARGINAL,
         "singular": singular_modes.ON_SLICE, "singular_level_set": singular_level_sets.LEVEL_SET,
         "singular_level_curve": singular_level_curves.LEVEL_CURVE,
         "singular_fibre": singular_fibre.MARGINAL, "mode_energy_level_set": mode_energies.LEVEL_SET}


def observable(model: Model, form: pit.Form) -> str | None:
    """The name of the observable that ``form``'s variable is read against; None if the model has none."""
    chain = getattr(model, form.variable.source)
    return None if chain is None else form.variable.observable(chain)


def binning(config: dict, model: Model, form: pit.Form) -> Binning | None:
    """The binning of the observable that ``form``'s variable is read against; None if not histogrammed."""
    name = observable(model, form)
    if name not in config["observables"]:
        return None
    b = config["observables"][name]
    return Binning(b["min"], b["max"], b["bins"])


def plan(config: dict, model: Model) -> dict[str, tuple[Callable, int]]:
    """name -> (fn(key, params) -> (width,), width) for every statistic this run evaluates."""
    if model.group is None or config["analysis"]["snapshot_every"] == 0:
        return {}
    dyn = config["dynamics"]
    out = {"stein": (stein.statistic(model, dyn["temperature"], dyn["weight_decay"]), stein.WIDTH)}
    constrained = dyn["integrator"] in integrators.CONSTRAINED
    applies = {"any": True, "free": not constrained, "weight_decayed": dyn["weight_decay"] > 0 and not constrained,
               "projected": constrained}
    for name, form in FORMS.items():
        bins = binning(config, model, form)
        if bins is None or not applies[form.chains] or not form.supports(model):
            continue
        statistic = pit.statistic(model, dyn["temperature"], dyn["weight_decay"], bins, form)
        out[name] = (lambda key, params, statistic=statistic: statistic(params), pit.width(bins.bins, form))
    return out


def tests(config: dict, model: Model, planned: dict, result: RunResult) -> tuple[dict, dict]:
    """({"stein": …, and one entry per key of FORMS} summaries, arrays for histograms.npz) of a run
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
            bins = binning(config, model, FORMS[name])
            out[name], pit_arrays = pit.tests(
                sums, alive, config["run"]["chain_groups"], bins, analysis["significance"],
                analysis["min_expected"], FORMS[name])
            arrays.update({f"{name}_{k}": v for k, v in pit_arrays.items()})
            if FORMS[name].error is not None:
                dyn = config["dynamics"]
                out[name]["quadrature_error_log_density"] = FORMS[name].error(
                    model, dyn["temperature"], dyn["weight_decay"], bins)
    return out, arrays
