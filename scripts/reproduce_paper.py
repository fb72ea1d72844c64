"""Reproduce the paper's Figs. 2–6 (arXiv 2601.06597) as ensembles and write their table (docs/paper.md).

    python scripts/reproduce_paper.py [--short] [--out runs/paper] [--only fig5,fig6] [--ablations]
                                      [--set run.chains=8 ...] [--resume]

Each figure is one or two configs under configs/ (the paper's hyperparameters); every run writes its
usual folder (summary.json, histograms.npz, readout.png, readout_bands.png, bands.png) under --out, and
table.md there holds, per figure, the paper's numbers beside ours (median and 5–95 % over chains).
``--short`` runs fewer steps and chains (SHORT below) so that the whole set finishes on 2 CPU cores in
minutes; one progress bar counts the runs. The full step counts are the configs' own.
``--ablations`` runs Figs. 2–4 instead under SGD, full-batch GD, Langevin at SGD's T_eff and SGLD
(:mod:`langevin_ib.experiment.paper_ablations`; ``--short``: ABLATION_SHORT) and Figs. 5–6 under
SGD (ABLATION_SGD) beside the authors' GD, writing ablation_<figure>.png and ablations.md.
``--set key=value`` overrides every run's config after those sizes (e.g. fewer chains at the paper's
lengths); ``--resume`` keeps each finished run (its summary.json) and continues an unfinished one from
its checkpoint, so a long set survives a kill.
"""

from __future__ import annotations

import argparse
import json
import os
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
ABLATION_SHORT = {  # --ablations --short: each of the four dynamics at these sizes
    "fig2": ["run.chains=64", "run.steps=20000"],
    "fig3": ["run.chains=8", "run.steps=4000", "run.thin=500", "run.chunk_steps=500"],  # GD and Langevin take
    # the gradient of all 256 sequences each step, 16 times SGD's batch
    "fig4": ["run.chains=16", "run.steps=20000", "run.chunk_steps=2000"],
}
ABLATION_SGD = {  # Figs. 5–6 under the paper's SGD (its text gives no batch size; the authors' code runs GD):
    # half the data each step without replacement, as the paper's Fig. 4
    "fig5": ["dynamics.integrator=sgd", "dynamics.batch_size=16", "dynamics.sampling=without_replacement"],
    "fig6": ["dynamics.integrator=sgd", "dynamics.batch_size=30", "dynamics.sampling=without_replacement"],
}
PAPER = {  # (figure, run, quantity) -> the paper's number, and where it comes from
    ("fig2", "relu", "ratio |v_j|/‖W_j‖"): "→ 1 from ≈3·10⁴ steps (Fig. 2 caption)",
    ("fig3", "attention", "ratio ‖Q_j‖/‖K_j‖ (per index)"): "→ 1 from ≈3.5·10⁴ steps (Fig. 3 caption)",
    ("fig3", "attention", "eval_mse"): "6.8·10⁻² after 3·10⁵ steps (mean over entries, as ours; authors' saved "
                                       "run: minibatch MSE 9.6 at 10⁴ steps, 0.46 at 5·10⁴)",
    ("fig4", "completion", "sigma_1"): "15 (target); authors' saved run σ(UV) = 7.44, plotted as 2σ",
    ("fig4", "completion", "sigma_2"): "5 (target); authors' saved run 2.02",
    ("fig4", "completion", "sigma_3"): "≈0 (target); authors' saved run 1.62",
    ("fig4", "completion", "ratio ‖U_j‖/‖V_j‖ (per index)"): "→ 1 (Fig. 4b)",
    ("fig5", "hadamard", "test_mse"): "authors' saved run 0.0229",
    ("fig5", "plain", "test_mse"): "authors' saved run 2.52",
    ("fig6", "cumsum_hadamard", "reconstruction_mse"): "7.94·10⁻² (at 5·10⁵ steps)",
    ("fig6", "plain", "reconstruction_mse"): "1.39",
    ("fig6", "cumsum_hadamard", "total_variation"): "≈23 (truth 6.0)",
    ("fig6", "plain", "total_variation"): "≈130",
}


RATIO_LABEL = {"fig2": "ratio |v_j|/‖W_j‖", "fig3": "ratio ‖Q_j‖/‖K_j‖"}  # each model's readout ratio


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
        label = RATIO_LABEL.get(figure, "ratio ‖U_j‖/‖V_j‖")
        per_column = arrays["readout_ratio"][:, 2]
        out.append((f"{label} (per index)", f"per-column medians {per_column.min():.3g}–{per_column.max():.3g}"))
    if "readout_sigma" in arrays:
        for i in range(3):
            out.append((f"sigma_{i + 1}", spread(arrays["readout_sigma"][i])))
    return out


