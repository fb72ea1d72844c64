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
from langevin_ib.base import Binning
from langevin_ib.base import ConfigError
from langevin_ib.models.fields import Field, non_negative, positive, section

SEED_LIMIT = 2**32  # the same key whether or not run.dtype=float64 enables 64-bit integers
DEFAULT = "default.yaml"  # package data: the u·v experiment of configs/uv.yaml

DYNAMICS = {
    "integrator": Field(str, "euler_maruyama", choices=tuple(integrators.REGISTRY)),
    "temperature": Field(float, accepted="a positive float (0 for gd and sgd)", check=lambda x: x >= 0),  # by integrator in _dynamics
    "step_size": positive(float),
    "weight_decay": non_negative(float, 0.0),
    "noise": Field(str, "gaussian", choices=noise.NAMES),  # the law of ξ (langevin_ib/dynamics/noise.py)
}

MINIBATCH = {  # the static settings of the integrators that declare them (gd, sgd, sgld), flat in ``dynamics``
    "batch_size": positive(int, 1),
    "sampling": Field(str, "auto", choices=integrators.sgd.SAMPLING),
    "optimizer": Field(str, "sgd", "the name of an optax optimizer taking a learning_rate, e.g. sgd, adam"),
    "momentum": non_negative(float, 0.0),
    "nesterov": Field(bool, False),
    "optimizer_args": Field(dict, {}, "a mapping of the optax optimizer's keyword arguments"),
}

