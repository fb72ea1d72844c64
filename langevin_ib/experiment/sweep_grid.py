"""A sweep's specification: its axes (key -> values) from ``key=v1,v2``, ``key=logspace(a,b,n)``,
``key=linspace(a,b,n)``, ``key=range(a,b[,step])`` overrides or a ``sweep:`` section of the YAML, and its
points, the Cartesian product of the axes, each resolved and checked (docs/sweeps.md). Keys of
:data:`DATA_KEYS` (and ``model.data_seed`` of a model that binds its data: :func:`data_keys`) are data of
one compiled program; the others (:func:`sweepable`) change shapes.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from langevin_ib import models
from langevin_ib.experiment import config as config_lib
from langevin_ib.experiment.config import Experiment
from langevin_ib.base import ConfigError
from langevin_ib.models.fields import short

DATA_KEYS = ("dynamics.temperature", "dynamics.step_size", "dynamics.weight_decay", "run.seed")
SHAPE_KEYS = ("run.chains",)  # and every int field of the model (model.<field>)
BATCH_KEY = "dynamics.batch_size"  # a shape key of the minibatch integrators (gd has none)
DATA_SEED = "model.data_seed"  # data of the program where the model declares arrays(cfg) and bind(cfg, arrays, dtype)
POSITIVE = ("dynamics.temperature", "dynamics.step_size")
MAX_POINTS = 10_000  # a point's results stay in host memory until written: ~100 kB, so ~1 GB (issue 31: 10⁵ took 10 GB)

TIMED = tuple(f"run.{timed}" for _, timed, _ in config_lib.DURATIONS)  # errors that depend on the point's η

_CALL = re.compile(r"^\s*(logspace|linspace|range)\s*\((.*)\)\s*$")


@dataclasses.dataclass(frozen=True)
class Point:
    """One experiment of a sweep or batch: its index, the values it was given, and for a batch point
    its folder name under the batch's out and its config file."""

    index: int
    values: Mapping[str, Any]  # swept (or overridden) key -> value
    experiment: Experiment
    name: str = ""
    config: str = ""

    @property
    def label(self) -> str:
        return Path(self.config).stem


def data_keys(model_name: str) -> tuple[str, ...]:
    """The keys whose values are data of one compiled program for the model ``model_name``: :data:`DATA_KEYS`,
    and :data:`DATA_SEED` where the model's module draws its data in ``arrays`` (docs/sweeps.md)."""
    try:
        binds = hasattr(models.lookup(model_name), "arrays")
    except ConfigError:
        binds = False
    return DATA_KEYS + ((DATA_SEED,) if binds else ())


def sweepable(raw: Mapping) -> tuple[str, ...]:
    """The keys a sweep may vary for this config's model and integrator."""
    from langevin_ib.dynamics import integrators

    model, dynamics = (raw.get(k) if isinstance(raw.get(k), Mapping) else {} for k in ("model", "dynamics"))
    name, integrator = model.get("name", "uv"), dynamics.get("integrator")
    try:
        fields = models.lookup(name).FIELDS
    except Exception:  # an unknown model is config.resolve's error to report
        fields = {}
    batched = (isinstance(integrator, str) and integrator in integrators.REGISTRY
               and integrators.takes_settings(integrator) and integrator != "gd")
    return (DATA_KEYS + SHAPE_KEYS + ((BATCH_KEY,) if batched else ())
            + tuple(f"model.{k}" for k, f in fields.items() if f.kind is int))


