"""Calibration of the engine's tests on cases whose truth is known exactly (docs/statistics.md, "Calibration").

Each case is a seed sweep (``run.seed=range(0, S)``: one compiled program, every point analysed as a
run alone). For every test and hypothesis the script collects the S p-values and reports, at
significance 0.01: for the true hypothesis the rejection rate with its Clopper–Pearson 95% interval
and a KS test of its p-values against uniform; for each false hypothesis the rejection rate (power).
The stationarity check is calibrated alongside: its flag rate on these stationary runs, and a KS test
of each histogram's p-values.

    PYTHONPATH=. python scripts/calibration.py --seeds 200 --out runs/calibration

prints a markdown table and writes calibration.json (and each case's sweep folder) into --out.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy import stats

SIGNIFICANCE = 0.01
CASES = {  # name -> (config, {test: true hypothesis ("*": every test)}, what makes the truth exact)
    "harmonic_em": ("""
model: {name: harmonic, stiffness: 1.0, copies: 4}
dynamics: {integrator: euler_maruyama, temperature: 0.1, step_size: 0.2}
run: {chains: 64, burn_in: 500, steps: 2000, thin: 10, chunk_steps: 2500, chain_groups: 16}
observables: {x: {min: -1.5, max: 1.5, bins: 30}}
analysis: {snapshot_every: 0}
""", {"marginal": "discrete"}, "Euler–Maruyama's exact stationary law N(0, T/(k(1 − ηk/2)))"),
    "uv_langevin": ("""
model: {name: uv, target: 1.0}
dynamics: {integrator: leimkuhler_matthews, temperature: 0.1, step_size: 0.01}
run: {chains: 64, burn_in: 5000, steps: 2000, thin: 10, chunk_steps: 7000, chain_groups: 16, divergence_bound: 100.0}
observables: {theta: {min: 0.0, max: 2.0, bins: 20}, chi: {min: -2.0, max: 2.0, bins: 8}}
analysis: {snapshot_every: 20}
""", {"*": "geometric"}, "u·v isotropic Langevin (Leimkuhler–Matthews): the geometric law on the level sets of χ"),
    "uv_sgd_slice": ("""
model: {name: uv, target: 1.0, copies: 1, init_u: 1.0, init_v: 1.0, init_noise: 0.01, label_noise: 1.0}
dynamics: {integrator: sgd, temperature: 0.0, step_size: 0.1, weight_decay: 0.0, batch_size: 2, sampling: fresh}
run: {chains: 64, burn_in: 500, steps: 2000, thin: 10, chunk_steps: 500, chain_groups: 16, divergence_bound: 100.0}
observables: {theta: {min: 0.0, max: 3.0, bins: 60}, chi: {min: -1.0, max: 1.0, bins: 40}}
""", {"stationary_law": "sgd_chain", "chi_drift": "sgd"},
        "plain SGD on u·v's balanced slice (started next to it, θ relaxes in 1/(2ηθ*) = 5 steps): the exact law of "
        "the one-step map; the exact SGD drift of χ"),
    "linear_sgd": ("""
