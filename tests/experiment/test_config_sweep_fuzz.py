"""Fuzzing the sweep grammar and the batch spec: any input gives axes or points that every later step
accepts, or a ConfigError whose message names the sweep, the batch, the point or the field."""

import math
from pathlib import Path

import yaml
from hypothesis import given, settings, strategies as st

from langevin_ib.experiment import batch, config as config_lib, sweep_grid
from langevin_ib.experiment.config import Experiment
from langevin_ib.base import ConfigError

ROOT = Path(__file__).parents[2]
SMALL = ROOT / "configs" / "uv_small.yaml"
BASE = yaml.safe_load(SMALL.read_text())
SWEEPABLE = list(sweep_grid.sweepable(BASE))
KEYS = st.one_of(st.sampled_from(SWEEPABLE + ["run.thin", "dynamics.integrator", "model.name", "sweep"]),
                 st.text(max_size=6))
NUMBERS = st.one_of(st.integers(-3, 12), st.sampled_from(["0.1", "1e-3", "-1", "1e300", "nan", "inf", "1e12", "2.5",
                                                          "", "a", "0", "1e-400", "10**3", "1" + "0" * 5000]))
FORMS = st.one_of(
    st.builds(lambda kind, args: f"{kind}({','.join(map(str, args))})",
              st.sampled_from(["range", "logspace", "linspace", "lin space"]), st.lists(NUMBERS, max_size=4)),
    st.builds(",".join, st.lists(st.one_of(NUMBERS.map(str), st.text(max_size=4)), min_size=2, max_size=4)),
    st.builds(lambda items, close: "[" + ", ".join(map(str, items)) + ("]" if close else ""),
              st.lists(NUMBERS, max_size=4), st.booleans()),
    st.text(max_size=12),
    NUMBERS.map(str),
)
PREFIXES = ("sweep", "config", *SWEEPABLE, "run.", "dynamics.", "model.", "observables", "analysis")


def resolves_or_names_a_field(raw: dict, keys: tuple[str, ...]) -> None:
    """``raw`` resolves, or its message names a field, a section or one of the override ``keys``."""
    try:
        assert isinstance(config_lib.resolve(raw), Experiment)
    except ConfigError as err:
        assert str(err).startswith(PREFIXES + keys) or "unknown section" in str(err), str(err)


SECTION_VALUES = st.recursive(st.one_of(NUMBERS, st.none(), st.booleans(), st.floats(), FORMS,
                                        st.sampled_from([5000, 70, 9]).map(lambda digits: 10**digits)),
                              lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=3), inner, max_size=2)),
                              max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(KEYS, FORMS), max_size=3), st.dictionaries(KEYS, SECTION_VALUES, max_size=2))
def test_any_sweep_override_gives_a_checked_grid_or_one_message(items, section):
    """Overrides on the command line and a ``sweep:`` section of YAML values, as a config file gives it."""
    overrides = [f"{key}={text}" for key, text in items]
    keys = tuple(k for k in (item.partition("=")[0].strip() for item in overrides) if k) + tuple(section)
    try:
        raw, axes = sweep_grid.split_overrides({**BASE, "sweep": section}, overrides)
    except ConfigError as err:
        assert str(err).startswith(PREFIXES + keys) and len(str(err)) < 1000, str(err)
        return
    assert math.prod(map(len, axes.values())) <= sweep_grid.MAX_POINTS
    for key, values in axes.items():
        assert key in SWEEPABLE and values and len(set(values)) == len(values)
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
        assert all(v > 0 for v in values) if key in sweep_grid.POSITIVE else all(v >= 0 for v in values) \
            if key in sweep_grid.DATA_KEYS[:3] else all(isinstance(v, int) for v in values)
    for pick in (0, -1):  # the grid's corners, as load resolves every point
        point = raw
        for key, values in axes.items():
            section, name = key.split(".", 1)
            point = {**point, section: {**point.get(section, {}), name: values[pick]}}
        resolves_or_names_a_field(point, keys)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 3), st.text(max_size=5),
                    st.sampled_from([str(SMALL), "missing.yaml", "", ".", "..", "../x", "/tmp/x", "a/b", "out-1"]))
override_items = st.one_of(
    st.builds(lambda key, text: f"{key}={text}", KEYS, st.one_of(NUMBERS.map(str), st.text(max_size=5))),
    scalars)
config_paths = st.one_of(st.just(str(SMALL)), st.just(str(SMALL)), st.just(str(SMALL)), scalars)  # mostly good
points = st.one_of(
    st.fixed_dictionaries({"config": config_paths}, optional={
        "overrides": st.one_of(st.lists(override_items, max_size=2), st.lists(override_items, max_size=2), scalars),
        "out": scalars}),
    st.dictionaries(st.sampled_from(["config", "overrides", "out", "colour"]), scalars, max_size=3))
grids = st.fixed_dictionaries({"configs": st.one_of(st.lists(config_paths, max_size=2), scalars)},
                              optional={"overrides": st.one_of(
                                  st.dictionaries(KEYS, st.one_of(st.lists(NUMBERS, max_size=3), NUMBERS,
                                                                  st.sampled_from(["range(3)", "range(0,3,0)",
                                                                                   "logspace(-2,-1,2)"])), max_size=2),
                                  scalars),
                                  "slurm": st.one_of(st.dictionaries(st.sampled_from(["partition", "nodes"]), scalars,
                                                                     max_size=1), scalars)})
specs = st.one_of(st.lists(points, max_size=3), st.fixed_dictionaries({"points": st.lists(points, max_size=3)}),
                  grids, grids, scalars)


@settings(max_examples=200, deadline=None)
@given(specs)
def test_any_batch_spec_gives_checked_points_or_one_message(raw):
    try:
        spec = batch.parse(raw, ROOT)
    except ConfigError as err:
        assert str(err).startswith(("batch", "sweep")) and len(str(err)) < 1000, str(err)
        return
    names = [p.name for p in spec.points]
    assert spec.points and len(set(names)) == len(names) and len(names) <= sweep_grid.MAX_POINTS
    assert all(n and "/" not in n and n not in (".", "..") for n in names), names
    assert all(isinstance(p.experiment, Experiment) for p in spec.points)
