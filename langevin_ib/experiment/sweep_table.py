"""A sweep's tables: sweep.csv (one row per point × test × hypothesis), sweep.json and histograms.npz
with a leading grid axis (columns and arrays in docs/sweeps.md)."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from langevin_ib.experiment import job
from langevin_ib.experiment.sweep_grid import Point
from langevin_ib.experiment.verdicts import results


def largest_z(z: Any) -> float:
    """A result's z as one number: itself, or for a test with one z per component (Stein's fields, the
    χ-drift test's bins) the finite one of largest |z| (NaN if none)."""
    values = list(z.values()) if isinstance(z, dict) else list(z) if isinstance(z, (list, tuple)) else [z]
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return max(finite, key=abs) if finite else float("nan")


def csv_rows(point: Point, summary: dict) -> list[dict]:
    """One row per test × hypothesis of a point, or one without a test (columns in docs/sweeps.md)."""
    sizes = summary.get("sizes", {})
    common = {"point": point.index, **point.values,
              **{k: sizes[k] for k in ("steps", "burn_in", "thin", "time", "burn_in_time", "thin_time") if k in sizes}}
    moments = {f"{name}_{k}": v for name, m in summary["moments"].items() for k, v in m.items()}
    stationarity = summary.get("stationarity") or {}
    tail = {**moments, "stationary": stationarity.get("stationary"), "diverged_fraction": summary["divergence"]["fraction"],
            "chain_steps_per_second": summary["timing"]["chain_steps_per_second"]}
    rows = []
    for test, hypotheses in results(summary).items():
        for hypothesis, r in hypotheses.items():
            rows.append({**common, "test": test, "hypothesis": hypothesis,
                         "statistic": r.get("statistic", r.get("t_squared")), "dof": r.get("dof", r.get("rank")),
                         "z": largest_z(r["z"]), "p_value": r["p_value"], "verdict": r.get("verdict", ""), **tail})
    return rows or [{**common, "test": "", "hypothesis": "", **tail}]  # no test: the moments alone


def write_csv(path: Path, rows: list[dict]) -> None:
    """The rows as CSV, columns in first-seen order, missing cells empty."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, list(dict.fromkeys(k for row in rows for k in row)), restval="")
        writer.writeheader()
        writer.writerows(rows)


def stack(content: dict, arrays: list[dict]) -> dict:
    """histograms.npz of a sweep: each point's arrays stacked along a leading grid axis (one entry per
    point, ``point<i>_<name>``, where shapes differ between compile groups), with grid_values and grid_keys."""
    stacked = {}
    for name in dict.fromkeys(k for a in arrays for k in a):
        values = [a.get(name) for a in arrays]
        shapes = {np.shape(v) for v in values if v is not None}
        if len(shapes) == 1 and all(v is not None for v in values):
            stacked[name] = np.stack(values)
        else:  # differs between compile groups: one entry per point
            stacked.update({f"point{i}_{name}": v for i, v in enumerate(values) if v is not None})
    stacked["grid_values"] = np.asarray([[r["values"][k] for k in content["axes"]] for r in content["points"]], float)
    stacked["grid_keys"] = np.asarray(list(content["axes"]))
    return stacked


def write(out: Path, content: dict, rows: list[dict], stacked: dict) -> None:
    """sweep.json (strict JSON, as summary.json), sweep.csv and histograms.npz (:func:`stack`)."""
    out.mkdir(parents=True, exist_ok=True)
    job.write_json(out / "sweep.json", content)  # strict JSON: null, never a bare NaN token
    write_csv(out / "sweep.csv", rows)
    np.savez_compressed(out / "histograms.npz", **stacked)
