"""The probability integral transform (PIT) of a variable under its full conditionals: the machinery
shared by every conditional form of :mod:`langevin_ib.predictions` (docs/theory.md §4a).

A :class:`Form` gives, for one per-copy variable (a :class:`Variable`: a rescaling strength, a
balance ratio, a singular value, a mode energy), the unnormalised log densities of its full
conditional under each hypothesis, everything else held. The conditional CDF on the observable's
range (trapezoid rule on linear and logarithmic nodes, the sample itself one of them; or along a
traced curve, :func:`conditional`; or read from one table per run where the conditional depends on the
chain only through a level and a sign, ``Form.levels``) maps each in-range value s to u = F(s | rest), uniform on (0, 1)
under the right hypothesis whatever the law of the rest. The u histograms of the chain groups are
tested for uniformity with the Rao–Scott Pearson test used for every other histogram
(:func:`tests`); averaging the conditional bin probabilities over samples gives each hypothesis'
predicted histogram of s, drawn beside the empirical one.
"""

from __future__ import annotations

from typing import Callable, Collection, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from langevin_ib.statistics import conditional_table, goodness_of_fit
from langevin_ib.base import Binning
from langevin_ib.models.base import Model
from langevin_ib.models import rescaling

PIT_BINS = 20
LINEAR_NODES_PER_BIN = 8
LOG_NODES = 200


class Variable(NamedTuple):
    """What a form's PIT is of: its name in titles; ``source``, the Model field holding the rescaling
    pair or chain it is read from (``chain``, or ``modes`` for the singular modes of a GL(r) slice);
    ``observable(chain)`` the histogrammed observable it is read against (None where the model does
    not observe it); ``values(chain, params)`` each copy's (magnitude, sign); and whether the
    observable is the signed magnitude."""

    name: str
    source: str
    observable: Callable
    values: Callable
    signed: Callable


STRENGTH = Variable("strength", "chain", lambda chain: chain.observable, rescaling.strengths,
                    lambda chain: chain.signed)


class Form(NamedTuple):
    """A family of full conditionals of one variable: hypothesis names, the summary's description, what
    the variable is conditioned on (for printed and plotted titles),
    ``log_densities(model, temperature, weight_decay, binning) -> fn(params, copy, value) -> (hypotheses,)``,
    the :class:`Variable`, the runs it applies to (``chains``): ``any``; ``free``, unconstrained
    chains; ``weight_decayed``, free chains with weight decay, where χ is integrated out;
    ``projected``, chains held on the slice;
    ``supports(model)``, whether it is built for that model's shapes; and ``error(model, temperature,
    weight_decay, binning)``, the estimated error of its log densities where they come from
    quadrature or quasi-Monte Carlo;
    ``floor``, the lower end of the range it tests, relative to the largest |edge| (:func:`strength_range`);
    ``refine(model, binning) -> fn(params, copy, nodes) -> extra nodes``, where the conditional has
    features (edges of its support) that the fixed nodes would not resolve;
    ``path(model, temperature, weight_decay, binning) -> fn(params, copy) -> (values, rates, lengths,
    logs, defined)``, in place of ``log_densities``, where the conditional lives on a curve along which
    the variable is not monotone: the variable and its derivative along the curve at the curve's
    nodes, the segments' lengths, the log densities per unit length (nodes, hypotheses) and whether the
    curve was traced to its ends; ``levels(model)``, a
    :class:`~langevin_ib.statistics.conditional_table.Levels` where the model's conditional depends on the
    chain only through a level and a sign (one table per run then replaces the per-chain quadrature),
    else None."""

    hypotheses: tuple[str, ...]
    description: str
    condition: str
    log_densities: Callable
    variable: Variable = STRENGTH
    chains: str = "any"
    supports: Callable = lambda model: True
    error: Callable | None = None
    floor: float = 1e-6
    refine: Callable | None = None
    path: Callable | None = None
    levels: Callable = lambda model: None

    def observable(self, model: Model) -> str | None:
        """The observable the variable is read against; None where the model has none."""
        chain = getattr(model, self.variable.source)
        return None if chain is None else self.variable.observable(chain)

    def applies(self, model: Model, dynamics, observed: Collection[str]) -> bool:
        """Whether a run of ``model`` under ``dynamics`` (``.constrained``, ``.weight_decay``) that
        histograms the observables ``observed`` tests this form: its variable's observable is
        histogrammed, the run's chains are of the form's kind (:data:`CHAINS`) and the form is built
        for the model's shapes."""
        return self.observable(model) in observed and CHAINS[self.chains](dynamics) and self.supports(model)


