"""The typed experiment, the one applicability rule, the embedded default run and the conclusion line."""

import dataclasses
import json
import math
from pathlib import Path

import pytest
import yaml

from langevin_ib import cli
from langevin_ib.experiment import config as config_lib, job, plan, verdicts

CONFIGS = [path for path in sorted(Path("configs").glob("*.yaml")) + sorted(Path("examples").glob("*.yaml"))
           if not {"sweep", "configs", "points"} & set(yaml.safe_load(path.read_text()))]  # experiments, not grids

# the tests each config's run made before the rule was one (summary.json of scripts/behaviour_baseline.json:
# the keys of "fits", then the non-null snapshot tests), comparisons first, then Stein and the forms
PLANS = {
    "attention": ("conditional_histogram", "stein", "conditional", "fibre"),
    "attention_projected": ("conditional_histogram", "stein", "conditional"),
    "deep_scalar": ("conditional_histogram", "stein", "conditional", "fibre"),
    "deep_scalar_projected": ("conditional_histogram", "stein", "conditional"),
    "hadamard": ("conditional_histogram", "stein", "conditional", "fibre"),
    "hadamard_projected": ("conditional_histogram", "stein", "conditional"),
    "matrix_factorisation": ("conditional_histogram", "stein", "conditional", "fibre"),
    "matrix_factorisation_gl": ("stein", "singular_level_set", "singular_fibre", "mode_energy_level_set"),
    "matrix_factorisation_gl_projected": ("stein", "singular"),
    "matrix_factorisation_gl_rank3": ("stein", "singular_level_curve", "singular_fibre", "mode_energy_level_set"),
    "matrix_factorisation_projected": ("conditional_histogram", "stein", "conditional"),
    "relu": ("conditional_histogram", "stein", "conditional", "fibre", "balance"),
    "relu_projected": ("conditional_histogram", "stein", "conditional"),
    "uv": ("level_set", "stein", "conditional"),
    "uv_projected": ("slice", "stein", "conditional"),
    "vector_scalar": ("conditional_histogram", "stein", "conditional"),
}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_the_experiment_is_immutable_and_round_trips_to_yaml(path):
    experiment = config_lib.load(path)
    assert config_lib.resolve(yaml.safe_load(experiment.to_yaml())) == experiment
    with pytest.raises(dataclasses.FrozenInstanceError):
        experiment.dynamics.temperature = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        experiment.tests = ()
    with pytest.raises(TypeError):
        experiment.observables["chi"] = None
    with pytest.raises(TypeError):
        experiment.model.fields["copies"] = 2


def test_overrides_reach_the_typed_experiment():
    experiment = config_lib.load("configs/uv.yaml", ["run.chains=64", "run.chain_groups=8", "dynamics.weight_decay=0.1",
                                                     "observables.theta.bins=7"])
    assert experiment.run.chains == 64 and experiment.dynamics.weight_decay == 0.1
    assert experiment.observables["theta"].bins == 7 and not experiment.dynamics.constrained


@pytest.mark.parametrize("path", [path for path in CONFIGS if path.stem in PLANS], ids=lambda p: p.stem)
def test_one_rule_plans_what_each_config_ran_before(path):
    experiment, _ = job.prepare(config_lib.load(path))
    assert experiment.tests == PLANS[path.stem]


def test_the_rule_follows_the_dynamics():
    """Weight decay adds the uv marginal; the projected integrator swaps the level set for the slice."""
    model = job.build_model(config_lib.load("configs/uv.yaml"))
    decayed = config_lib.load("configs/uv.yaml", ["dynamics.weight_decay=0.1"])
    assert plan.applicable(decayed, model) == ("level_set", "marginal", "stein", "conditional", "fibre")
    projected = config_lib.load("configs/uv.yaml", ["dynamics.integrator=projected", "dynamics.weight_decay=0.1"])
    assert plan.applicable(projected, model) == ("slice", "stein", "conditional")
    unobserved = config_lib.load("configs/uv.yaml", ["analysis.snapshot_every=0"])
    assert plan.applicable(unobserved, model) == ("level_set",)


