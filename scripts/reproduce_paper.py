"""Reproduce the paper's Figs. 2–6 (arXiv 2601.06597) as ensembles and write their table (docs/paper.md).

    python scripts/reproduce_paper.py [--short] [--out runs/paper] [--only fig5,fig6]

Each figure is one or two configs under configs/ (the paper's hyperparameters); every run writes its
usual folder (summary.json, histograms.npz, readout.png, readout_bands.png, bands.png) under --out, and
table.md there holds, per figure, the paper's numbers beside ours (median and 5–95 % over chains).
``--short`` runs fewer steps and chains (SHORT below) so that the whole set finishes on 2 CPU cores in
minutes; one progress bar counts the runs. The full step counts are the configs' own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# figure -> [(run name, config)], in the paper's order
FIGURES = {
    "fig2": [("relu", "relu_paper_fig2.yaml")],
    "fig3": [("attention", "paper_fig3.yaml")],
    "fig4": [("completion", "paper_fig4.yaml")],
    "fig5": [("hadamard", "paper_fig5.yaml"), ("plain", "paper_fig5_plain.yaml")],
    "fig6": [("cumsum_hadamard", "paper_fig6.yaml"), ("plain", "paper_fig6_plain.yaml")],
}
SHORT = {  # overrides of --short: the figure's shape at a fraction of its steps and chains
    "fig2": ["run.chains=64", "run.steps=20000"],
    "fig3": ["run.chains=32", "run.steps=10000", "run.chunk_steps=1000"],
    "fig4": ["run.chains=32", "run.steps=20000", "run.chunk_steps=2000"],
    "fig5": ["run.chains=32", "run.steps=50000", "run.chunk_steps=5000"],
    "fig6": ["run.chains=32", "run.steps=50000", "run.chunk_steps=5000"],
}
PAPER = {  # (figure, run, quantity) -> the paper's number, and where it comes from
    ("fig2", "relu", "ratio |v_j|/‖W_j‖"): "→ 1 from ≈3·10⁴ steps (Fig. 2 caption)",
    ("fig3", "attention", "ratio ‖Q_j‖/‖K_j‖"): "→ 1 from ≈3.5·10⁴ steps (Fig. 3 caption)",
    ("fig3", "attention", "eval_mse"): "loss 6.8·10⁻² after 3·10⁵ steps (normalisation not stated)",
    ("fig4", "completion", "sigma_1"): "15 (target); authors' saved run σ(UV) = 7.44, plotted as 2σ",
    ("fig4", "completion", "sigma_2"): "5 (target); authors' saved run 2.02",
    ("fig4", "completion", "sigma_3"): "≈0 (target); authors' saved run 1.62",
    ("fig4", "completion", "ratio ‖U_j‖/‖V_j‖"): "→ 1 (Fig. 4b)",
    ("fig5", "hadamard", "test_mse"): "authors' saved run 0.0229",
    ("fig5", "plain", "test_mse"): "authors' saved run 2.52",
    ("fig6", "cumsum_hadamard", "reconstruction_mse"): "7.94·10⁻² (at 5·10⁵ steps)",
    ("fig6", "plain", "reconstruction_mse"): "1.39",
    ("fig6", "cumsum_hadamard", "total_variation"): "≈23 (truth 6.0)",
    ("fig6", "plain", "total_variation"): "≈130",
}


def spread(q) -> str:
    """'median [q5, q95]' of a 5-quantile row."""
    return f"{q[2]:.4g} [{q[0]:.3g}, {q[4]:.3g}]"


def rows_of(figure: str, run: str, folder: Path) -> list[tuple[str, str]]:
    """(quantity, ours) rows of one finished run: its readout metrics and, for Figs. 2–4, the
    end-of-run ratios (pooled over copies) and leading singular values."""
    summary = json.loads((folder / "summary.json").read_text())
    arrays = np.load(folder / "histograms.npz")
    out = []
    metrics = summary.get("readout", {}).get("metrics", {})
    for name in sorted(metrics):
        m = metrics[name]
        if "q50" in m:
            out.append((name, spread([m["q5"], m["q25"], m["q50"], m["q75"], m["q95"]])
                        + (f" (truth {m['truth']:.3g})" if "truth" in m else "")))
    if figure == "fig2" and "bands" in summary:
        out.append(("ratio |v_j|/‖W_j‖", spread(summary["bands"]["balance"][-1][0]) + " (pooled over neurons)"))
    if "readout_ratio" in arrays:
        label = "ratio ‖Q_j‖/‖K_j‖" if figure == "fig3" else "ratio ‖U_j‖/‖V_j‖"
        per_column = arrays["readout_ratio"][:, 2]
        out.append((label, f"per-column medians {per_column.min():.3g}–{per_column.max():.3g}"))
    if "readout_sigma" in arrays:
        for i in range(3):
            out.append((f"sigma_{i + 1}", spread(arrays["readout_sigma"][i])))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="fewer steps and chains (minutes on 2 cores)")
    parser.add_argument("--out", default="runs/paper", help="output folder (default runs/paper)")
    parser.add_argument("--only", default="", help="comma-separated figures, e.g. fig5,fig6 (default all)")
    args = parser.parse_args(argv)
    chosen = [f for f in args.only.split(",") if f] or list(FIGURES)
    unknown = [f for f in chosen if f not in FIGURES]
    if unknown:
        parser.error(f"--only: unknown figure {unknown[0]!r}; accepted values are {list(FIGURES)}")

    from tqdm.auto import tqdm

    from langevin_ib.experiment import config as config_lib, job
    from langevin_ib.base import ConfigError

    out = Path(args.out)
    runs = [(figure, run, config) for figure in chosen for run, config in FIGURES[figure]]
    experiments = {}
    try:  # every config validated before anything runs
        for figure, run, config in runs:
            experiments[figure, run] = config_lib.load(ROOT / "configs" / config, SHORT[figure] if args.short else [])
    except ConfigError as err:
        print(f"reproduce_paper: error: {err}", file=sys.stderr)
        return 2
    table = [f"# The paper's figures as ensembles ({'--short' if args.short else 'full'} runs)\n",
             "| figure | run | quantity | paper | ours: median [5 %, 95 %] over chains | chains × steps | seconds |",
             "|---|---|---|---|---|---|---|"]
    bar = tqdm(total=len(runs), desc="paper runs", unit="run")
    for figure, run, config in runs:
        experiment, folder = experiments[figure, run], out / f"{figure}_{run}"
        bar.set_postfix_str(f"{figure} {run}")
        start = time.perf_counter()
        job.run_and_write(experiment, folder, progress=False, log=None)
        seconds = time.perf_counter() - start
        sizes = f"{experiment.run.chains} × {experiment.run.steps}"
        for quantity, ours in rows_of(figure, run, folder):
            paper = PAPER.get((figure, run, quantity), "")
            quantity = quantity.replace("|", "\\|")  # a norm's bars would split the Markdown cell
            table.append(f"| {figure} | {run} ({config}) | {quantity} | {paper} | {ours} | {sizes} | {seconds:.0f} |")
        bar.update()
    bar.close()
    (out / "table.md").write_text("\n".join(table) + "\n")
    print(f"wrote {out}/table.md and one folder per run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
