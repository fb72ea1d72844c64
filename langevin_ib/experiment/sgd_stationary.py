"""u·v under plain SGD (fresh data, no weight decay): the θ histogram on the balanced slice, where SGD
drives every chain (Δχ = −η²g_B²χ), against four laws (docs/sgd.md): ``naive`` Gibbs e^{−L/T_eff},
``geometric`` (the paper's claim) e^{−L/T_eff}/θ, both at T_eff = ησ²θ*/(2B)
(:func:`langevin_ib.predictions.sgd_uv.effective_temperature`), ``sgd_diffusion``, the stationary
density of the θ-diffusion with SGD's state-dependent noise (:mod:`langevin_ib.predictions.sgd_uv`),
and ``sgd_chain``, the exact stationary law of the one-step map θ' = θ(1 − ηg_B)² on the slice
(:mod:`langevin_ib.predictions.sgd_uv_chain`, steps leaving |u| = |v| ≤ run.divergence_bound removed).
All four are scored by the same Pearson statistic on the same counts. They hold on the slice only:
``off_slice_fraction`` is the share of χ observations outside |χ| ≤ 0.05θ* (off it one step moves θ
with an effective step η√(1 + χ²/θ²); χ balances on the time B/(η²σ²))."""

from __future__ import annotations

import numpy as np

from langevin_ib.experiment.comparisons import Comparison
from langevin_ib.predictions import sgd_uv, sgd_uv_chain, theory_uv
from langevin_ib.statistics import goodness_of_fit


SLICE_TOLERANCE = 0.05  # |χ|/θ* counted as on the slice: the step's scale √(1 + χ²/θ²) within 0.13%


def off_slice_fraction(result, tolerance: float) -> float:
    """Share of χ observations in bins (under/overflow included) reaching beyond |χ| ≤ tolerance; NaN
    without a χ histogram."""
    if "chi" not in result.binnings:
        return float("nan")
    edges = np.asarray(result.binnings["chi"].edges)
    counts = np.asarray(result.histograms.counts["chi"]).sum(axis=0)
    slack = 1e-9 * tolerance
    inside = np.concatenate([[False], (edges[:-1] >= -tolerance - slack) & (edges[1:] <= tolerance + slack), [False]])
    return float(counts[~inside].sum() / max(counts.sum(), 1))


NAME = "stationary_law"  # its summary entry, and the prefix of its arrays in histograms.npz


def uv_slice_law(experiment, result) -> tuple[dict, dict] | None:
    """(the comparison's summary entry, its arrays: ``stationary_law_counts`` (G, bins, 1) and
    ``stationary_law_<hypothesis>_probabilities`` (bins, 1)), or None where it does not apply."""
    dyn, fields = experiment.dynamics, experiment.model.fields
    settings = dyn.minibatch
    if (experiment.model.name != "uv" or "theta" not in result.binnings or dyn.weight_decay or dyn.temperature
            or settings is None or settings.batch_size is None or settings.optimizer != "sgd" or settings.optimizer_args
            or fields["label_noise"] <= 0):
        return None
    edges = result.binnings["theta"].edges
    counts = result.histograms.counts["theta"][:, 1:-1, None]
    kwargs = dict(step_size=dyn.step_size, batch_size=settings.batch_size, label_noise=fields["label_noise"],
                  target=fields["target"])
    t_eff = sgd_uv.effective_temperature(**kwargs)
    probabilities = {h: theory_uv.slice_probabilities(edges, h, temperature=t_eff, target=fields["target"])
                     for h in ("naive", "geometric")}
    probabilities["sgd_diffusion"] = sgd_uv.bin_probabilities(edges, **kwargs)
    chain = sgd_uv_chain.stationary(**kwargs, theta_max=min(experiment.run.divergence_bound, 1e4) ** 2)
    probabilities["sgd_chain"] = sgd_uv_chain.bin_probabilities(edges, chain)
    settings_a = experiment.analysis
    arrays = {f"{NAME}_counts": counts, **{f"{NAME}_{h}_probabilities": p[:, None] for h, p in probabilities.items()}}
    return {"description": "θ histogram of SGD chains (all on the slice χ ≈ 0) against naive and geometric Gibbs "
                           "at T_eff, the SGD θ-diffusion's stationary density and the exact law of the SGD step "
                           "on the slice",
            "effective_temperature": t_eff,
            "effective_temperature_definition": "η tr Σ/(2B·d) at u = v = √θ*, d = 2: ησ²θ*/(2B)",
            "sgd_chain_divergence_per_step": 1 - chain.survival,
            "off_slice_fraction": off_slice_fraction(result, SLICE_TOLERANCE * abs(fields["target"])),
            "hypotheses": {h: goodness_of_fit.pearson_test(counts, p[:, None], significance=settings_a.significance,
                                                           min_expected=settings_a.min_expected)
                           for h, p in probabilities.items()}}, arrays


def comparisons(summary: dict, arrays: dict) -> dict[str, Comparison]:
    """The slice law as a histogram comparison (for density.png), from a run's summary and arrays;
    empty where the run has none."""
    law = summary.get(NAME)
    if law is None:
        return {}
    probabilities = {h: arrays[f"{NAME}_{h}_probabilities"] for h in law["hypotheses"]}
    return {NAME: Comparison(law["description"], arrays[f"{NAME}_counts"], probabilities, ("theta",))}