def _call_values(key: str, value: str, kind: str, arguments: str) -> list:
    """The values of ``logspace(a,b,n)``, ``linspace(a,b,n)`` or ``range(a,b[,s])``, counted before they are built."""
    try:
        numbers = [float(a) for a in arguments.split(",")]
    except ValueError:
        raise ConfigError(f"sweep {key}: {short(value)} has a non-numeric argument") from None
    if kind == "range":
        if not 1 <= len(numbers) <= 3 or not all(math.isfinite(n) and n == int(n) for n in numbers) or (
                len(numbers) == 3 and numbers[2] == 0):
            raise ConfigError(f"sweep {key}: {short(value)}; expected range(stop) or range(start, stop[, step]) "
                              "of integers, step not 0")
        values = range(*(int(n) for n in numbers))
        try:
            count = len(values)
        except OverflowError:  # more than sys.maxsize values
            count = MAX_POINTS + 1
    else:
        if len(numbers) != 3 or not all(map(math.isfinite, numbers)) or numbers[2] != int(numbers[2]) or numbers[2] < 1:
            raise ConfigError(f"sweep {key}: {short(value)}; expected {kind}(start, stop, count) with finite start "
                              "and stop and count a positive integer")
        count = int(numbers[2])
    if count > MAX_POINTS:
        raise ConfigError(f"sweep {key}: {short(value)} has more than {MAX_POINTS} values, the most a sweep takes; "
                          "split it into several sweeps")
    if kind == "range":
        return list(values)
    return list((np.logspace if kind == "logspace" else np.linspace)(numbers[0], numbers[1], count))


def parse_values(key: str, value: Any) -> list:
    """The values of one axis: a list, ``a,b,c``, ``logspace(a,b,n)``, ``linspace(a,b,n)`` or ``range(a,b[,s])``;
    every value a finite number valid for the key, none twice."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str) and (match := _CALL.match(value)):
        items = _call_values(key, value, match.group(1), match.group(2))
    elif isinstance(value, str) and "," in value:
        items = [config_lib.parse_value(v, f"sweep {key}: the value {short(v.strip())}") if v.strip() else None
                 for v in value.split(",")]
    else:
        items = [value]
    if not items:
        raise ConfigError(f"sweep {key}: {short(value)} is an empty grid")
    if len(items) > MAX_POINTS:
        raise ConfigError(f"sweep {key}: {len(items)} values; a sweep has at most {MAX_POINTS} points")
    out = []
    for item in items:
        item = _number(key, item, value)
        if item in out:
            raise ConfigError(f"sweep {key}: {short(item)} is given twice in {short(value)}; every value of an axis "
                              "must differ")
        out.append(item)
    return out


def _number(key: str, item: Any, value: Any) -> int | float:
    """One value of the axis ``key`` (from ``value``) as the number it must be; ConfigError otherwise."""
    if isinstance(item, str):
        try:
            item = float(item)
        except ValueError:
            pass
    if isinstance(item, bool) or not isinstance(item, (int, float, np.floating, np.integer)):
        raise ConfigError(f"sweep {key}: {short(item)} in {short(value)} is not a number")
    item = item.item() if isinstance(item, np.generic) else item
    try:
        finite = math.isfinite(item)
    except OverflowError:  # an int beyond a float's range
        finite = key not in DATA_KEYS[:3]
    if not finite:
        raise ConfigError(f"sweep {key}: {short(item)} in {short(value)} is not a finite number")
    if key in DATA_KEYS[:3]:
        item = float(item)
        if key in POSITIVE and not item > 0:
            raise ConfigError(f"sweep {key}: {item!r} in {short(value)}; every value must be positive")
        if not item >= 0:
            raise ConfigError(f"sweep {key}: {item!r} in {short(value)}; every value must be non-negative")
        return item
    if item != int(item):
        raise ConfigError(f"sweep {key}: {item!r} in {short(value)} is not an integer")
    return int(item)


def is_axis(text: str) -> bool:
    """Whether an override's value gives several values (a sweep axis) rather than one."""
    return bool(_CALL.match(text)) or "," in text or text.strip().startswith("[")


