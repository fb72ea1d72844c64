"""Flag rates of the stationarity check (docs/statistics.md, "Stationarity"): its power on a transient
and its false-flag rate on stationary chains.

    PYTHONPATH=. python scripts/stationarity_power.py run configs/uv_small.yaml --seeds 20 dynamics.step_size=0.001
    PYTHONPATH=. python scripts/stationarity_power.py ar1 --chains 64 --groups 16 --replicates 2000

``run``: a seed sweep of CONFIG with the overrides (one compiled program); prints how many seeds the
run-level check flags (with its Clopper–Pearson 95% interval) and, per test, the rate of p below its
Bonferroni level, below 0.01 and below 0.05, the median z and a KS test of the p-values against uniform.
``ar1``: the same rates of the two statistics on stationary AR(1) chains (ρ = 0.9, 60 observations,
14 cells), drawn in NumPy, with each half-test's p-value from F(ν, ν(G − 1)) (the check's) and from χ²_ν.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
from scipy import stats

from langevin_ib.statistics import stationarity

_spec = importlib.util.spec_from_file_location("calibration", Path(__file__).with_name("calibration.py"))
calibration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibration)


def rates(name: str, p: np.ndarray, level: float) -> str:
    z = stats.norm.isf(np.clip(p, 1e-300, 1))
    return (f"  {name:14s} p < {level:.4f}: {np.mean(p < level):.3f}   p < 0.01: {np.mean(p < 0.01):.3f}   "
            f"p < 0.05: {np.mean(p < 0.05):.3f}   median z {np.median(z):.2f}   KS p {stats.kstest(p, 'uniform').pvalue:.2f}")


def flagged(k: int, n: int) -> str:
    low, high = calibration.clopper_pearson(k, n)
    return f"{k} of {n} ({k / n:.3f}, 95% CP {low:.3f}–{high:.3f})"


def run(config: str, seeds: int, overrides: list[str], out: Path) -> None:
    from langevin_ib.experiment import sweep, sweep_grid

    _, _, points = sweep_grid.load(config, [f"run.seed=range(0, {seeds})", *overrides])
    content = sweep.run(points, out, progress=False, log=lambda line: None).content
    checks = [record["summary"]["stationarity"] for record in content["points"]]
    print(f"{config} {' '.join(overrides)}: {content['timing']['wall_seconds']:.0f} s; flagged "
          + flagged(sum(c["stationary"] is False for c in checks), len(checks)))
    for name in checks[0]["histograms"]:
        p = np.asarray([c["histograms"][name]["p_value"] for c in checks], float)
        print(rates(name, p, checks[0]["level_per_histogram"]))


def ar1(chains: int, groups: int, replicates: int, rho: float = 0.9, observations: int = 60) -> None:
    rng = np.random.default_rng(chains * 1000 + groups)
    edges = np.linspace(-2.5, 2.5, 13)
    group, weight = np.arange(chains) % groups, np.arange(observations) - (observations - 1) / 2
    p = {"halves (F)": [], "halves (χ²)": [], "trend": []}
    for _ in range(replicates):
        x = rng.standard_normal(chains)
        counts, trends = np.zeros((2, groups, len(edges) + 1)), np.zeros((chains, 2))
        for k in range(observations):
            x = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal(chains)
            np.add.at(counts, (int(k >= observations // 2), group, np.digitize(x, edges)), 1)
            trends += weight[k] * np.stack([x, x * x], axis=1)
        halves = stationarity.two_sample_test(counts[0], counts[1])
        p["halves (F)"].append(halves["p_value"])
        p["halves (χ²)"].append(stats.chi2.sf(halves["statistic"], halves["dof"]))
        p["trend"].append(stationarity.trend_test(trends)["p_value"])
    print(f"AR(1) ρ = {rho}, {chains} chains in {groups} groups, {observations} observations, {replicates} replicates:")
    for name, values in p.items():
        values = np.asarray(values)
        print(rates(name, values, 0.01) + f"   flagged at 0.01: {flagged(int(np.sum(values < 0.01)), replicates)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    on_run = commands.add_parser("run")
    on_run.add_argument("config")  # then its overrides, key=value
    on_run.add_argument("--seeds", type=int, default=20)
    on_run.add_argument("--out", type=Path, default=Path("runs/stationarity_power"))
    on_ar1 = commands.add_parser("ar1")
    on_ar1.add_argument("--chains", type=int, default=64)
    on_ar1.add_argument("--groups", type=int, default=16)
    on_ar1.add_argument("--replicates", type=int, default=2000)
    args, overrides = parser.parse_known_args()
    if args.command == "run":
        run(args.config, args.seeds, overrides, args.out)
    elif overrides:
        parser.error(f"unrecognized arguments: {' '.join(overrides)}")
    else:
        ar1(args.chains, args.groups, args.replicates)


if __name__ == "__main__":
    main()