@pytest.mark.slow
def test_run_without_a_config_runs_the_embedded_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # a burn-in of 2 time units (4 relaxation times): with none, the chains' spread from their common start
    # is a trend the stationarity check rightly flags
    assert cli.main(["run", "--quiet", "run.chains=64", "run.burn_in=200", "run.steps=80", "run.chunk_steps=40",
                     "run.chain_groups=8", "analysis.snapshot_every=4"]) == 0
    out = tmp_path / "runs" / "default"
    summary = json.loads((out / "summary.json").read_text())
    written = config_lib.resolve(yaml.safe_load((out / "config.yaml").read_text()))
    shipped = config_lib.load(Path(__file__).parents[2] / "configs" / "uv.yaml", ["run.chains=64", "run.burn_in=200",
                              "run.steps=80", "run.chunk_steps=40", "run.chain_groups=8", "analysis.snapshot_every=4"])
    assert written == shipped
    assert set(summary["fits"]) == {"level_set"} and summary["stein"] and summary["conditional"]
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"conclusion: {summary['conclusion']}" and "geometric" in last


def pearson(verdict, statistic=1.0):
    return {"statistic": statistic, "p_value": 0.5 if verdict == "consistent" else 1e-9, "verdict": verdict}


def hotelling(consistent, t_squared=1.0):
    return {"t_squared": t_squared, "p_value": 0.5 if consistent else 1e-9, "consistent": consistent}


def summary_of(fits, stein=None, **forms):
    return {"fits": {name: {"hypotheses": h} for name, h in fits.items()},
            "stein": None if stein is None else {"hypotheses": stein}, "moments": {}, **forms}


def test_conclusion_names_the_consistent_and_the_rejected():
    summary = summary_of({"level_set": {"naive": pearson("rejected"), "paper_eq7": pearson("rejected"),
                                        "geometric": pearson("consistent")}},
                         {"geometric": hotelling(True), "naive": hotelling(False)},
                         conditional={"hypotheses": {"geometric": pearson("consistent"), "naive": pearson("rejected")}},
                         fibre=None)
    assert verdicts.conclusion(summary) == ("the chains follow the geometric prediction (consistent in 3 of 3 tests); "
                                            "naive and paper_eq7 are rejected.")
    summary["stein"]["hypotheses"]["naive"] = hotelling(True)
    assert "naive is rejected in 2 of 3 tests" in verdicts.conclusion(summary)


def test_a_nan_statistic_is_untestable_never_consistent_or_rejected():
    nan = float("nan")
    summary = summary_of({}, {"geometric": {"t_squared": nan, "p_value": nan, "consistent": False},
                              "naive": hotelling(False)},
                         conditional={"hypotheses": {"geometric": pearson("consistent"),
                                                     "naive": {"statistic": nan, "p_value": nan, "verdict": "untestable"}}})
    table = verdicts.outcomes(summary)
    assert table == {"stein": {"geometric": "untestable", "naive": "rejected"},
                     "conditional": {"geometric": "consistent", "naive": "untestable"}}
    assert verdicts.conclusion(summary) == ("the chains follow the geometric prediction (consistent in 1 of 2 tests); "
                                            "naive is rejected; untestable in conditional and stein "
                                            "(NaN statistic: nothing to pool, or no chain left).")
    only_nan = summary_of({"marginal": {"gibbs": pearson("untestable", nan)}})
    assert verdicts.conclusion(only_nan) == ("no hypothesis is consistent in every test; "
                                             "gibbs is untestable (NaN statistic: nothing to pool, or no chain left).")
    assert not math.isfinite(only_nan["fits"]["marginal"]["hypotheses"]["gibbs"]["statistic"])
    assert verdicts.conclusion(summary_of({})) == "no prediction is tested in this run (histograms only)."
