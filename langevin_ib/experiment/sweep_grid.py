"""A sweep's specification: its axes (key -> values) from ``key=v1,v2``, ``key=logspace(a,b,n)``,
``key=linspace(a,b,n)``, ``key=range(a,b[,step])`` overrides or a ``sweep:`` section of the YAML, and its
points, the Cartesian product of the axes, each resolved and checked (docs/sweeps.md). Keys of
:data:`DATA_KEYS` are data of one compiled program; the others (:func:`sweepable`) change shapes.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from langevin_ib import models
from langevin_ib.experiment import config as config_lib
from langevin_ib.experiment.config import Experiment
from langevin_ib.base import ConfigError

DATA_KEYS = ("dynamics.temperature", "dynamics.step_size", "dynamics.weight_decay", "run.seed")
SHAPE_KEYS = ("run.chains",)  # and every int field of the model (model.<field>)
BATCH_KEY = "dynamics.batch_size"  # a shape key of the minibatch integrators (gd has none)
POSITIVE = ("dynamics.temperature", "dynamics.step_size")

_CALL = re.compile(r"^\s*(logspace|linspace|range)\s*\((.*)\)\s*$")


@dataclasses.dataclass(frozen=True)
class Point:
    index: int
    values: Mapping[str, Any]  # swept key -> value
    experiment: Experiment


def sweepable(raw: Mapping) -> tuple[str, ...]:
    """The keys a sweep may vary for this config's model and integrator."""
    from langevin_ib.dynamics import integrators

    name = (raw.get("model") or {}).get("name", "uv")
    try:
        fields = models.lookup(name).FIELDS
    except Exception:  # an unknown model is config.resolve's error to report
        fields = {}
    integrator = (raw.get("dynamics") or {}).get("integrator")
    batched = integrator in integrators.REGISTRY and integrators.takes_settings(integrator) and integrator != "gd"
    return (DATA_KEYS + SHAPE_KEYS + ((BATCH_KEY,) if batched else ())
            + tuple(f"model.{k}" for k, f in fields.items() if f.kind is int))


def parse_values(key: str, value: Any) -> list:
    """The values of one axis: a list, ``a,b,c``, ``logspace(a,b,n)``, ``linspace(a,b,n)`` or ``range(a,b[,s])``."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, str) and (match := _CALL.match(value)):
        kind, args = match.group(1), [a.strip() for a in match.group(2).split(",")]
        try:
            numbers = [float(a) for a in args]
        except ValueError:
            raise ConfigError(f"sweep {key}: {value!r} has a non-numeric argument") from None
        if kind == "range":
            if not 1 <= len(numbers) <= 3 or any(n != int(n) for n in numbers):
                raise ConfigError(f"sweep {key}: {value!r}; expected range(stop), range(start, stop[, step]) of ints")
            items = list(range(*(int(n) for n in numbers)))
        else:
            if len(numbers) != 3 or numbers[2] != int(numbers[2]) or numbers[2] < 1:
                raise ConfigError(f"sweep {key}: {value!r}; expected {kind}(start, stop, count) with count a positive int")
            items = list((np.logspace if kind == "logspace" else np.linspace)(numbers[0], numbers[1], int(numbers[2])))
    elif isinstance(value, str) and "," in value:
        items = [yaml.safe_load(v.strip()) if v.strip() else None for v in value.split(",")]
    else:
        items = [value]
    if not items:
        raise ConfigError(f"sweep {key}: {value!r} is an empty grid")
    out = []
    for item in items:
        if isinstance(item, str):
            try:
                item = float(item)
            except ValueError:
                pass
        if isinstance(item, bool) or not isinstance(item, (int, float, np.floating, np.integer)):
            raise ConfigError(f"sweep {key}: {item!r} in {value!r} is not a number")
        item = item.item() if isinstance(item, np.generic) else item
        if not math.isfinite(item):
            raise ConfigError(f"sweep {key}: {item!r} in {value!r} is not a finite number")
        if key in DATA_KEYS[:3]:
            item = float(item)
            if key in POSITIVE and not item > 0:
                raise ConfigError(f"sweep {key}: {item!r} in {value!r}; every value must be positive")
            if not item >= 0:
                raise ConfigError(f"sweep {key}: {item!r} in {value!r}; every value must be non-negative")
        elif item != int(item):
            raise ConfigError(f"sweep {key}: {item!r} in {value!r} is not an integer")
        else:
            item = int(item)
        out.append(item)
    return out


def split_overrides(raw: Mapping, overrides: list[str]) -> tuple[dict, dict[str, list]]:
    """(the base config with single-valued overrides applied, axes) from the config's ``sweep:``
    section and the ``key=value`` overrides; a multi-valued override of a non-sweepable key is an error."""
    raw = dict(raw)
    section = raw.pop("sweep", None) or {}
    if not isinstance(section, Mapping):
        raise ConfigError("sweep: expected a mapping from config keys (e.g. dynamics.temperature) to lists or ranges")
    axes: dict[str, list] = {}
    singles = []
    for key, value in section.items():
        axes[str(key)] = value
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if sep and (_CALL.match(text) or "," in text or text.strip().startswith("[")):
            value = yaml.safe_load(text) if text.strip().startswith("[") else text
            axes[key] = value
        else:
            singles.append(item)
    raw = config_lib.apply_overrides(raw, singles)
    allowed = sweepable(raw)
    for key in axes:
        if key not in allowed:
            raise ConfigError(f"sweep {key}: not sweepable; the sweepable keys are {list(allowed)}")
    return raw, {key: parse_values(key, value) for key, value in axes.items()}


def _set(raw: dict, key: str, value: Any) -> dict:
    section, name = key.split(".", 1)
    raw = {**raw, section: {**(raw.get(section) or {}), name: value}}
    return raw


def load(path: str | Path | None, overrides: list[str] = ()) -> tuple[dict, dict[str, list], list[Point]]:
    """(base config, axes, the grid's points, each resolved and checked) of a sweep."""
    if path is None:
        import importlib.resources
        raw = yaml.safe_load(importlib.resources.files("langevin_ib.experiment").joinpath(config_lib.DEFAULT).read_text())
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        raw = config_lib._parse(path.read_text(), str(path))
    raw, axes = split_overrides(raw, list(overrides))
    if not axes:
        raise ConfigError("sweep: nothing to sweep; give a key a list or range, e.g. dynamics.temperature=0.05,0.1,0.2")
    points = []
    for index, combination in enumerate(itertools.product(*axes.values())):
        values = dict(zip(axes, combination))
        point_raw = raw
        for key, value in values.items():
            point_raw = _set(point_raw, key, value)
        points.append(Point(index, values, config_lib.resolve(point_raw)))
    return raw, axes, points
