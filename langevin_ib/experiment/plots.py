"""Figures: empirical histograms with every hypothesis overlaid, and χ over time. Each function builds
and returns a matplotlib Figure, outside pyplot (no backend, nothing to close); the writer saves it
(:func:`langevin_ib.experiment.output.save_figures`)."""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure

from langevin_ib.statistics.comparison import Comparison

COLOURS = {"geometric": "tab:red", "naive": "tab:blue", "paper_eq7": "tab:green", "projected": "tab:green",
           "slice": "tab:purple", "discrete": "tab:red", "gibbs": "tab:blue", "orbit_correction": "tab:green",
           "sgd_diffusion": "tab:orange", "sgd_chain": "k"}


def subplots(rows: int = 1, columns: int = 1, *, figsize, dpi: int = 120, **kwargs) -> tuple[Figure, object]:
    """A new Figure and its axes, as ``pyplot.subplots`` returns them, without pyplot."""
    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots(rows, columns, **kwargs)


NO_DATA = "no data: all chains diverged (or left the range) before an observation"


def _no_data(ax, title: str) -> None:
    """An empty panel that says so, rather than bare axes."""
    ax.text(0.5, 0.5, NO_DATA, ha="center", va="center", transform=ax.transAxes, fontsize=9)
    ax.set_title(title, fontsize=10)


def _panel(ax, edges, counts, probabilities, fits, title):
    """Observed density and each hypothesis' expected density, both bin-averaged, in one panel."""
    observed = counts.sum(axis=0)  # (bins, columns)
    column_totals = observed.sum(axis=0)
    total, widths = column_totals.sum(), np.diff(edges)
    if total == 0:
        return _no_data(ax, title)
    ax.stairs(observed.sum(axis=1) / (total * widths), edges, fill=True, color="0.8", label=f"empirical (n={int(total)})")
    for hypothesis, p in probabilities.items():
        fit = fits[hypothesis]
        ax.stairs((p * column_totals).sum(axis=1) / (total * widths), edges, color=COLOURS.get(hypothesis),
                  lw=1.6, label=f"{hypothesis}: z={fit['z']:.1f}, {fit['verdict']}")
    ax.set_title(textwrap.fill(title, 90), fontsize=10)
    ax.set_ylabel("density")
    ax.legend(fontsize=8)