CHAINS = {  # the runs a test applies to, by its ``chains``: the unconstrained measure or the slice's
    "any": lambda dynamics: True,
    "free": lambda dynamics: not dynamics.constrained,
    "weight_decayed": lambda dynamics: dynamics.weight_decay > 0 and not dynamics.constrained,
    "projected": lambda dynamics: dynamics.constrained,
}


def strength_range(binning: Binning, signed: bool, floor: float = 1e-6) -> tuple[float, float, float, float]:
    """(lo₊, hi₊, lo₋, hi₋): the range of s on the positive and negative branch of the observable
    (σ·s for a signed product of scalar factors, else s), the lower end kept above ``floor`` times
    the largest |edge|: above 0, where the level-set densities of u·v are singular as |c| → 0, and
    where a form's arithmetic holds (values below are out of range: the PIT then uses the
    conditional truncated to the range, which is exact)."""
    floor = floor * max(abs(binning.low), abs(binning.high))
    if not signed:
        return max(binning.low, floor), binning.high, max(binning.low, floor), binning.high
    return max(binning.low, floor), binning.high, max(-binning.high, floor), -binning.low


def statistic(model: Model, temperature: float, weight_decay: float, binning: Binning,
              form: Form) -> Callable:
    """``fn(params) -> (width,)`` per chain: for each hypothesis of ``form`` the PIT counts
    (PIT_BINS) and the conditional bin probabilities of the form's variable s summed over copies
    (bins), then the empirical in-range counts of s (bins), the out-of-range count (1) and the count
    of in-range values whose conditional is undefined (1): a NaN log density, which a form returns
    where what it holds fixed lies outside what it tabulated. Leaving those out selects on the
    conditioning variables only, which keeps the PIT of the rest uniform. (:func:`staged` in one.)"""
    shared, per_chain = staged(model, temperature, weight_decay, binning, form)
    return lambda params: per_chain(shared(), params)


def staged(model: Model, temperature: float, weight_decay: float, binning: Binning,
           form: Form) -> tuple[Callable, Callable]:
    """(``shared() -> table``, ``per_chain(table, params) -> (width,)``): :func:`statistic` split where the
    form's conditional is one table per run (``Form.levels``, :mod:`langevin_ib.statistics.conditional_table`),
    so that a run builds the table once per evaluation over its chains, outside the map over chains, and
    only in the programs that evaluate it; ``shared`` returns None where the conditional is per chain."""
    chain = getattr(model, form.variable.source)
    levels = form.levels(model) if form.path is None else None
    if levels is None:
        cdf_of = conditional(form, model, temperature, weight_decay, binning)
        return lambda: None, lambda table, params: _sums(cdf_of, chain, binning, form, params)
    shared = lambda: _table(form, model, temperature, weight_decay, binning, levels)
    return shared, lambda table, params: _sums(_on_table(table, form, model, levels), chain, binning, form, params)