RUN = {
    "chains": positive(int),
    "steps": positive(int),
    "burn_in": non_negative(int, 0),
    "thin": positive(int, 1),
    "chunk_steps": positive(int, 1000),
    "seed": Field(int, 0, "an integer 0 <= seed < 2**32 (jax.random.key reads it as uint32 in float32 runs)",
                  lambda s: 0 <= s < SEED_LIMIT),
    "dtype": Field(str, "float32", choices=("float32", "float64")),
    "chain_groups": positive(int, 64),
    "divergence_bound": positive(float, 1.0e3, finite=False),  # inf: only non-finite chains diverge
    "checkpoint_every_seconds": non_negative(float, 60.0),  # 0: no time-based checkpoints
    "checkpoint_every_chunks": non_negative(int, 0),  # 0: no chunk-count checkpoints
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
    minibatch: integrators.sgd.Settings | None = None  # the static settings of gd/sgd/sgld, None for Langevin

    @property
    def stochastic_gradient(self) -> bool:
        """Whether the chains follow a stochastic-gradient integrator rather than Langevin dynamics."""
        return self.minibatch is not None

    @property
    def constrained(self) -> bool:
        """Whether the integrator holds the chains on the slice χ = 0."""
        return integrators.SPECS[self.integrator].constrained


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
    checkpoint_every_seconds: float = 60.0
    checkpoint_every_chunks: int = 0


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
            "dynamics": _dynamics_dict(self.dynamics),
            "run": dataclasses.asdict(self.run),
            "observables": {name: {"min": b.low, "max": b.high, "bins": b.bins} for name, b in self.observables.items()},
            "analysis": dataclasses.asdict(self.analysis),
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _dynamics_dict(dynamics: Dynamics) -> dict:
    """``dynamics`` flat, with its minibatch settings (if any) as the keys of :data:`MINIBATCH`."""
    out = {k: getattr(dynamics, k) for k in DYNAMICS}
    if dynamics.minibatch is not None:
        settings = dynamics.minibatch
        args = dict(settings.optimizer_args)
        out.update(batch_size=settings.batch_size, sampling=settings.sampling, optimizer=settings.optimizer,
                   momentum=args.pop("momentum", 0.0), nesterov=args.pop("nesterov", False), optimizer_args=args)
    return out


def _dynamics(raw: Any) -> Dynamics:
    """The dynamics section: Langevin fields, plus :data:`MINIBATCH` for the integrators declaring Settings."""
    raw = dict(raw or {}) if isinstance(raw, Mapping) else raw
    minibatch_raw = {k: raw.pop(k) for k in MINIBATCH if isinstance(raw, dict) and k in raw}
    dynamics = Dynamics(**section("dynamics", raw, DYNAMICS))
    name = dynamics.integrator
    if integrators.noisy(name) and dynamics.temperature <= 0:
        raise ConfigError(f"dynamics.temperature: got {dynamics.temperature}; expected a positive float for {name!r}")
    if not integrators.noisy(name) and dynamics.temperature != 0:
        raise ConfigError(f"dynamics.temperature: got {dynamics.temperature}; {name!r} adds no noise, so set it to 0 "
                          "(use sgld for minibatch gradients plus noise at temperature T)")
    if not integrators.takes_settings(name):
        if minibatch_raw:
            raise ConfigError(f"dynamics.{next(iter(minibatch_raw))}: only for the stochastic-gradient integrators "
                              f"{[n for n in integrators.REGISTRY if integrators.takes_settings(n)]}, not {name!r}")
        return dynamics
    fields = section("dynamics", minibatch_raw, MINIBATCH)
    args = dict(fields["optimizer_args"])
    for key, default in (("momentum", 0.0), ("nesterov", False)):
        if fields[key] != default:
            args[key] = fields[key]
    settings = integrators.sgd.Settings(None if name == "gd" else fields["batch_size"], fields["sampling"],
                                        fields["optimizer"], tuple(sorted(args.items())))
    integrators.sgd.optimizer(settings)  # the optax name and arguments, checked against its signature
    return dataclasses.replace(dynamics, minibatch=settings)


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
    unknown = sorted(map(str, set(raw) - set(sections)))
    if "sweep" in unknown:
        raise ConfigError("sweep: this config has a sweep section; run it with `langevin-ib sweep` "
                          "(docs/sweeps.md), or remove the section to run one point")
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown section; accepted sections are {list(sections)}")
    model_raw = raw.get("model") or {}
    if not isinstance(model_raw, Mapping):
        raise ConfigError(f"model: expected a mapping with a name and the model's fields, got {type(model_raw).__name__}")
    model_raw = dict(model_raw)
    name = Field(str, accepted="a model name (a string)").convert("model.name", model_raw.pop("name", "uv"))
    spec = models.lookup(name)
    model = ModelSpec(name, _frozen(section("model", model_raw, spec.FIELDS)))
    dynamics = _dynamics(raw.get("dynamics"))
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
            raise ConfigError(f"config override {item!r}: expected the form section.key=value, "
                              "e.g. dynamics.temperature=0.2")
        node = raw
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{path.strip()}: override {item!r}: {key} is not a section")
            node = child
        try:
            node[keys[-1]] = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path.strip()}: the value {text!r} is not valid YAML ({_first_line(err)})") from None
    return raw


def _first_line(err: Exception) -> str:
    return " ".join(str(err).split())


def _parse(text: str, where: str) -> dict:
    """The top-level mapping of a YAML config (an empty file is an empty mapping)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {where!r} is not valid YAML: {_first_line(err)}") from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config file {where!r}: expected a mapping of sections (model, dynamics, run, observables, "
                          f"analysis) at the top level, got a {type(raw).__name__}")
    return raw


def load(path: str | Path | None, overrides: list[str] = ()) -> Experiment:
    """Read a YAML config (None: the embedded default, :data:`DEFAULT`), apply overrides and validate it."""
    if path is None:
        raw = _parse(importlib.resources.files(__package__).joinpath(DEFAULT).read_text(), DEFAULT)
    else:
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"config file {str(path)!r} is a directory; expected a YAML file such as configs/uv.yaml")
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"config file {str(path)!r} cannot be read: {err}") from None
        raw = _parse(text, str(path))
    return resolve(apply_overrides(raw, list(overrides)))
