"""Fuzzing the config loader: any input resolves or raises a ConfigError that names a field."""

import copy
import math

import yaml
from hypothesis import given, settings, strategies as st

from langevin_ib import models
from langevin_ib.experiment import config as config_lib
from langevin_ib.base import ConfigError

BASE = yaml.safe_load(open("configs/uv.yaml"))
SECTIONS = ("model", "dynamics", "run", "observables", "analysis")
KEYS = {
    "model": sorted({"name", *(k for m in models.REGISTRY.values() for k in m.FIELDS)}),
    "dynamics": sorted(config_lib.DYNAMICS),
    "run": sorted(config_lib.RUN),
    "analysis": sorted(config_lib.ANALYSIS),
    "observables": sorted({o for m in models.REGISTRY.values() for o in m.OBSERVABLES}),
}
SPECIAL = ["1e3", "1.5", "1e400", "inf", "-inf", "nan", ".nan", "-1", "0", "2e-3", "", "uv", "harmonic", "..",
           "float64", "leimkuhler_matthews", "projected", "true", "[1, 2]", "{a: 1}"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**31, max_value=2**80),
    st.integers(max_value=-1), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(SPECIAL),
    st.text(max_size=8), st.sampled_from([2**64 + 1, 10**1000, 1.0e300, -0.0, 3.0, 7, 64])
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(["min", "max", "bins"])),
                                                 inner, max_size=3)), max_leaves=8)


@st.composite
def paths(draw):
    """A config path built from the real section and field names, sometimes with a random key."""
    depth = draw(st.integers(0, 3))
    section = draw(st.one_of(st.sampled_from(SECTIONS), st.text(max_size=5)))
    path = [section]
    if depth >= 2:
        path.append(draw(st.one_of(st.sampled_from(KEYS.get(section, ["x"])), st.text(max_size=5))))
    if depth >= 3 and section == "observables":
        path.append(draw(st.sampled_from(["min", "max", "bins", "step"])))
    return path[:depth] if depth < 2 else path


def mutate(raw, path, value):
    """raw with ``value`` at ``path`` (the whole config for the empty path), creating sections on the way."""
    if not path:
        return value
    raw = copy.deepcopy(raw) if isinstance(raw, dict) else {}
    node = raw
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value
    return raw


def assert_resolves_or_names_a_field(raw):
    try:
        experiment = config_lib.resolve(raw)
    except ConfigError as err:
        message = str(err)
        assert message.startswith((*SECTIONS, "sweep", "config")) or "unknown section" in message, message
        return
    assert all(math.isfinite(b.low) and math.isfinite(b.high) and b.bins > 0 for b in experiment.observables.values())
    assert 0 <= experiment.run.seed < config_lib.SEED_LIMIT
    assert math.isfinite(experiment.dynamics.temperature) and experiment.dynamics.temperature > 0


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(paths(), values), min_size=1, max_size=4), st.booleans())
def test_any_structure_resolves_or_names_a_field(mutations, from_base):
    raw = BASE if from_base else {}
    for path, value in mutations:
        raw = mutate(raw, path, value)
    assert_resolves_or_names_a_field(raw)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(paths(), st.one_of(st.sampled_from(SPECIAL), st.text(max_size=10))), max_size=3),
       st.one_of(st.sampled_from(SPECIAL), st.text(max_size=20)))
def test_overrides_and_files_resolve_or_name_a_field(overrides, file_text):
    items = [".".join(map(str, path)) + "=" + text for path, text in overrides]
    try:
        raw = config_lib.apply_overrides(BASE, items)
    except ConfigError as err:
        named = tuple(item.partition("=")[0].strip() + ":" for item in items)
        assert str(err).startswith((*SECTIONS, "config", *named)), str(err)
    else:
        assert_resolves_or_names_a_field(raw)
    try:
        parsed = config_lib._parse(file_text, "fuzz.yaml")
    except ConfigError as err:
        assert str(err).startswith("config file 'fuzz.yaml'"), str(err)
    else:
        assert_resolves_or_names_a_field(parsed)
