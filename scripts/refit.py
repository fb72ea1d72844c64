"""Recompute every fit of a run from its histograms.npz alone and compare with its summary.json.

    python scripts/refit.py runs/uv
"""

import argparse
import json
from pathlib import Path

import numpy as np

from langevin_ib.statistics.goodness_of_fit import pearson_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="output folder of langevin-ib run")
    parser.add_argument("--significance", type=float, default=None, help="test level (default: the run's)")
    args = parser.parse_args()
    data = np.load(args.run_dir / "histograms.npz")
    summary = json.loads((args.run_dir / "summary.json").read_text())
    level = args.significance if args.significance is not None else summary["significance"]
    for key in sorted(k for k in data.files if k.endswith("_probabilities")):
        test, hypothesis = next((t, key[len(t) + 1:-len("_probabilities")]) for t in summary["fits"]
                                if key.startswith(t + "_"))
        fit = pearson_test(data[f"{test}_counts"], data[key], significance=level)
        reported = summary["fits"][test]["hypotheses"][hypothesis]["statistic"]
        print(f"{test:<10} {hypothesis:<10} X²/c = {fit['statistic']:.2f} on {fit['dof']:.1f} dof, "
              f"p = {fit['p_value']:.3g}, {fit['verdict']} (summary.json: {reported:.2f})")


if __name__ == "__main__":
    main()
