"""The stationarity of a run's recorded window (docs/statistics.md, "Stationarity"): the check of
:mod:`langevin_ib.statistics.stationarity` on a run's histograms, and the a-priori relaxation time
that warns of a short burn-in before the run."""

from __future__ import annotations

import functools

import jax

from langevin_ib.dynamics import kernel
from langevin_ib.dynamics.result import RunResult
from langevin_ib.experiment.config import Experiment
from langevin_ib.models.base import Model
from langevin_ib.numerics.by_identity import ByIdentity
from langevin_ib.statistics import stationarity as stationarity_lib


def stationarity(experiment: Experiment, model: Model, result: RunResult) -> dict:
    """The run's stationarity check (:mod:`langevin_ib.statistics.stationarity`), times in steps·η, on
    every histogram and every observable's trend but those of the symmetry coordinate χ, whose law
    need not settle (without weight decay it spreads for ever); the joint histogram, θ conditioned on
    χ, is tested where the run's tests read it (Langevin runs). A stochastic-gradient run's tests read
    θ's histogram and the chunk boundaries, not the joint, and under SGD χ contracts towards the slice
    without end (χ' = χ(1 − η²g_B²) on u·v), so the joint's columns beside χ = 0 keep changing: on
    configs/uv_sgd.yaml the bin just below 0 holds 175 observations in the first half and 56 in the
    second (of 8.2·10⁵), z = 7.2 on that column alone and −0.9 on the rest, while θ's histogram gives
    z = −1.2 (docs/statistics.md). For the same reason the trends are tested in Langevin runs only: θ's law
    follows χ's slow contraction, and on configs/uv_sgd.yaml θ's trend gave z = 2.3, p = 0.011, beside
    the level 0.005, where its halves give z = −1.2."""
    h, langevin = result.histograms, not experiment.dynamics.stochastic_gradient
    halves = {name: (h.early_counts[name], h.counts[name] - h.early_counts[name])
              for name in h.counts if name != result.symmetry}
    if result.joint is not None and langevin:
        halves["level_set"] = (h.early_joint, h.joint - h.early_joint)
    times = durations(experiment)
    trends = {name: b for name, b in (h.trends or {}).items() if name != result.symmetry and langevin}
    entry = stationarity_lib.check(halves, times["time"], times["burn_in_time"], experiment.analysis.significance,
                                   experiment.analysis.min_expected, trends)
    return {**entry, "relaxation_time": relaxation_time(experiment, model)}


def durations(experiment: Experiment) -> dict:
    """The run's durations in time t = steps·η (whether given in steps or in time)."""
    run, step_size = experiment.run, experiment.dynamics.step_size
    return {"time": run.steps * step_size, "burn_in_time": run.burn_in * step_size, "thin_time": run.thin * step_size}


def too_short(burn_in_time: float, tau: float) -> bool:
    """Is a burn-in time shorter than :data:`~langevin_ib.statistics.stationarity.RELAXATIONS` a-priori
    relaxation times τ (False where τ is NaN: unknown)?"""
    return burn_in_time < stationarity_lib.RELAXATIONS * tau


def relaxation_time(experiment: Experiment, model: Model) -> float:
    """The a-priori relaxation time (steps·η) at chain 0's initial point
    (:func:`langevin_ib.statistics.stationarity.relaxation_time`); cached per model, seed and λ (a run
    asks before it starts and again in its stationarity entry, and each asking would compile the Hessian)."""
    return _relaxation_time(ByIdentity(model), experiment.run.seed, experiment.dynamics.weight_decay)


@functools.lru_cache(maxsize=8)
def _relaxation_time(model: ByIdentity, seed: int, weight_decay: float) -> float:
    start = model.value.init(jax.random.fold_in(jax.random.split(kernel.keys(seed).init)[0], 0))
    return stationarity_lib.relaxation_time(model.value.potential(weight_decay), start)


def burn_in_warning(experiment: Experiment, model: Model) -> str | None:
    """A line before the run where the burn-in is shorter than a few a-priori relaxation times."""
    tau, burn_in_time = relaxation_time(experiment, model), durations(experiment)["burn_in_time"]
    if not too_short(burn_in_time, tau):
        return None
    given = (f"run.burn_in={experiment.run.burn_in} is time {burn_in_time:.3g} (steps·η)," if experiment.run.burn_in_time is None
             else f"run.burn_in_time={burn_in_time:.3g} ({experiment.run.burn_in} steps) is")
    return (f"warning: {given} shorter than "
            f"{stationarity_lib.RELAXATIONS} relaxation times τ = {tau:.3g} of the loss at the initial point (1/its "
            "Hessian's smallest positive eigenvalue): the window may record a transient (summary.json: stationarity)")


def short_burn_ins(points: list, models: list[Model], shown: int = 6) -> str | None:
    """One line before a sweep listing its points (``Point``s, each with its group's model) whose
    burn-in time is shorter than a few a-priori relaxation times (:func:`burn_in_warning`'s rule); τ
    is computed once per seed and λ."""
    taus: dict = {}
    short = []
    for point, model in zip(points, models):
        experiment = point.experiment
        key = (id(model), experiment.run.seed, experiment.dynamics.weight_decay)
        if key not in taus:
            taus[key] = relaxation_time(experiment, model)
        burn_in_time = durations(experiment)["burn_in_time"]
        if too_short(burn_in_time, taus[key]):
            values = ", ".join(f"{k}={v:g}" for k, v in point.values.items())
            short.append(f"{point.index} ({values}: {burn_in_time:.3g} < {stationarity_lib.RELAXATIONS}τ = "
                         f"{stationarity_lib.RELAXATIONS * taus[key]:.3g})")
    if not short:
        return None
    more = f", and {len(short) - shown} more" if len(short) > shown else ""
    return (f"warning: {len(short)} of {len(points)} sweep points have a burn-in time (steps·η) shorter than "
            f"{stationarity_lib.RELAXATIONS} relaxation times τ of the loss at the initial point, so their window "
            f"may record a transient (sweep.csv: stationary): points {'; '.join(short[:shown])}{more}")


def unequal_blocks(points: list) -> str | None:
    """One line before a sweep whose points (``Point``s) differ in their number of blocks of ``thin``
    steps, burn-in or window: durations in time with the thinning in steps, or the reverse, over η.
    Each point's histograms and verdicts still equal its run alone (a point is frozen through the
    blocks it lacks), but the chunk boundaries are the grid's, so its chunk-boundary records (the χ
    trace, SGD bands and drift samples) hold the boundaries it is frozen through and differ from its
    run alone's (docs/sweeps.md)."""
    blocks = {(-(-p.experiment.run.burn_in // p.experiment.run.thin), p.experiment.run.steps // p.experiment.run.thin)
              for p in points}
    if len(blocks) < 2:
        return None
    return ("warning: the sweep's points differ in their number of blocks of run.thin steps (burn-in, window) "
            f"{', '.join(f'({b}, {o})' for b, o in sorted(blocks)[:4])}{', …' if len(blocks) > 4 else ''}, as when the durations "
            "are in time and the thinning in steps: each point's histograms and verdicts equal its run alone, its "
            "chunk-boundary records (χ trace, SGD bands) do not; give run.time, run.burn_in_time and run.thin_time "
            "together for equal boundaries")