def save_side_by_side(out: Path, figures: dict, suffix: str = "") -> None:
    """<figure><suffix>.png in the paper's layout for each figure of two runs (Figs. 5–6: the inverse-designed
    model and the plain baseline together, :func:`langevin_ib.experiment.paper_plots.plot_side_by_side`)."""
    from langevin_ib.experiment import paper_plots
    from langevin_ib.experiment.output import save_figures

    for figure, runs in figures.items():
        if len(runs) > 1:
            arrays = {run: dict(np.load(folder / "histograms.npz")) for run, folder in runs}
            fig = paper_plots.plot_side_by_side(arrays, f"{figure}: {' vs '.join(arrays)}")
            if fig is not None:
                save_figures(out, {f"{figure}{suffix}": fig})


def ablation_rows(figure: str, folders: dict, temperature: float, drift: dict) -> list[str]:
    """ablations.md rows of one of Figs. 2–4 from its runs' folders: per dynamics the end-of-run per-index
    median ratios, χ's pooled median from step 0 to the end, its predicted drift per step at the shared
    initial positions (``drift``: paper_ablations.drift_summary) with the terms it has, and the χ-drift
    test where the run has one."""
    from langevin_ib.experiment import paper_ablations

    out = []
    for name, folder in folders.items():
        arrays, summary = np.load(folder / "histograms.npz"), json.loads((folder / "summary.json").read_text())
        terms = ", ".join(f"{k} {v:+.2g}" for k, v in drift["terms"].items() if k in paper_ablations.USES[name])
        medians, chi = arrays["readout_ratio"][:, 2], arrays["chi_trace_quantiles"][:, 2]
        test = summary.get("chi_drift") or {}
        verdicts = "; ".join(f"{h} X² = {r['statistic']:.3g}" for h, r in test.get("hypotheses", {}).items()
                             if isinstance(r, dict) and r.get("statistic") is not None)
        out.append(f"| {figure} | {name} | {temperature if name in ('langevin', 'sgld') else 0:.3g} | "
                   f"{medians.min():.3g}–{medians.max():.3g} | {chi[0]:.3g} → {chi[-1]:.3g} | "
                   f"{drift[name]['median']:+.2g} ({terms}) | {verdicts} | {summary['timing']['wall_seconds']:.0f} |")
    return out


def finished(folder: Path) -> bool:
    """Whether ``folder`` holds a finished run (its summary.json), which ``--resume`` keeps."""
    return (folder / "summary.json").is_file()


def run_once(experiment, folder: Path, resume: bool) -> None:
    """Run ``experiment`` into ``folder``; with ``resume`` a finished run is kept and an unfinished one
    continues from its checkpoint."""
    from langevin_ib.experiment import job

    if not (resume and finished(folder)):
        job.run_and_write(experiment, folder, progress=False, log=None, resume=resume)