def _sums(cdf_of: Callable, chain, binning: Binning, form: Form, params: dict) -> jax.Array:
    """One chain's statistic (:func:`statistic`) from the conditional CDF ``cdf_of`` (:func:`conditional`)."""
    edges = np.asarray(binning.edges, float)

    def one_copy(copy, strength, sign, lo, hi):
        cdf, defined = cdf_of(params, copy, strength, lo, hi)
        pit = cdf(strength)  # (hypotheses,)
        in_range = (strength >= lo) & (strength <= hi)
        counted = in_range & defined
        pit_counts = jax.nn.one_hot(jnp.clip(jnp.floor(pit * PIT_BINS), 0, PIT_BINS - 1).astype(int), PIT_BINS)
        # bins of the observable σ·s, each read on this copy's branch
        branch_edges = jnp.clip(jnp.where(sign > 0, edges, -edges[::-1]), lo, hi)
        masses = jnp.diff(cdf(branch_edges), axis=0)  # (bins, hypotheses) in the order of s
        masses = jnp.where(sign > 0, masses, masses[::-1])
        observable = sign * strength
        index = jnp.searchsorted(edges, observable, side="right") - 1
        empirical = jnp.where(counted, jax.nn.one_hot(index, binning.bins), 0.0)
        per_hypothesis = jnp.where(counted, jnp.concatenate([pit_counts, masses.T], axis=1), 0.0)  # (hyp., PIT + bins)
        return jnp.concatenate([per_hypothesis.reshape(-1), empirical,
                                jnp.stack([~in_range, in_range & ~defined]).astype(strength.dtype)])

    strength, sign = form.variable.values(chain, params)
    lo_pos, hi_pos, lo_neg, hi_neg = strength_range(binning, form.variable.signed(chain), form.floor)
    lo, hi = jnp.where(sign > 0, lo_pos, lo_neg), jnp.where(sign > 0, hi_pos, hi_neg)
    return jax.vmap(one_copy)(jnp.arange(chain.copies), strength, sign, lo, hi).sum(axis=0)


def conditional(form: Form, model: Model, temperature: float, weight_decay: float, binning: Binning) -> Callable:
    """``fn(params, copy, s, lo, hi) -> (cdf, defined)``: the form's conditional CDF of copy's variable on
    [lo, hi] (s its value), from the form's path where it has one, else from its table where it has
    levels, else from its log densities."""
    if form.path is not None:
        return _on_path(form.path(model, temperature, weight_decay, binning))
    levels = form.levels(model)
    if levels is not None:
        return _on_table(_table(form, model, temperature, weight_decay, binning, levels), form, model, levels)
    return _on_nodes(form, model, temperature, weight_decay, binning)


def _table(form: Form, model: Model, temperature: float, weight_decay: float, binning: Binning,
           levels: conditional_table.Levels) -> conditional_table.Table:
    """The form's table (:func:`conditional_table.build`) on the nodes of :func:`_on_nodes` per branch of the
    observable: [lo, hi] of :func:`strength_range`; one branch where no negative value is in range."""
    chain = getattr(model, form.variable.source)
    lo_pos, hi_pos, lo_neg, hi_neg = strength_range(binning, form.variable.signed(chain), form.floor)
    edges = np.asarray(binning.edges, float)
    nodes = [conditional_table.branch_nodes(lo, hi, branch_edges, LINEAR_NODES_PER_BIN, LOG_NODES) if lo < hi else None
             for lo, hi, branch_edges in ((lo_pos, hi_pos, edges), (lo_neg, hi_neg, -edges[::-1]))]
    if nodes[1] is None:  # out of range is never counted, so the one branch serves either sign
        nodes = nodes[:1]
    elif nodes[0] is None:
        nodes[0] = nodes[1]
    dtype = jax.tree.leaves(jax.eval_shape(model.init, jax.random.key(0)))[0].dtype
    return conditional_table.build(form.log_densities(model, temperature, weight_decay, binning), levels, nodes, dtype)


def _on_table(table: conditional_table.Table, form: Form, model: Model, levels: conditional_table.Levels) -> Callable:
    """``fn(params, copy, s, lo, hi) -> (cdf, defined)``: the conditional CDF interpolated in ``table``
    (:func:`conditional_table.cdf_at`); [lo, hi] is the branch's, read from the sign."""
    chain = getattr(model, form.variable.source)

    def fn(params, copy, strength, lo, hi):
        sign = form.variable.values(chain, params)[1][copy]
        return conditional_table.cdf_at(table, levels.level(params, copy), sign)

    return fn


