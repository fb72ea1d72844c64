"""Short runs of every config, compared with a recorded baseline: a refactor must not change a number.

    python scripts/check_behaviour.py --record   # write scripts/behaviour_baseline.json (and print what moved)
    python scripts/check_behaviour.py            # rerun and compare (exit 1 on any difference)

Each config runs with 256 chains, a burn-in of 10 observations in chunks of 5, and 2 snapshots of
the Stein and full-conditional tests (LIGHTER: fewer chains and a shorter thinning for the configs
whose SGD analysis takes minutes at those sizes), through the command line (``langevin-ib run``), so the
comparison covers config loading, the plan, the runner, the fits and the summary. Every number in
summary.json except timings is compared exactly (the runs are deterministic for a seed); keys
present on one side only are reported too.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scripts" / "behaviour_baseline.json"
CONFIGS = [p for p in sorted((ROOT / "configs").glob("*.yaml")) + sorted((ROOT / "examples").glob("*.yaml"))
           if not {"configs", "sweep"} & set(yaml.safe_load(p.read_text()))]  # run configs, not batches or sweeps
IGNORED = {"timing", "wall_seconds", "compile_seconds", "run_seconds", "chain_steps_per_second", "seconds",
           "conclusion"}  # the conclusion is words read from the verdicts, which are compared


# config -> (chains, thin) replacing (256, the config's thin): at 256 chains and thin 1000 the SGD runs of
# paper_fig3 and paper_fig4 (3·10⁴ steps, the SGD tests) each took over 10 minutes on the 2-core VM
LIGHTER = {"paper_fig3": (16, 100), "paper_fig4": (16, 100)}


def short_overrides(path: Path) -> list[str]:
    raw = yaml.safe_load(path.read_text())
    run, analysis = raw.get("run", {}), raw.get("analysis") or {}
    chains, thin = LIGHTER.get(path.stem, (256, run.get("thin", 1)))
    every = analysis.get("snapshot_every", 10) or 10
    return [f"run.chains={chains}", f"run.burn_in={10 * thin}", f"run.steps={2 * every * thin}",
            f"run.chunk_steps={5 * thin}", f"run.chain_groups={min(run.get('chain_groups', 64), 32, chains)}"] + (
        [f"run.thin={thin}"] if path.stem in LIGHTER else [])


def numbers(tree, prefix=""):
    """Flatten a summary into {path: value}, leaving out timings."""
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            if key == "consistent" and isinstance(value, bool):  # the baseline's Stein boolean, now a verdict
                key, value = "verdict", "consistent" if value else "rejected"
            if key not in IGNORED:
                out.update(numbers(value, f"{prefix}/{key}"))
        return out
    if isinstance(tree, list):
        out = {}
        for i, value in enumerate(tree):
            out.update(numbers(value, f"{prefix}[{i}]"))
        return out
    return {prefix: tree}


def run(path: Path) -> dict:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "langevin_ib.cli", "run", str(path), "--out", out, "--quiet",
               *short_overrides(path)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{path.name}: exit {done.returncode}\n{done.stderr[-2000:]}")
        return numbers(json.loads((Path(out) / "summary.json").read_text()))


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="write the baseline instead of comparing")
    parser.add_argument("configs", nargs="*", help="config names (stems) to run; default all")
    args = parser.parse_args()
    chosen = [p for p in CONFIGS if not args.configs or p.stem in args.configs]
    old = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    baseline = {} if args.record and not args.configs else dict(old)  # a full record drops configs that went
    differences = 0
    for path in chosen:
        got = run(path)
        want = old.get(path.stem)
        if args.record:
            baseline[path.stem] = got
            print(f"{path.stem}: recorded {len(got)} numbers", flush=True)
        if args.record and want is None:
            continue
        if want is None:
            print(f"{path.stem}: no baseline")
            differences += 1
            continue
        changed = [k for k in sorted(set(want) | set(got)) if not same(want.get(k, "<absent>"), got.get(k, "<absent>"))]
        differences += len(changed)
        print(f"{path.stem}: {'identical' if not changed else f'{len(changed)} of {len(want)} differ'}", flush=True)
        for key in changed[:20]:
            print(f"  {key}: {want.get(key, '<absent>')} -> {got.get(key, '<absent>')}")
    if args.record:
        BASELINE.write_text(json.dumps(baseline, indent=1, sort_keys=True))
    return 1 if differences and not args.record else 0


if __name__ == "__main__":
    sys.exit(main())
