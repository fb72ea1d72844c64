"""readout.png: each profile of a run's readout (:mod:`.paper_metrics`) against its index, the median
and the 25–75 % and 5–95 % bands over chains, the truth dashed (the paper's Figs. 5–6 panels)."""

from __future__ import annotations

import numpy as np

from matplotlib.figure import Figure

from langevin_ib.experiment.plots import subplots

AXES = {"signal": ("index i (k for a spectrum)", "signal x_i"), "fit": ("t", "fitted y(t)")}


def plot_readout(arrays: dict, metrics: dict, title: str) -> Figure | None:
    """One panel per ``readout_<profile>`` array, titled with the medians of ``metrics``."""
    names = sorted(k[len("readout_"):] for k in arrays if k.startswith("readout_") and arrays[k].ndim == 2
                   and not k.startswith("readout_bands_"))
    if not names:
        return None
    fig, axes = subplots(1, len(names), figsize=(max(5.5 * len(names), 7.0), 3.8), dpi=110, squeeze=False)
    for ax, name in zip(axes[0], names):
        q = arrays[f"readout_{name}"]
        x = np.linspace(0, 1, q.shape[0]) if name == "fit" else np.arange(q.shape[0])
        ax.fill_between(x, q[:, 0], q[:, 4], color="tab:blue", alpha=0.2, label="5–95 %")
        ax.fill_between(x, q[:, 1], q[:, 3], color="tab:blue", alpha=0.4, label="25–75 %")
        ax.plot(x, q[:, 2], color="tab:blue", lw=1.2, label="median over chains")
        if f"readout_{name}_truth" in arrays:
            ax.plot(x, arrays[f"readout_{name}_truth"], color="k", ls="--", lw=1, label="truth")
        ax.set_xlabel(AXES.get(name, ("index", name))[0])
        ax.set_ylabel(AXES.get(name, ("index", name))[1])
        ax.legend(fontsize=8)
    medians = ", ".join(f"{k} {v['q50']:.3g}" for k, v in sorted(metrics.items()) if "q50" in v)
    fig.suptitle(f"{title}, medians over chains:\n{medians}", fontsize=9)
    fig.tight_layout()
    return fig


MAX_INDICES = 24  # profiles longer than this (a signal) are not drawn index by index over time


def plot_readout_bands(arrays: dict, burn_in: int) -> Figure | None:
    """readout_bands.png: each metric's median and 25–75 % band over chains against the step (log scale
    where positive), and each short profile index by index (sorted σ_i, per-column ratios; the paper's
    Figs. 3–4 panels), its truth dotted in the same colour."""
    if "readout_bands_step" not in arrays:
        return None
    steps = arrays["readout_bands_step"]
    names = sorted(k[len("readout_bands_"):] for k in arrays if k.startswith("readout_bands_") and k != "readout_bands_step")
    names = [n for n in names if arrays[f"readout_bands_{n}"].ndim == 2 or arrays[f"readout_bands_{n}"].shape[1] <= MAX_INDICES]
    fig, axes = subplots(1, len(names), figsize=(4.2 * len(names), 3.4), dpi=110, squeeze=False)
    for ax, name in zip(axes[0], names):
        q = arrays[f"readout_bands_{name}"]
        series = [q] if q.ndim == 2 else [q[:, i] for i in range(q.shape[1])]
        truth = arrays.get(f"readout_{name}_truth")
        for i, band in enumerate(series):
            colour = f"C{i % 10}"
            ax.fill_between(steps, band[:, 1], band[:, 3], color=colour, alpha=0.25, lw=0)
            ax.plot(steps, band[:, 2], color=colour, lw=1)
            if truth is not None and q.ndim == 3:
                ax.axhline(truth[i], color=colour, ls=":", lw=0.8)
        if q.ndim == 2 and np.all(q[np.isfinite(q)] > 0):
            ax.set_yscale("log")
        if burn_in:
            ax.axvline(burn_in, color="0.5", ls=":", lw=1)
        ax.set_xlabel("step")
        ax.set_title(f"{name}: median, 25–75 % over chains" + (" (per index)" if q.ndim == 3 else ""), fontsize=9)
    fig.tight_layout()
    return fig


def plot_side_by_side(runs: dict, title: str) -> Figure | None:
    """The paper's Figs. 5–6 layout: one panel per profile the runs share (the spectrum or signal, the
    fitted y(t)), each run's median and 5–95 % band over chains in its own colour, the truth dashed."""
    profiles = [name for name in AXES if all(f"readout_{name}" in arrays for arrays in runs.values())]
    if not profiles:
        return None
    fig, axes = subplots(1, len(profiles), figsize=(6.0 * len(profiles), 3.8), dpi=110, squeeze=False)
    for ax, name in zip(axes[0], profiles):
        for i, (label, arrays) in enumerate(runs.items()):
            q = arrays[f"readout_{name}"]
            x = np.linspace(0, 1, q.shape[0]) if name == "fit" else np.arange(q.shape[0])
            ax.fill_between(x, q[:, 0], q[:, 4], color=f"C{i}", alpha=0.2, lw=0)
            ax.plot(x, q[:, 2], color=f"C{i}", lw=1.2, label=f"{label} (median, 5–95 %)")
        truth = next((a[f"readout_{name}_truth"] for a in runs.values() if f"readout_{name}_truth" in a), None)
        if truth is not None:
            ax.plot(np.linspace(0, 1, truth.shape[0]) if name == "fit" else np.arange(truth.shape[0]), truth,
                    color="k", ls="--", lw=1, label="truth")
        ax.set_xlabel(AXES[name][0])
        ax.set_ylabel(AXES[name][1])
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