def _on_nodes(form: Form, model: Model, temperature: float, weight_decay: float, binning: Binning) -> Callable:
    """``fn(params, copy, s, lo, hi) -> (cdf, defined)``: the conditional CDF of the variable on [lo, hi]
    by the trapezoid rule on linear and logarithmic nodes, the sample one of them, and the form's
    refined nodes; undefined where a log density is NaN."""
    log_density = form.log_densities(model, temperature, weight_decay, binning)
    refine = None if form.refine is None else form.refine(model, binning)

    def fn(params, copy, strength, lo, hi):
        linear = jnp.linspace(lo, hi, binning.bins * LINEAR_NODES_PER_BIN + 1)
        nodes = jnp.sort(jnp.concatenate([linear, jnp.geomspace(lo, hi, LOG_NODES), jnp.clip(strength, lo, hi)[None]]))
        if refine is not None:
            nodes = jnp.sort(jnp.concatenate([nodes, jnp.clip(refine(params, copy, nodes), lo, hi)]))
        logs = jax.vmap(lambda s: log_density(params, copy, s))(nodes)  # (nodes, hypotheses)
        weights = jnp.exp(logs - logs.max(axis=0, keepdims=True))
        cumulative = jnp.concatenate([jnp.zeros((1, logs.shape[1]), nodes.dtype),
                                      jnp.cumsum(0.5 * (weights[1:] + weights[:-1]) * jnp.diff(nodes)[:, None], axis=0)])
        cdf = lambda x: jax.vmap(lambda column: jnp.interp(x, nodes, column / column[-1]), 1, -1)(cumulative)
        return cdf, ~jnp.isnan(logs).any()

    return fn


def _on_path(path: Callable) -> Callable:
    """``fn(params, copy, s, lo, hi) -> (cdf, defined)``: the conditional CDF of the variable on [lo, hi]
    from a curve traced through the sample (``Form.path``), along which the variable need not be
    monotone. On each segment the variable is the quadratic through its ends and the cubic Hermite
    midpoint (σ_a + σ_b)/2 + h(σ'_a − σ'_b)/8, so that a fold inside a segment (where samples gather:
    the density of the variable diverges there like 1/√) is resolved, and the density is linear
    (trapezoid); G(x) = Σ_segments ∫_{σ(s) ≤ x} density, in closed form between the quadratic's roots,
    and F = (G(x) − G(lo))/(G(hi) − G(lo))."""

    def fn(params, copy, strength, lo, hi):
        values, rates, lengths, logs, defined = path(params, copy)
        live = lengths > 0
        weights = jnp.exp(logs - logs.max(axis=0, keepdims=True))
        first, last = jnp.where(live[:, None], weights[:-1], 0.0), jnp.where(live[:, None], weights[1:], 0.0)
        start, end = jnp.where(live, values[:-1], 0.0), jnp.where(live, values[1:], 0.0)
        bend = jnp.where(live, lengths * (rates[:-1] - rates[1:]) / 8, 0.0)
        bend = jnp.clip(bend, -0.5 * lengths * jnp.abs(rates[:-1]).clip(jnp.abs(rates[1:])),
                        0.5 * lengths * jnp.abs(rates[:-1]).clip(jnp.abs(rates[1:])))
        middle = 0.5 * (start + end) + jnp.where(jnp.isfinite(bend), bend, 0.0)
        square, linear = 2 * start + 2 * end - 4 * middle, 4 * middle - 3 * start - end  # σ(u), u ∈ [0, 1]
        tiny = 1e-7 * (jnp.abs(start) + jnp.abs(end) + 1.0)
        square = jnp.where(jnp.abs(square) < tiny, tiny, square)

        def mass(u):  # ∫₀ᵘ density, (segments, hypotheses)
            return lengths[:, None] * (first * u[:, None] + (last - first) * (0.5 * u**2)[:, None])

        def below(x):  # G(x), (hypotheses,)
            constant = start - x
            discriminant = linear**2 - 4 * square * constant
            root = jnp.sqrt(jnp.maximum(discriminant, 0.0))
            half = -0.5 * (linear + jnp.where(linear >= 0, root, -root))
            half = jnp.where(half == 0, tiny, half)
            lower = jnp.clip(jnp.minimum(half / square, constant / half), 0.0, 1.0)
            upper = jnp.clip(jnp.maximum(half / square, constant / half), 0.0, 1.0)
            whole = mass(jnp.ones_like(start))
            real = (discriminant >= 0)[:, None]
            convex = jnp.where(real, mass(upper) - mass(lower), 0.0)
            concave = jnp.where(real, whole - mass(upper) + mass(lower), whole)
            return jnp.sum(jnp.where((square > 0)[:, None], convex, concave), axis=0)

        base, total = below(lo), below(hi)
        cdf = lambda x: jax.vmap(lambda point: (below(point) - base) / (total - base))(jnp.atleast_1d(x)).reshape(
            jnp.shape(x) + (logs.shape[1],))
        return cdf, defined

    return fn


