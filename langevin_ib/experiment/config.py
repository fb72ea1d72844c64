"""Experiment configuration: one schema, checked in full before anything is compiled, resolved once
into an immutable :class:`Experiment`.

A config is a nested mapping with the sections ``model``, ``dynamics``, ``run``, ``observables``
and ``analysis``. :func:`resolve` fills defaults, converts types and raises :class:`ConfigError`
naming the offending field and the accepted values; :meth:`Experiment.to_dict` writes the resolved
mapping back (config.yaml of a run), which :func:`resolve` reads to the same object.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import types
from pathlib import Path
from typing import Any, Mapping

import yaml

from langevin_ib.dynamics import integrators, noise
from langevin_ib import models
from langevin_ib.dynamics.accumulators import Binning
from langevin_ib.models.fields import ConfigError, Field, non_negative, positive, section

DEFAULT = "default.yaml"  # package data: the u·v experiment of configs/uv.yaml

DYNAMICS = {
    "integrator": Field(str, "euler_maruyama", choices=tuple(integrators.REGISTRY)),
    "temperature": positive(float),
    "step_size": positive(float),
    "weight_decay": non_negative(float, 0.0),
    "noise": Field(str, "gaussian", choices=noise.NAMES),  # the law of ξ (langevin_ib/dynamics/noise.py)
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


def _frozen(value: Any) -> Any:
    """A read-only copy: mappings as MappingProxyType, lists as tuples."""
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if type(value) in (list, tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    """The YAML-writable form of :func:`_frozen` values."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if type(value) is tuple:
        return [_plain(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The model's config name and its resolved fields (read-only; the model module's FIELDS)."""

    name: str
    fields: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Dynamics:
    """Overdamped Langevin dθ = −∇U dt + √(2T) dW, U = L + (λ/2)|θ|² (docs/theory.md §1)."""

    integrator: str
    temperature: float
    step_size: float
    weight_decay: float
    noise: str = "gaussian"

    @property
    def constrained(self) -> bool:
        """Whether the integrator holds the chains on the slice χ = 0."""
        return integrators.REGISTRY[self.integrator].CONSTRAINED


@dataclasses.dataclass(frozen=True)
class Run:
    """Sizes of the run: chains × (burn_in + steps) steps, observed every ``thin``."""

    chains: int
    steps: int
    burn_in: int
    thin: int
    chunk_steps: int
    seed: int
    dtype: str
    chain_groups: int
    divergence_bound: float


@dataclasses.dataclass(frozen=True)
class Analysis:
    """Level and pooling of the tests, and how often the snapshot statistics are evaluated."""

    significance: float
    min_expected: float
    snapshot_every: int


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A resolved config. ``tests``: the names of the planned tests (:func:`langevin_ib.experiment.plan.planned`),
    None until the model is built; derived, so not part of :meth:`to_dict`."""

    model: ModelSpec
    dynamics: Dynamics
    run: Run
    observables: Mapping[str, Binning]
    analysis: Analysis
    tests: tuple[str, ...] | None = None

    def to_dict(self) -> dict:
        """The resolved config as plain mappings, in the order of the schema."""
        return {
            "model": {"name": self.model.name, **_plain(self.model.fields)},
            "dynamics": dataclasses.asdict(self.dynamics),
            "run": dataclasses.asdict(self.run),
            "observables": {name: {"min": b.low, "max": b.high, "bins": b.bins} for name, b in self.observables.items()},
            "analysis": dataclasses.asdict(self.analysis),
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _observables(raw: Any, allowed: tuple[str, ...]) -> dict[str, Binning]:
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
        out[name] = Binning(spec["min"], spec["max"], spec["bins"])
    return out


def resolve(raw: Mapping) -> Experiment:
    """Validate a raw config mapping into an :class:`Experiment` with every default filled in."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config: expected a mapping at the top level, got {type(raw).__name__}")
    sections = ("model", "dynamics", "run", "observables", "analysis")
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown section; accepted sections are {list(sections)}")
    model_raw = dict(raw.get("model") or {})
    name = Field(str, accepted="a model name (a string)").convert("model.name", model_raw.pop("name", "uv"))
    spec = models.lookup(name)
    model = ModelSpec(name, _frozen(section("model", model_raw, spec.FIELDS)))
    dynamics = Dynamics(**section("dynamics", raw.get("dynamics"), DYNAMICS))
    run = Run(**section("run", raw.get("run"), RUN))
    observables = types.MappingProxyType(_observables(raw.get("observables"), spec.OBSERVABLES))
    analysis = Analysis(**section("analysis", raw.get("analysis"), ANALYSIS))
    if run.chunk_steps % run.thin:
        raise ConfigError(f"run.chunk_steps: got {run.chunk_steps}; expected a multiple of run.thin={run.thin}")
    if run.steps % run.thin:
        raise ConfigError(f"run.steps: got {run.steps}; expected a multiple of run.thin={run.thin}")
    if run.chain_groups > run.chains:
        raise ConfigError(f"run.chain_groups: got {run.chain_groups}; expected at most run.chains={run.chains}")
    return Experiment(model, dynamics, run, observables, analysis)


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


def _parse(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {where!r} is not valid YAML: {err}") from None


def load(path: str | Path | None, overrides: list[str] = ()) -> Experiment:
    """Read a YAML config (None: the embedded default, :data:`DEFAULT`), apply overrides and validate it."""
    if path is None:
        raw = _parse(importlib.resources.files(__package__).joinpath(DEFAULT).read_text(), DEFAULT)
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        raw = _parse(path.read_text(), str(path))
    return resolve(apply_overrides(raw, list(overrides)))
