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
import functools
import importlib.resources
import re
import types
from pathlib import Path
from typing import Any, Mapping

import yaml

from langevin_ib.dynamics import integrators, noise
from langevin_ib import models
from langevin_ib.base import Binning
from langevin_ib.base import ConfigError
from langevin_ib.models.fields import Field, non_negative, positive, section, short

SEED_LIMIT = 2**32  # the same key whether or not run.dtype=float64 enables 64-bit integers
DEFAULT = "default.yaml"  # package data: the u·v experiment of configs/uv.yaml
MAX_ENTRIES = 100_000  # entries of a config, spec or value with YAML aliases expanded; a real one has < 10⁴
MAX_FILE_BYTES = 10_000_000  # a config or spec file larger than this is refused before it is read
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")  # a number YAML 1.1 leaves a string (1e-6)

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
    "steps": positive(int, None),  # or run.time (DURATIONS)
    "burn_in": non_negative(int, None),
    "thin": positive(int, None),
    "time": positive(float, None),
    "burn_in_time": non_negative(float, None),
    "thin_time": positive(float, None),
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

DURATIONS = (("steps", "time", None), ("burn_in", "burn_in_time", 0), ("thin", "thin_time", 1))  # (steps, time = steps·η, default steps)
ROUNDING = 1e-6  # a time within this relative distance of a whole number of steps is that number

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
    """Sizes of the run: chains × (burn_in + steps) steps, observed every ``thin``. Each duration was given
    in steps or in time t = steps·η (``time``, ``burn_in_time``, ``thin_time``: None where given in
    steps); the steps are resolved at the run's η (:func:`_durations`)."""

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
    time: float | None = None
    burn_in_time: float | None = None
    thin_time: float | None = None

    @property
    def in_time(self) -> bool:
        """Whether any duration is given in time (its steps then depend on η: a per-point budget in a sweep)."""
        return any(getattr(self, timed) is not None for _, timed, _ in DURATIONS)

    def as_given(self) -> dict:
        """The run section as given: each duration in the form it was given (config.yaml reads back the same)."""
        out = dataclasses.asdict(self)
        for steps, timed, _ in DURATIONS:
            del out[steps if out[timed] is not None else timed]
        return out


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
            "run": self.run.as_given(),
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
        if settings.batch_size is None:  # gd: the full data set, no batch_size field to write
            del out["batch_size"]
    return out


def _dynamics(raw: Any) -> Dynamics:
    """The dynamics section: Langevin fields, plus :data:`MINIBATCH` for the integrators declaring Settings."""
    raw = dict(raw or {}) if isinstance(raw, Mapping) else raw
    minibatch_raw = {k: raw.pop(k) for k in MINIBATCH if isinstance(raw, dict) and k in raw}
    dynamics = Dynamics(**section("dynamics", raw, DYNAMICS))
    name = dynamics.integrator
    laws = integrators.SPECS[name].noises
    if dynamics.noise not in laws:
        others = [n for n, spec in integrators.SPECS.items() if dynamics.noise in spec.noises]
        raise ConfigError(f"dynamics.noise: got {dynamics.noise!r}; {name} draws only {list(laws)} "
                          f"({dynamics.noise} noise: {others})")
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
    args = {str(k): float(v) if isinstance(v, str) and _NUMBER.match(v) else v  # YAML 1.1 reads 1e-6 as a string
            for k, v in fields["optimizer_args"].items()}
    for key, default in (("momentum", 0.0), ("nesterov", False)):
        if fields[key] != default:
            args[key] = fields[key]
    settings = integrators.sgd.Settings(None if name == "gd" else fields["batch_size"], fields["sampling"],
                                        fields["optimizer"], tuple(sorted(args.items())))
    _trial_step(settings)
    return dataclasses.replace(dynamics, minibatch=settings)


def _trial_step(settings: integrators.sgd.Settings) -> None:
    """The optax optimizer's name and argument names checked against its signature, its argument values by
    building it and tracing two steps on a two-entry float32 parameter (e.g. momentum: abc)."""
    for name, value in settings.optimizer_args:
        if not (value is None or isinstance(value, (bool, int, float, str))):
            raise ConfigError(f"dynamics.optimizer_args.{name}: got {short(value)}; expected a number, a bool or a "
                              "string (optax takes scalar hyperparameters)")
    failure = _step_failure(settings)
    if failure:
        arguments = ", ".join(f"{k}={short(v)}" for k, v in settings.optimizer_args)
        raise ConfigError(f"dynamics.optimizer_args: optax.{settings.optimizer}({arguments}) cannot step a float "
                          f"parameter ({failure}); expected values of the types optax documents")


