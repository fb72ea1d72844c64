"""The Python API, one call per experiment or sweep::

    import langevin_ib as lib
    result = lib.run("configs/uv.yaml", {"run.chains": 256})
    result.verdicts, result.summary["conclusion"], result.figures()["density"]
    result.save("runs/uv")  # the files `langevin-ib run` writes

A config is a YAML path, a mapping of sections, an :class:`~langevin_ib.experiment.config.Experiment`
or None (the embedded u·v experiment); overrides a mapping of dotted keys to values or the CLI's
``key=value`` strings. Bad input raises :class:`ConfigError` with the line the CLI prints. JAX computes
in the config's run.dtype inside the call only (:func:`langevin_ib.experiment.job.precision`): no global
flag is changed. The CLI's ``run`` and ``sweep`` are these functions with their output printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np

from langevin_ib.experiment import config as config_lib, job, output, sweep as sweep_lib, sweep_grid
from langevin_ib.experiment.config import Experiment
from langevin_ib.experiment.sweep_grid import Point
from langevin_ib.experiment.sweep_table import largest_z
from langevin_ib.experiment.verdicts import outcome, results
from langevin_ib.base import ConfigError
from langevin_ib.models.fields import short

Config = Union[str, os.PathLike, Mapping, Experiment, None]
Overrides = Union[Mapping[str, Any], Sequence[str], None]
Grid = Union[Mapping[str, Any], Sequence[str], None]
Log = Union[Callable[[str], None], None]


class Table(list):
    """Rows (dicts) of one table, printed aligned; :meth:`to_pandas` where pandas is installed."""

    def columns(self) -> list[str]:
        return list(dict.fromkeys(key for row in self for key in row))

    def to_pandas(self):
        """The rows as a pandas DataFrame (pandas is not a dependency of langevin_ib)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("Table.to_pandas needs pandas (pip install pandas); the rows are a list of "
                              "dicts") from None
        return pandas.DataFrame(list(self), columns=self.columns())

    def __repr__(self) -> str:
        columns = self.columns()
        cells = [columns] + [[_cell(row.get(c, "")) for c in columns] for row in self]
        widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in cells)


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def _json(value: Any) -> Any:
    """``value`` as its strict JSON file holds it (:func:`langevin_ib.experiment.job.strict`)."""
    return json.loads(json.dumps(job.strict(value), allow_nan=False))


class Result:
    """One run: ``summary`` (summary.json's dict), ``verdicts`` (test × hypothesis -> verdict, z, p),
    ``histograms`` (histograms.npz's arrays), ``run`` (the :class:`~langevin_ib.dynamics.result.RunResult`,
    final chain state included), :meth:`figures` and :meth:`save`."""

    def __init__(self, analysis: job.Analysis):
        self.analysis = analysis
        self.summary: dict = _json(analysis.summary)
        self.verdicts = Table({"test": test, "hypothesis": hypothesis, "verdict": outcome(r), "z": largest_z(r["z"]),
                               "p_value": r["p_value"]}
                              for test, hypotheses in results(analysis.summary).items()
                              for hypothesis, r in hypotheses.items())

    @property
    def experiment(self) -> Experiment:
        return self.analysis.experiment

    @property
    def histograms(self) -> dict[str, np.ndarray]:
        return self.analysis.arrays

    @property
    def run(self):
        return self.analysis.result

    @property
    def conclusion(self) -> str:
        return self.summary["conclusion"]

    def figures(self) -> dict:
        """name -> matplotlib Figure (density, one per conditional test, bands for SGD, chi)."""
        return job.figures(self.analysis)

    def save(self, folder: str | os.PathLike) -> Path:
        """Write config.yaml, summary.json, histograms.npz and the figures into ``folder`` (staged: an
        earlier run's folder there is replaced once all are written); returns the folder."""
        return _staged(folder, "run", lambda staging: job.write_outputs(staging, self.analysis))

    def __repr__(self) -> str:
        return f"Result({self.experiment.model.name}, {self.experiment.dynamics.integrator}: {self.conclusion})"


class SweepResult:
    """A sweep: ``summary`` (sweep.json's dict), ``table`` (sweep.csv's rows), ``histograms``
    (histograms.npz's arrays, a leading grid axis), :meth:`figures` and :meth:`save`."""

    def __init__(self, swept: sweep_lib.Sweep):
        self.swept = swept
        self.summary: dict = _json(swept.content)
        self.table = Table(swept.rows)

    @property
    def histograms(self) -> dict[str, np.ndarray]:
        return self.swept.arrays

    def figures(self) -> dict:
        """name -> matplotlib Figure: z against each swept axis, the verdict map, bias or exponent."""
        from langevin_ib.experiment import sweep_plots

        return sweep_plots.outputs(self.swept.content, self.swept.arrays)[0]

    def save(self, folder: str | os.PathLike) -> Path:
        """Write sweep.json, sweep.csv, histograms.npz and the figures into ``folder`` (staged); returns it."""
        return _staged(folder, "sweep", lambda staging: sweep_lib.write(staging, self.swept))

    def __repr__(self) -> str:
        return f"SweepResult({len(self.summary['points'])} points over {', '.join(self.summary['axes'])})"