def width(bins: int, form: Form) -> int:
    """Length of one chain's statistic vector."""
    return len(form.hypotheses) * (PIT_BINS + bins) + bins + 2


def tests(sums: np.ndarray, alive: np.ndarray, groups: int, binning: Binning, significance: float,
          min_expected: float, form: Form) -> tuple[dict, dict]:
    """Uniformity of the PIT values under each hypothesis, from per-chain sums (chains, width(bins)):
    the summary, and the arrays (pit_counts (G, hypotheses, PIT_BINS), predicted_counts
    (hypotheses, bins), empirical_counts (G, bins)) that histograms.npz keeps.

    Chain c belongs to group c mod ``groups`` (as for every histogram); diverged chains and chains
    with a non-finite statistic are left out and counted."""
    bins, hypotheses = binning.bins, form.hypotheses
    finite = np.isfinite(sums).all(axis=1)
    kept = alive & finite
    grouped, per_hypothesis, empirical = _grouped(sums, kept, groups, bins, form)
    uniform = np.full(PIT_BINS, 1.0 / PIT_BINS)
    out = {
        "description": form.description,
        "chains": int(kept.sum()), "samples": int(empirical.sum()), "out_of_range": int(grouped[:, -2].sum()),
        "undefined": int(grouped[:, -1].sum()),
        "left_out": {"diverged": int((~alive).sum()), "non_finite": int((alive & ~finite).sum())},
        "hypotheses": {h: goodness_of_fit.pearson_test(per_hypothesis[:, i, :PIT_BINS], uniform,
                                                        significance=significance, min_expected=min_expected)
                       for i, h in enumerate(hypotheses)},
    }
    arrays = {"pit_counts": per_hypothesis[:, :, :PIT_BINS], "predicted_counts": per_hypothesis[:, :, PIT_BINS:].sum(axis=0),
              "empirical_counts": empirical}
    return out, arrays


def _grouped(sums: np.ndarray, kept: np.ndarray, groups: int, bins: int, form: Form):
    """(grouped sums (G, width), per hypothesis (G, hypotheses, PIT_BINS + bins), empirical (G, bins)) of the
    kept chains, chain c in group c mod ``groups``."""
    group_of = np.arange(sums.shape[0]) % groups
    grouped = np.stack([sums[kept & (group_of == g)].sum(axis=0) for g in range(groups)]).astype(np.float64)
    size = len(form.hypotheses) * (PIT_BINS + bins)
    return grouped, grouped[:, :size].reshape(groups, len(form.hypotheses), PIT_BINS + bins), grouped[:, size:-2]


def histogram(sums: np.ndarray, alive: np.ndarray, groups: int, bins: int, form: Form) -> tuple[np.ndarray, dict]:
    """The variable's histogram and each hypothesis' prediction of it, from the same per-chain sums as
    :func:`tests`: ((G, bins, 1) in-range counts of the observable, hypothesis -> (bins, 1) probabilities).

    The prediction is the mean over the counted samples of each one's conditional bin masses: under the
    right hypothesis E[1{s ∈ b}] = E[P(s ∈ b | rest)] (tower property), exactly where the conditional's
    mass outside the observable's range is negligible (the out-of-range count of :func:`tests` says how
    many samples fell outside). The prediction's own sampling error is not in a Pearson test of these
    counts; per sample it reduces the residual's variance, Var(1_b − P_b) = Var(1_b) − Var(P_b), so the
    test tends to the conservative side under the right hypothesis."""
    kept = alive & np.isfinite(sums).all(axis=1)
    _, per_hypothesis, empirical = _grouped(sums, kept, groups, bins, form)
    predicted = per_hypothesis[:, :, PIT_BINS:].sum(axis=0)  # (hypotheses, bins)
    total = np.maximum(predicted.sum(axis=1, keepdims=True), 1e-300)
    return empirical[:, :, None], {h: (predicted[i] / total[i])[:, None] for i, h in enumerate(form.hypotheses)}
