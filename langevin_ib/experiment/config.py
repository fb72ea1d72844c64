"""Experiment configuration: one schema, checked in full before anything is compiled.

A config is a nested mapping with the sections ``model``, ``dynamics``, ``run``,
``observables`` and ``analysis``. :func:`resolve` fills defaults, converts types and
raises :class:`ConfigError` naming the offending field and the accepted values.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

import yaml

from langevin_ib.dynamics import integrators
from langevin_ib import models
from langevin_ib.models.fields import ConfigError, Field, non_negative, positive, section

DYNAMICS = {
    "integrator": Field(str, "euler_maruyama", choices=tuple(integrators.REGISTRY)),
    "temperature": positive(float),
    "step_size": positive(float),
    "weight_decay": non_negative(float, 0.0),
}

RUN = {
    "chains": positive(int),
    "steps": positive(int),
    "burn_in": non_negative(int, 0),
    "thin": positive(int, 1),
    "chunk_steps": positive(int, 1000),
    "seed": Field(int, 0),
    "dtype": Field(str, "float32", choices=("float32", "float64")),
    "chain_groups": positive(int, 64),
    "divergence_bound": positive(float, 1.0e3),
}

ANALYSIS = {
    "significance": Field(float, 0.01, "a level strictly between 0 and 1", lambda x: 0 < x < 1),
    "min_expected": positive(float, 5.0),
    "snapshot_every": Field(int, 10, "a non-negative int: observations between snapshots of the Stein and "
                            "conditional tests, 0 for none", lambda x: x >= 0),
}

BINNING = {
    "min": Field(float),
    "max": Field(float),
    "bins": positive(int),
}


def _observables(raw: Any, allowed: tuple[str, ...]) -> dict:
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"observables: expected a non-empty mapping from observable names {list(allowed)} "
                          "to {min, max, bins}")
    out = {}
    for name, binning in raw.items():
        if name not in allowed:
            raise ConfigError(f"observables.{name}: unknown observable; this model has {list(allowed)}")
        spec = section(f"observables.{name}", binning, BINNING)
        if not spec["min"] < spec["max"]:
            raise ConfigError(f"observables.{name}: empty or inverted bin range "
                              f"[{spec['min']}, {spec['max']}]; expected min < max")
        out[name] = spec
    return out


def resolve(raw: Mapping) -> dict:
    """Validate a raw config mapping and return it with every default filled in."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config: expected a mapping at the top level, got {type(raw).__name__}")
    sections = ("model", "dynamics", "run", "observables", "analysis")
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown section; accepted sections are {list(sections)}")
    model_raw = dict(raw.get("model") or {})
    name = Field(str, accepted="a model name (a string)").convert("model.name", model_raw.pop("name", "uv"))
    spec = models.lookup(name)
    config = {
        "model": {"name": name, **section("model", model_raw, spec.FIELDS)},
        "dynamics": section("dynamics", raw.get("dynamics"), DYNAMICS),
        "run": section("run", raw.get("run"), RUN),
        "observables": _observables(raw.get("observables"), spec.OBSERVABLES),
        "analysis": section("analysis", raw.get("analysis"), ANALYSIS),
    }
    run = config["run"]
    if run["chunk_steps"] % run["thin"]:
        raise ConfigError(f"run.chunk_steps: got {run['chunk_steps']}; expected a multiple of run.thin={run['thin']}")
    if run["steps"] % run["thin"]:
        raise ConfigError(f"run.steps: got {run['steps']}; expected a multiple of run.thin={run['thin']}")
    if run["chain_groups"] > run["chains"]:
        raise ConfigError(f"run.chain_groups: got {run['chain_groups']}; expected at most run.chains={run['chains']}")
    return config


def apply_overrides(raw: Mapping, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a raw config."""
    raw = copy.deepcopy(dict(raw))
    for item in overrides:
        path, sep, text = item.partition("=")
        keys = path.strip().split(".")
        if not sep or not all(keys):
            raise ConfigError(f"override {item!r}: expected the form section.key=value, e.g. dynamics.temperature=0.2")
        node = raw
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {key} is not a section")
            node = child
        node[keys[-1]] = yaml.safe_load(text)
    return raw


def load(path: str | Path, overrides: list[str] = ()) -> dict:
    """Read a YAML config, apply overrides and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from None
    return resolve(apply_overrides(raw, list(overrides)))