def split_overrides(raw: Mapping, overrides: list[str] | Mapping[str, Any]) -> tuple[dict, dict[str, list]]:
    """(the base config with single-valued overrides applied, axes) from the config's ``sweep:``
    section and the ``key=value`` overrides (an override's axis replaces the section's; a mapping of
    dotted keys to values sets single values only); a key both swept and set to one value, swept twice,
    or not sweepable is an error."""
    raw = dict(raw)
    section = raw.pop("sweep", None) or {}
    if not isinstance(section, Mapping):
        raise ConfigError("sweep: expected a mapping from config keys (e.g. dynamics.temperature) to lists or ranges")
    axes: dict[str, Any] = {str(key): value for key, value in section.items()}
    swept_here: set = set()
    singles = {str(key).strip(): f"{key}={short(value)}" for key, value in overrides.items()} \
        if isinstance(overrides, Mapping) else {}
    for item in ([] if isinstance(overrides, Mapping) else overrides):
        key, sep, text = item.partition("=")
        key = key.strip()
        if sep and is_axis(text):
            if key in swept_here:
                raise ConfigError(f"sweep {key}: swept twice on the command line; give its values once")
            swept_here.add(key)
            axes[key] = config_lib.parse_value(text, f"sweep {key}: {short(text)}") if text.strip().startswith("[") else text
        else:
            singles[key] = item
    for key, item in singles.items():
        if key in axes:
            source = "on the command line" if key in swept_here else "in the config's sweep: section"
            value = item.partition("=")[2].strip()
            raise ConfigError(f"sweep {key}: swept {source} and set by {short(item)}; give one, e.g. "
                              f"{key}=[{value if len(value) <= 80 else value[:80] + '...'}] for a single value")
    raw = config_lib.apply_overrides(raw, overrides if isinstance(overrides, Mapping) else list(singles.values()))
    allowed = sweepable(raw)
    for key in axes:
        if key not in allowed:
            raise ConfigError(f"sweep {short(key)}: not sweepable; the sweepable keys are {list(allowed)}")
    axes = {key: parse_values(key, value) for key, value in axes.items()}
    size = math.prod(len(v) for v in axes.values())
    if size > MAX_POINTS:
        shape = " x ".join(f"{len(v)} {k}" for k, v in axes.items())
        raise ConfigError(f"sweep: {shape} = {size} points; a sweep has at most {MAX_POINTS} (each point's results "
                          f"stay in memory until written); split it, e.g. one sweep per value or slice of "
                          f"{next(iter(axes))}")
    return raw, axes


def _set(raw: dict, key: str, value: Any) -> dict:
    section, name = key.split(".", 1)
    raw = {**raw, section: {**(raw.get(section) or {}), name: value}}
    return raw


def load(path: str | Path | None,
         overrides: list[str] | Mapping[str, Any] = ()) -> tuple[dict, dict[str, list], list[Point]]:
    """(base config, axes, the grid's points, each resolved and checked) of a sweep; the file is read and
    checked as :func:`langevin_ib.experiment.config.load` reads it, and the grid's size before its points
    are built."""
    return grid(config_lib.read(path), overrides)


def grid(raw: Mapping, overrides: list[str] | Mapping[str, Any] = ()) -> tuple[dict, dict[str, list], list[Point]]:
    """(base config, axes, points) of the raw config ``raw`` (its ``sweep:`` section the axes) and ``overrides``."""
    raw, axes = split_overrides(raw, overrides if isinstance(overrides, Mapping) else list(overrides))
    if not axes:
        raise ConfigError("sweep: nothing to sweep; give a key a list or range, e.g. dynamics.temperature=0.05,0.1,0.2")
    points = []
    for index, combination in enumerate(itertools.product(*axes.values())):
        values = dict(zip(axes, combination))
        point_raw = raw
        for key, value in values.items():
            point_raw = _set(point_raw, key, value)
        try:
            points.append(Point(index, values, config_lib.resolve(point_raw)))
        except ConfigError as error:
            if not str(error).startswith(TIMED):
                raise
            at = ", ".join(f"{k}={short(v)}" for k, v in values.items())
            raise ConfigError(f"{error} (sweep point {index}: {at})") from None
    return raw, axes, points