model: {name: linear, scales: [1.0, 4.0], target: 1.0, label_noise: 1.0}
dynamics: {integrator: sgd, temperature: 0.0, step_size: 0.05, weight_decay: 0.0, batch_size: 1, sampling: fresh}
run: {chains: 256, burn_in: 600, steps: 200, thin: 10, chunk_steps: 800, chain_groups: 16, divergence_bound: 100.0}
observables: {w: {min: 0.0, max: 2.0, bins: 20}}
""", {"stationary_covariance": "sgd"},
        "plain SGD on linear-Gaussian regression, S = diag(1, 4), started at w* (relaxation 1/(η·min S) = 20 steps): "
        "the exact stationary covariance, one sample of e eᵀ per chain (its final step)"),
}


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact binomial interval of a rate k/n."""
    tail = (1 - level) / 2
    low = stats.beta.ppf(tail, k, n - k + 1) if k > 0 else 0.0
    high = stats.beta.ppf(1 - tail, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def sweep(case: str, seeds: int, out: Path) -> dict:
    """Run the case's seed sweep; sweep.json's content."""
    from langevin_ib.experiment import sweep as sweep_lib, sweep_grid

    out.mkdir(parents=True, exist_ok=True)
    config = out / f"{case}.yaml"
    config.write_text(CASES[case][0])
    _, _, points = sweep_grid.load(config, [f"run.seed=range(0, {seeds})"])
    return sweep_lib.run(points, out / case, progress=False, log=lambda line: None).content


def p_values(content: dict) -> dict[tuple[str, str], np.ndarray]:
    """(test, hypothesis) -> the p-values over the points (NaN where untestable), plus the
    stationarity check's per-histogram p-values under ("stationarity", histogram) and its run-level
    flag (0 or 1) under ("stationarity", "run flagged (Bonferroni)")."""
    from langevin_ib.experiment import verdicts

    out: dict = {}
    for record in content["points"]:
        summary = record["summary"]
        for test, hypotheses in verdicts.results(summary).items():
            for hypothesis, result in hypotheses.items():
                out.setdefault((test, hypothesis), []).append(result["p_value"])
        check = summary.get("stationarity") or {}
        for name, result in check.get("histograms", {}).items():
            out.setdefault(("stationarity", name), []).append(result["p_value"])
        if check:  # the run's flag as a p-value: 0 where flagged, 1 where not (the rate is its flag rate)
            flag = {False: 0.0, True: 1.0}.get(check["stationary"], math.nan)
            out.setdefault(("stationarity", "run flagged (Bonferroni)"), []).append(flag)
    return {key: np.asarray([np.nan if p is None else p for p in ps], float) for key, ps in out.items()}


def row(case: str, test: str, hypothesis: str, p: np.ndarray, true: bool) -> dict:
    """One line of the table: rejection rate at SIGNIFICANCE (with its interval), KS p of the p-values."""
    scored = p[np.isfinite(p)]
    k, n = int((scored < SIGNIFICANCE).sum()), len(scored)
    low, high = clopper_pearson(k, n) if n else (math.nan, math.nan)
    return {"case": case, "test": test, "hypothesis": hypothesis, "true": true, "seeds": n,
            "untestable": int(len(p) - n), "rejected": k, "rate": k / n if n else math.nan, "interval": [low, high],
            "ks_p": float(stats.kstest(scored, "uniform").pvalue) if true and n and "flagged" not in hypothesis
            else math.nan}


def table(case: str, content: dict) -> list[dict]:
    """Every (test, hypothesis) of a case's sweep as a row."""
    truth = CASES[case][1]
    rows = []
    for (test, hypothesis), p in p_values(content).items():
        true = test == "stationarity" or truth.get(test, truth.get("*")) == hypothesis
        rows.append(row(case, test, hypothesis, p, true))
    return rows


def sizes(content: dict) -> str:
    run = content["config"]["run"]
    return (f"{run['chains']} chains × {run['steps'] // run['thin']} observations, {run['chain_groups']} groups, "
            f"η = {content['config']['dynamics']['step_size']:g}")


def markdown(rows: list[dict], described: dict) -> str:
    lines = ["| case | test | hypothesis | truth | seeds | rejected at 0.01 (95% CP interval) | KS p (truth) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        low, high = r["interval"]
        ks = f"{r['ks_p']:.2f}" if math.isfinite(r["ks_p"]) else ""
        seeds = f"{r['seeds']} (+{r['untestable']} untestable)" if r["untestable"] else str(r["seeds"])
        lines.append(f"| {r['case']} | {r['test']} | {r['hypothesis']} | {'true' if r['true'] else 'false'} | "
                     f"{seeds} | {r['rate']:.3f} ({low:.3f}–{high:.3f}) | {ks} |")
    lines += ["", *(f"- {case}: {text}" for case, text in described.items())]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", type=Path, default=Path("runs/calibration"))
    args = parser.parse_args()
    rows, described = [], {}
    for case in args.cases:
        content = sweep(case, args.seeds, args.out)
        rows += table(case, content)
        described[case] = (f"{CASES[case][2]}; {sizes(content)}; wall {content['timing']['wall_seconds']:.0f} s "
                           f"({content['timing']['backend']})")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "calibration.json").write_text(json.dumps({"rows": rows, "cases": described}, indent=2))
    print(markdown(rows, described))


if __name__ == "__main__":
    main()