def plot_fits(comparisons: dict[str, Comparison], fits: dict, binnings: dict, counts: dict) -> Figure:
    """One panel per comparison (plus its near-slice columns); for a model without predictions, the
    empirical histogram of every observable (``counts[name]``: (G, bins + 2) with under/overflow)."""
    panels = [(binnings[name].edges, c[:, 1:-1, None], {}, {}, f"{name}: empirical (no prediction for this model)")
              for name, c in counts.items()] if not comparisons else []
    for name, comparison in comparisons.items():
        edges = binnings[comparison.axes[0]].edges
        panels.append((edges, comparison.counts, comparison.probabilities, fits[name]["hypotheses"],
                       f"{name}: {comparison.description}"))
        if len(comparison.axes) == 2:  # the columns nearest the balanced slice χ = 0 carry the correction
            chi_edges = binnings[comparison.axes[1]].edges
            centres = 0.5 * (chi_edges[1:] + chi_edges[:-1])
            near = np.abs(centres) <= 0.1 * np.abs(chi_edges).max()
            if near.any():
                panels.append((edges, comparison.counts[:, :, near],
                               {h: p[:, near] for h, p in comparison.probabilities.items()},
                               fits[name]["hypotheses"],
                               f"{name}, columns with |{comparison.axes[1]}| ≤ {np.abs(centres[near]).max():.2g} "
                               "(z: all columns)"))
    fig, axes = subplots(len(panels), 1, figsize=(7, 3.2 * len(panels)), squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        _panel(ax, *panel)
    axes[-1, 0].set_xlabel(next(iter(comparisons.values())).axes[0] if comparisons else "value")
    return _laid_out(fig)


def plot_chi_trace(trace: dict, burn_in: int) -> Figure:
    """Quantile bands, median and mean of χ over chains against the step."""
    steps, q, name = trace["step"], trace["quantiles"], trace["name"]
    fig, ax = subplots(figsize=(7, 3.2))
    if not np.isfinite(q).any():
        _no_data(ax, f"symmetry-breaking coordinate {name} across chains")
        return _laid_out(fig)
    ax.fill_between(steps, q[:, 0], q[:, 4], alpha=0.25, color="tab:purple", label="5–95%")
    ax.fill_between(steps, q[:, 1], q[:, 3], alpha=0.45, color="tab:purple", label="25–75%")
    ax.plot(steps, q[:, 2], color="tab:purple", label="median")
    ax.plot(steps, trace["mean"], color="k", ls="--", label="mean")
    ax.axvline(burn_in, color="0.5", ls=":", label="end of burn-in")
    ax.set_xlabel("step")
    ax.set_ylabel(name)
    ax.set_title(f"symmetry-breaking coordinate {name} across chains", fontsize=10)
    ax.legend(fontsize=8)
    return _laid_out(fig)


def _laid_out(fig: Figure) -> Figure:
    fig.tight_layout()
    return fig


def plot_prediction(panels: dict, model: str) -> Figure:
    """The predicted densities of copy 0's variable under each form (``langevin-ib predict``);
    ``panels``: form name -> (curves of :func:`langevin_ib.predictions.curves.density_curves`, the Form, the observable)."""
    labels = {"projected": "projected (no det G_χ factor)", "slice": "on the slice χ = 0"}
    fig, axes = subplots(1, len(panels), figsize=(6 * len(panels), 3.4), squeeze=False)
    for ax, (name, (curves, form, observable)) in zip(axes[0], panels.items()):
        for hypothesis in form.hypotheses:
            ax.plot(curves["value"], curves[hypothesis], color=COLOURS.get(hypothesis), label=labels.get(hypothesis, hypothesis))
        ax.set_xlabel(f"{form.variable.name} of copy 0 ({observable})")
        ax.set_ylabel("density")
        ax.set_title(f"{model}, {name}: {form.condition}\n(what the form holds at the reference point)", fontsize=9)
        ax.legend(fontsize=8)
    return _laid_out(fig)


def plot_conditional(summary: dict, arrays: dict, edges: np.ndarray, observable: str,
                     name: str, form) -> Figure:
    """Left: PIT histograms under each hypothesis (flat at 1 when it holds). Right: the empirical
    histogram of the form's variable (a :class:`langevin_ib.pit.Form`) against each
    hypothesis' conditional probabilities averaged over samples. ``name``: the prefix of the arrays
    (a key of :data:`langevin_ib.experiment.plan.FORMS`)."""
    fig, (left, right) = subplots(1, 2, figsize=(11, 3.6))
    pit = arrays[f"{name}_pit_counts"].sum(axis=0)  # (hypotheses, PIT bins)
    pit_edges = np.linspace(0, 1, pit.shape[1] + 1)
    empirical = arrays[f"{name}_empirical_counts"].sum(axis=0)
    total, widths = empirical.sum(), np.diff(edges)
    if total == 0:
        _no_data(left, f"full-conditional PIT of each copy's {form.variable.name}")
        _no_data(right, observable)
        return _laid_out(fig)
    right.stairs(empirical / (total * widths), edges, fill=True, color="0.8", label=f"empirical (n={int(total)})")
    for row, predicted, (hypothesis, fit) in zip(pit, arrays[f"{name}_predicted_counts"], summary["hypotheses"].items()):
        label = f"{hypothesis}: z={fit['z']:.1f}, {fit['verdict']}"
        left.stairs(row * len(row) / max(row.sum(), 1), pit_edges, color=COLOURS[hypothesis], lw=1.6, label=label)
        right.stairs(predicted / (total * widths), edges, color=COLOURS[hypothesis], lw=1.6, label=hypothesis)
    ceiling = 3 * (empirical / (max(total, 1) * widths)).max()
    if ceiling > 0 and right.get_ylim()[1] > ceiling:  # a rejected law piled up at one end hides the data
        right.set_ylim(0, ceiling)
        right.set_title("(clipped at 3 × the empirical maximum)", loc="left", fontsize=7, y=0.9, x=0.02)
    left.axhline(1.0, color="k", lw=0.8, ls=":")
    variable = form.variable.name
    left.set_xlabel("u = F(value | rest) under the hypothesis")
    left.set_ylabel("density")
    left.set_title(f"full-conditional PIT of each copy's {variable}\n{form.condition}", fontsize=10)
    right.set_xlabel(observable)
    right.set_title(f"{variable}: empirical vs conditionals averaged over samples", fontsize=10)
    for ax in (left, right):
        ax.legend(fontsize=8)
    return _laid_out(fig)