@functools.lru_cache(maxsize=64)  # a sweep resolves every point with the same settings
def _step_failure(settings: integrators.sgd.Settings) -> str:
    """Why two steps of the settings' optimizer fail on a float32 parameter of shape (2,); "" if they do not.
    Traced abstractly (jax.eval_shape): no JAX backend starts, so the CLI may still choose the devices."""
    import jax

    transform = integrators.sgd.optimizer(settings)

    def two_steps(params):
        state = transform.init(params)
        for _ in range(2):
            updates, state = transform.update(params, state, params)
        return updates

    try:
        updates = jax.eval_shape(two_steps, jax.ShapeDtypeStruct((2,), "float32"))
    except (TypeError, ValueError, ArithmeticError) as err:
        return " ".join(str(err).split())[:160]
    return "" if updates.shape == (2,) else f"an update of shape {updates.shape}"


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
    run = _durations(section("run", raw.get("run"), RUN), dynamics.step_size)
    observables = types.MappingProxyType(_observables(raw.get("observables"), spec.OBSERVABLES))
    analysis = Analysis(**section("analysis", raw.get("analysis"), ANALYSIS))
    if run.thin_time is None and run.chunk_steps % run.thin:
        raise ConfigError(f"run.chunk_steps: got {run.chunk_steps}; expected a multiple of run.thin={run.thin}")
    if run.steps % run.thin:
        thin = f"run.thin={run.thin}" if run.thin_time is None else f"run.thin_time={run.thin_time:g} ({run.thin} steps)"
        if run.time is None:
            raise ConfigError(f"run.steps: got {run.steps}; expected a multiple of {thin}")
        raise ConfigError(f"run.time: got {run.time:g} ({run.steps} steps of dynamics.step_size="
                          f"{dynamics.step_size:g}); expected a multiple of η·thin ({thin})")
    if run.chain_groups > run.chains:
        raise ConfigError(f"run.chain_groups: got {run.chain_groups}; expected at most run.chains={run.chains}")
    return Experiment(model, dynamics, run, observables, analysis)


def _durations(fields: dict, step_size: float) -> Run:
    """The run section with each duration of :data:`DURATIONS` given once, in steps or in time, and
    resolved to steps at ``step_size``: a time must be a whole number of steps (within :data:`ROUNDING`),
    and the window's time at least one step."""
    for steps, timed, default in DURATIONS:
        if fields[steps] is not None and fields[timed] is not None:
            raise ConfigError(f"run.{steps}, run.{timed}: both given; give the duration once, in steps (run.{steps}) "
                              f"or in time t = steps·η (run.{timed})")
        if fields[timed] is not None:
            count = fields[timed] / step_size
            if abs(count - round(count)) > ROUNDING * max(count, 1.0) or (round(count) == 0 and steps != "burn_in"):
                raise ConfigError(f"run.{timed}: got {fields[timed]:g}, which is {count:.6g} steps of "
                                  f"dynamics.step_size={step_size:g}; expected a positive whole number of steps "
                                  f"(a multiple of η)")
            fields[steps] = int(round(count))
        elif fields[steps] is None:
            if default is None:
                raise ConfigError(f"run.{steps}: missing; give the run's length in steps (run.{steps}) or in time "
                                  f"t = steps·η (run.{timed})")
            fields[steps] = default
    return Run(**fields)


def _override(item: str) -> tuple[str, Any, str]:
    """(dotted key, value parsed as YAML, the item) of one ``section.key=value`` override."""
    path, sep, text = item.partition("=")
    if not sep or not all(path.strip().split(".")):
        raise ConfigError(f"config override {short(item)}: expected the form section.key=value, "
                          "e.g. dynamics.temperature=0.2")
    return path.strip(), parse_value(text, f"{path.strip()}: the value {short(text)}"), item