def ablations(chosen: list[str], short: bool, out: Path, bar, simulate: bool = True, sets: tuple = (),
              resume: bool = False) -> None:
    """Run the ablations (module docstring) of the ``chosen`` figures (``simulate`` False: read the runs
    already in ``out``), writing ablations.md after each figure and the figures; ``sets`` override every
    run's config, ``resume`` as :func:`run_once`."""

    from langevin_ib.experiment import config as config_lib, job, paper_ablations
    from langevin_ib.experiment.output import save_figures

    lines = ["# Ablations of the paper's figures (docs/paper.md)\n",
             "| figure | dynamics | T | per-index median ratio at the end | median χ: step 0 → end | "
             "predicted E[Δχ] per step at the start, median (terms) | χ-drift test | seconds |", "|---|" * 1 + "---|" * 7]
    for figure in [f for f in chosen if f in ABLATION_SHORT]:
        raw = config_lib.apply_overrides(config_lib.read(ROOT / "configs" / FIGURES[figure][0][1]),
                                         (ABLATION_SHORT[figure] if short else []) + list(sets))
        folders, temperature = {name: out / f"{figure}_ablation_{name}" for name in paper_ablations.DYNAMICS}, 0.0
        for name, folder in folders.items():
            bar.set_postfix_str(f"{figure} {name}")
            if simulate:
                run_once(config_lib.resolve(paper_ablations.variant(raw, name, temperature)), folder, resume)
            if name == "sgd":
                temperature = json.loads((folder / "summary.json").read_text())["effective_temperature"]["value"]
            bar.update()
        experiment = config_lib.resolve(raw)
        with job.precision(experiment):
            model = job.build_model(experiment)
            start = paper_ablations.initial_positions(model, experiment.run.seed)
            drift = paper_ablations.drift_summary(paper_ablations.predicted_terms(experiment, model, start, temperature))
        lines += ablation_rows(figure, folders, temperature, drift)
        (out / "ablations.md").write_text("\n".join(lines) + "\n")
        runs = {name: dict(np.load(folder / "histograms.npz")) for name, folder in folders.items()}
        save_figures(out, {f"ablation_{figure}": paper_ablations.plot(f"{figure}: balance ratios under four dynamics",
                                                                      runs, temperature)})
    for figure in [f for f in chosen if f in ABLATION_SGD]:
        for run, config in FIGURES[figure]:
            bar.set_postfix_str(f"{figure} {run} sgd")
            folder = out / f"{figure}_{run}_sgd"
            if simulate:
                run_once(config_lib.load(ROOT / "configs" / config, ABLATION_SGD[figure] + (SHORT[figure] if short else [])
                                         + list(sets)), folder, resume)
            lines += [f"| {figure} | {run} sgd | 0 | {quantity} {ours} | | | | |" for quantity, ours in rows_of(figure, run, folder)]
            (out / "ablations.md").write_text("\n".join(lines) + "\n")
            bar.update()
        save_side_by_side(out, {figure: [(run, out / f"{figure}_{run}_sgd") for run, _ in FIGURES[figure]]}, "_sgd")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="fewer steps and chains (minutes on 2 cores)")
    parser.add_argument("--out", default="runs/paper", help="output folder (default runs/paper)")
    parser.add_argument("--only", default="", help="comma-separated figures, e.g. fig5,fig6 (default all)")
    parser.add_argument("--ablations", action="store_true", help="Figs. 2–4 under SGD, GD, Langevin, SGLD; Figs. 5–6 under SGD")
    parser.add_argument("--from-runs", action="store_true", help="with --ablations: tables and figures from the runs in --out")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override every run's config after --short's sizes, e.g. --set run.chains=8 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="keep finished runs in --out, continue unfinished ones")
    args = parser.parse_args(argv)
    chosen = [f for f in args.only.split(",") if f] or list(FIGURES)
    unknown = [f for f in chosen if f not in FIGURES]
    if unknown:
        parser.error(f"--only: unknown figure {unknown[0]!r}; accepted values are {list(FIGURES)}")

    from tqdm.auto import tqdm

    from langevin_ib.experiment import config as config_lib
    from langevin_ib.base import ConfigError

    out = Path(args.out)
    runs = [(figure, run, config) for figure in chosen for run, config in FIGURES[figure]]
    experiments = {}
    try:  # every config validated before anything runs
        for figure, run, config in runs:
            experiments[figure, run] = config_lib.load(ROOT / "configs" / config,
                                                       (SHORT[figure] if args.short else []) + args.set)
    except ConfigError as err:
        print(f"reproduce_paper: error: {err}", file=sys.stderr)
        return 2
    table = [f"# The paper's figures as ensembles ({'--short' if args.short else 'full'} runs)\n",
             "| figure | run | quantity | paper | ours: median [5 %, 95 %] over chains | chains × steps | seconds "
             "(CPU seconds) |", "|---|---|---|---|---|---|---|"]
    if args.ablations:
        count = 4 * len([f for f in chosen if f in ABLATION_SHORT]) + len([r for r in runs if r[0] in ABLATION_SGD])
        bar = tqdm(total=count, desc="ablation runs", unit="run")
        ablations(chosen, args.short, out, bar, simulate=not args.from_runs, sets=tuple(args.set), resume=args.resume)
        bar.close()
        print(f"wrote {out}/ablations.md, ablation_<figure>.png and one folder per run")
        return 0
    began, load = time.perf_counter(), os.getloadavg()
    bar = tqdm(total=len(runs), desc="paper runs", unit="run")
    for figure, run, config in runs:
        experiment, folder = experiments[figure, run], out / f"{figure}_{run}"
        bar.set_postfix_str(f"{figure} {run}")
        start, cpu = time.perf_counter(), time.process_time()
        run_once(experiment, folder, args.resume)
        seconds = f"{time.perf_counter() - start:.0f} ({time.process_time() - cpu:.0f})"
        sizes = f"{experiment.run.chains} × {experiment.run.steps}"
        for quantity, ours in rows_of(figure, run, folder):
            paper = PAPER.get((figure, run, quantity), "")
            quantity = quantity.replace("|", "\\|")  # a norm's bars would split the Markdown cell
            table.append(f"| {figure} | {run} ({config}) | {quantity} | {paper} | {ours} | {sizes} | {seconds} |")
        bar.update()
    bar.close()
    save_side_by_side(out, {figure: [(run, out / f"{figure}_{run}") for run, _ in FIGURES[figure]] for figure in chosen})
    table.append(f"\n{time.perf_counter() - began:.0f} s in all; load average (1 min) {load[0]:.1f} at the start, "
                 f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores (seconds: wall; CPU: this process's, all threads)")
    (out / "table.md").write_text("\n".join(table) + "\n")
    print(f"wrote {out}/table.md and one folder per run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