def _staged(folder: str | os.PathLike, kind: str, write) -> Path:
    """``write(staging)`` into a staging folder that then replaces ``folder`` (:func:`output.staged`)."""
    folder = Path(folder)
    with output.staged(folder, kind) as staging:
        write(staging)
    return folder


def _raw(config: Config) -> dict:
    """The raw mapping of a config given as a path, a mapping, an Experiment or None (the default)."""
    if isinstance(config, Experiment):
        return config.to_dict()
    if isinstance(config, Mapping):
        return dict(config)
    if config is None or isinstance(config, (str, os.PathLike)):
        return config_lib.read(config)
    raise ConfigError(f"config: got a {type(config).__name__}; expected a YAML path, a mapping of sections or an "
                      "Experiment")


def _overrides(overrides: Overrides) -> Mapping[str, Any] | list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        return overrides
    if isinstance(overrides, (list, tuple)) and all(isinstance(item, str) for item in overrides):
        return list(overrides)
    raise ConfigError(f"overrides: got {short(overrides)}; expected a mapping of dotted keys to values, e.g. "
                      "{'run.chains': 256}, or a list of key=value strings")


def experiment(config: Config = None, overrides: Overrides = None) -> Experiment:
    """The resolved experiment of ``config`` with ``overrides``; ConfigError naming the field otherwise."""
    if isinstance(config, Experiment) and not overrides:
        return config  # resolved already
    return config_lib.resolve(config_lib.apply_overrides(_raw(config), _overrides(overrides)))


def _axes(grid: Grid) -> dict[str, Any]:
    """A sweep's axes from a mapping of dotted key -> values or the CLI's ``key=values`` strings."""
    if isinstance(grid, Mapping):
        return {str(key): value.tolist() if isinstance(value, np.ndarray) else value for key, value in grid.items()}
    if not (isinstance(grid, (list, tuple)) and all(isinstance(item, str) for item in grid)):
        raise ConfigError(f"grid: got {short(grid)}; expected a mapping of dotted keys to lists of values, e.g. "
                          "{'dynamics.temperature': [0.05, 0.1]}, or strings such as "
                          "dynamics.step_size=logspace(-3,-2,3)")
    axes = {}
    for item in grid:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"grid {short(item)}: expected key=values, e.g. dynamics.temperature=0.05,0.1")
        axes[key.strip()] = (config_lib.parse_value(text, f"sweep {key.strip()}: {short(text)}")
                             if text.strip().startswith("[") else text)
    return axes


def points(config: Config = None, grid: Grid = None, overrides: Overrides = None) -> list[Point]:
    """The resolved points of a sweep of ``config`` over ``grid`` (added to the config's ``sweep:``
    section) and ``overrides`` (the CLI's strings may hold axes too); ConfigError before any compile."""
    raw = _raw(config)
    if grid is not None:
        section = raw.get("sweep") or {}
        raw["sweep"] = {**section, **_axes(grid)} if isinstance(section, Mapping) else section
    return sweep_grid.grid(raw, _overrides(overrides))[2]


def run(config: Config = None, overrides: Overrides = None, *, out: str | os.PathLike | None = None,
        resume: bool = False, progress: bool = False, log: Log = None) -> Result:
    """Simulate, fit and test one experiment; with ``out``, write its files there as the CLI does,
    checkpointing into it (``resume`` continues from the checkpoint). ``log`` receives the line of sizes
    and memory estimate."""
    return Result(job.run_and_write(experiment(config, overrides), None if out is None else Path(out), progress,
                                    log, resume))


def sweep(config: Config | list[Point] = None, grid: Grid = None, overrides: Overrides = None, *,
          out: str | os.PathLike | None = None, resume: bool = False, progress: bool = False,
          log: Log = None) -> SweepResult:
    """Run the grid of ``config`` over ``grid`` (dotted key -> list of values, or the CLI's
    ``key=values`` strings) as one compiled program per shape (docs/sweeps.md); ``config`` may also be
    the points of :func:`points`. With ``out``, write its files there as the CLI does."""
    if not (isinstance(config, list) and config and all(isinstance(p, Point) for p in config)):
        config = points(config, grid, overrides)
    elif grid is not None or overrides is not None:
        raise ConfigError("grid, overrides: give them with a config, not with resolved points")
    swept = sweep_lib.run(config, None if out is None else Path(out), progress=progress, resume=resume,
                          log=log or (lambda line: None))
    return SweepResult(swept)