def apply_overrides(raw: Mapping, overrides: list[str] | Mapping[str, Any]) -> dict:
    """Apply ``section.key=value`` overrides (values parsed as YAML), or a mapping of dotted keys to
    values (``{"run.chains": 256}``), to a raw config."""
    raw = copy.deepcopy(dict(raw))
    if isinstance(overrides, Mapping):
        items = [(str(key).strip(), copy.deepcopy(value), f"{key}={short(value)}") for key, value in overrides.items()]
    else:
        items = [_override(item) for item in overrides]
    set_here: dict = {}
    for path, value, item in items:
        keys = path.split(".")
        if not all(keys):
            raise ConfigError(f"config override {short(item)}: expected a dotted key section.key, "
                              "e.g. dynamics.temperature")
        node = raw
        for key in keys[:-1]:
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{path}: override {short(item)}: {key} is not a section")
            node = child
        node[keys[-1]] = value
        _replace_partner(node, path, set_here)
    return raw


def _replace_partner(run: dict, path: str, set_here: dict) -> None:
    """After the override ``path`` of one form of a :data:`DURATIONS` pair (e.g. run.burn_in), drop the other
    form given by the file (run.burn_in_time), so an override replaces a duration whichever form the file
    used; both forms overridden is an error."""
    partners = {f"run.{a}": b for pair in DURATIONS for a, b in (pair[:2], pair[1::-1])}
    if path not in partners:
        return
    if f"run.{partners[path]}" in set_here:
        raise ConfigError(f"{path}, run.{partners[path]}: both overridden; give the duration once, in steps or in time")
    set_here[path] = True
    run.pop(partners[path], None)


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (the last would win silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = (key_node.tag, key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key_node.tag != "tag:yaml.org,2002:merge":
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"the key {short(key_node.value)} is given twice",
                                                            key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def entries(value: Any, limit: int = MAX_ENTRIES) -> int:
    """The number of scalars, lists and mappings in ``value`` with YAML aliases expanded, counted up to
    ``limit + 1`` only (an alias bomb of 800 bytes expands to 10⁹ entries)."""
    count, stack = 0, [value]
    while stack and count <= limit:
        node = stack.pop()
        count += 1
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend(node)
    return count


def parse_value(text: str, where: str) -> Any:
    """YAML ``text`` (a file, or an override's value) as data; ConfigError starting with ``where`` if it is not
    valid YAML, repeats a key, or expands (aliases followed) to more than :data:`MAX_ENTRIES` entries."""
    try:
        value = yaml.load(text, Loader=_Loader)
    except (yaml.YAMLError, ValueError) as err:  # ValueError: an int of over 4300 digits
        raise ConfigError(f"{where} is not valid YAML ({_first_line(err)})") from None
    if entries(value) > MAX_ENTRIES:
        raise ConfigError(f"{where} has more than {MAX_ENTRIES} entries once its YAML aliases are expanded; "
                          "a config or spec has at most a few thousand")
    return value


def _first_line(err: Exception) -> str:
    return " ".join(str(err).split())


def read_text(path: str | Path, what: str = "config file") -> str:
    """The UTF-8 text of a config or spec file; ConfigError if it is missing, a folder, too large or not UTF-8."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} is a directory; expected a YAML file such as configs/uv.yaml")
    if not path.is_file():
        raise ConfigError(f"{what} {str(path)!r} does not exist")
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(f"{what} {str(path)!r}: {path.stat().st_size} bytes; expected a YAML file of at most "
                              f"{MAX_FILE_BYTES} bytes")
        return path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"{what} {str(path)!r} cannot be read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{what} {str(path)!r} is not UTF-8 text (byte {err.start}: {err.reason}); "
                          "expected a YAML file") from None


def _parse(text: str, where: str) -> dict:
    """The top-level mapping of a YAML config (an empty file is an empty mapping)."""
    raw = parse_value(text, f"config file {where!r}")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config file {where!r}: expected a mapping of sections (model, dynamics, run, observables, "
                          f"analysis) at the top level, got a {type(raw).__name__}")
    return raw


def read(path: str | Path | None) -> dict:
    """The raw mapping of a YAML config file (None: the embedded default, :data:`DEFAULT`), checked as YAML."""
    if path is None:
        return _parse(importlib.resources.files(__package__).joinpath(DEFAULT).read_text(), DEFAULT)
    return _parse(read_text(path), str(path))


def load(path: str | Path | None, overrides: list[str] | Mapping[str, Any] = ()) -> Experiment:
    """Read a YAML config (None: the embedded default, :data:`DEFAULT`), apply overrides and validate it."""
    return resolve(apply_overrides(read(path), overrides))
