"""Bad input: one clear error naming the field and what it accepts, before anything is compiled."""

import re

import pytest
import yaml

from langevin_ib import cli
from langevin_ib.experiment import config as config_lib
from langevin_ib.base import ConfigError

BASE = yaml.safe_load(open("configs/uv.yaml"))


def resolve_with(*overrides):
    return config_lib.resolve(config_lib.apply_overrides(BASE, list(overrides)))


def test_default_config_resolves_with_defaults_filled():
    experiment = resolve_with()
    assert experiment.dynamics.temperature == 0.1 and experiment.run.dtype == "float32"
    assert resolve_with("dynamics.step_size=1e-3").dynamics.step_size == 1e-3  # YAML 1.1 string


@pytest.mark.parametrize("override,field,accepted", [
    ("run.chian=5", "run.chian", "accepted keys"),
    ("dynamics.temperature=0", "dynamics.temperature", "positive"),
    ("dynamics.temperature=-1.0", "dynamics.temperature", "positive"),
    ("dynamics.step_size=fast", "dynamics.step_size", "positive float"),
    ("run.chains=10.5", "run.chains", "positive int"),
    ("run.chains=0", "run.chains", "positive int"),
    ("run.steps=true", "run.steps", "positive int"),
    ("observables.theta.min=3.0", "observables.theta", "min < max"),
    ("observables.chi.max=-2.0", "observables.chi", "min < max"),
    ("observables.theta.bins=0", "observables.theta.bins", "positive int"),
    ("observables.psi.bins=4", "observables.psi", "this model has"),
    ("dynamics.integrator=rk4", "dynamics.integrator", "euler_maruyama"),
    ("model.name=mlp", "model.name", "uv"),
    ("model.target=abc", "model.target", "float"),
    ("run.dtype=float16", "run.dtype", "float64"),
    ("analysis.significance=1.5", "analysis.significance", "between 0 and 1"),
    ("run.thin=7", "run.chunk_steps", "multiple of run.thin"),  # 500 steps a chunk (the thinning in steps: uv.yaml's is in time)
    ("run.chain_groups=100000", "run.chain_groups", "at most run.chains"),
    ("extra.key=1", "extra", "accepted sections"),
])
def test_bad_values_name_the_field(override, field, accepted):
    with pytest.raises(ConfigError) as err:
        resolve_with(override)
    assert str(err.value).startswith(field) and accepted in str(err.value), str(err.value)


def test_malformed_override_is_rejected():
    with pytest.raises(ConfigError, match="section.key=value"):
        config_lib.apply_overrides(BASE, ["temperature"])


def test_cli_reports_user_errors_without_traceback(capsys, tmp_path):
    assert cli.main(["run", "configs/uv.yaml", "dynamics.temperature=-1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "dynamics.temperature" in err and "Traceback" not in err
    assert cli.main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_takes_overrides_on_either_side_of_out(capsys, tmp_path):
    assert cli.main(["run", "configs/uv.yaml", "--out", str(tmp_path), "run.chains=0"]) == 2
    assert "run.chains" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "configs/uv.yaml", "--out", str(tmp_path), "--bogus"])
    assert exit_.value.code == 2 and "--bogus" in capsys.readouterr().err


def test_cli_help_for_every_command(capsys):
    for args in (["--help"], *([command, "--help"] for command in ("run", "sweep", "batch", "predict"))):
        with pytest.raises(SystemExit) as exit_:
            cli.main(args)
        assert exit_.value.code == 0 and "usage: langevin-ib" in capsys.readouterr().out


@pytest.mark.parametrize("overrides, message", [
    (["run.time=2", "run.steps=200"], "run.steps, run.time: both overridden"),
    (["run.time=2.005"], "run.time: got 2.005, which is 200.5 steps of dynamics.step_size=0.01"),
    (["run.time=0.001"], "run.time: got 0.001, which is 0.1 steps"),
    (["run.time=2.05", "run.thin_time=0.1"], "run.time: got 2.05 (205 steps of dynamics.step_size=0.01); expected a "
                                             "multiple of η·thin (run.thin_time=0.1 (10 steps))"),
    (["run.thin_time=0.005"], "run.thin_time: got 0.005, which is 0.5 steps"),
])
def test_durations_in_time_refuse_bad_input_naming_the_field(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_lib.load("configs/uv_small.yaml", overrides)


def test_a_duration_given_in_both_forms_in_a_file_is_refused():
    raw = config_lib.apply_overrides(config_lib.read("configs/uv_small.yaml"), [])
    raw["run"]["steps"] = 200  # beside its run.time
    with pytest.raises(ConfigError, match=re.escape("run.steps, run.time: both given")):
        config_lib.resolve(raw)


def test_durations_in_time_resolve_to_steps_and_read_back_in_their_form():
    """uv_small (η = 0.01) with burn-in time 1, time 2, thinning 0.1: 100, 200 and 10 steps; config.yaml keeps the
    time form, and an override in steps replaces the file's time form of the same pair (the issue's 100-step burn-in)."""
    experiment = config_lib.load("configs/uv_small.yaml", ["run.burn_in_time=1", "run.time=2", "run.thin_time=0.1"])
    assert (experiment.run.burn_in, experiment.run.steps, experiment.run.thin) == (100, 200, 10)
    written = experiment.to_dict()["run"]
    assert written["time"] == 2.0 and "steps" not in written and "burn_in" not in written
    assert config_lib.resolve(experiment.to_dict()) == experiment
    raw = experiment.to_dict()
    back = config_lib.resolve(config_lib.apply_overrides(raw, ["run.burn_in=7", "dynamics.step_size=0.001"]))
    assert (back.run.burn_in, back.run.burn_in_time, back.run.steps, back.run.thin) == (7, None, 2000, 100)


def test_a_sweep_point_with_zero_steps_is_named():
    from langevin_ib.experiment import sweep_grid

    with pytest.raises(ConfigError, match=re.escape("run.time: got 0.05, which is 0.5 steps of dynamics.step_size=0.1")
                       + ".*" + re.escape("(sweep point 1: dynamics.step_size=0.1)")):
        sweep_grid.load("configs/uv_small.yaml", ["dynamics.step_size=0.01,0.1", "run.time=0.05", "run.thin=1"])
