"""readout.png: each profile of a run's readout (:mod:`.paper_metrics`) against its index, the median
and the 25–75 % and 5–95 % bands over chains, the truth dashed (the paper's Figs. 5–6 panels)."""

from __future__ import annotations

import numpy as np

from langevin_ib.experiment.plots import plt

AXES = {"signal": ("index i (k for a spectrum)", "signal x_i"), "fit": ("t", "fitted y(t)")}


def plot_readout(path, arrays: dict, metrics: dict, title: str) -> None:
    """One panel per ``readout_<profile>`` array, titled with the medians of ``metrics``."""
    names = sorted(k[len("readout_"):] for k in arrays
                   if k.startswith("readout_") and not k.endswith("_truth") and k != "readout_levels")
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 3.6), squeeze=False)
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
    fig.suptitle(f"{title}: medians {medians}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
