"""A non-stationary run's verdicts: untestable, said in the conclusion, a sweep.csv column, greyed and
hollow in the sweep figures (docs/statistics.md, "Stationarity")."""

import numpy as np

from langevin_ib.experiment import sweep_plots, sweep_table, verdicts
from langevin_ib.experiment.sweep_grid import Point

DRIFT = {"stationary": False, "drifting": ["theta"], "burn_in_time": 0.1, "suggested_burn_in_time": 0.42,
         "histograms": {"theta": {"z": 2.9, "p_value": 0.0016}}}


def summary(stationarity):
    fit = {"naive": {"statistic": 30.0, "p_value": 1e-5, "z": 4.0, "verdict": "rejected"},
           "geometric": {"statistic": 10.0, "p_value": 0.4, "z": 0.1, "verdict": "consistent"}}
    return {"fits": {"level_set": {"hypotheses": fit}},
            "stein": {"hypotheses": {"geometric": {"t_squared": 1.0, "p_value": 0.5, "z": {"a": 0.1}, "consistent": True}}},
            "moments": {"theta": {"mean": 1.0, "variance": 0.1}}, "divergence": {"fraction": 0.0},
            "timing": {"chain_steps_per_second": 1.0}, "stationarity": stationarity}


def test_a_drifting_run_has_only_untestable_verdicts_and_says_why():
    marked = verdicts.with_stationarity(summary(DRIFT))
    assert {o for test in verdicts.outcomes(marked).values() for o in test.values()} == {"untestable"}
    assert marked["fits"]["level_set"]["hypotheses"]["naive"]["p_value"] == 1e-5  # kept for inspection
    line = verdicts.conclusion(marked)
    assert line.startswith("the chains are not stationary: theta (z = 2.9)") and "suggested ≥ 0.42" in line
    stationary = summary({"stationary": True})
    assert verdicts.with_stationarity(stationary) is stationary
    assert verdicts.conclusion(stationary).startswith("the chains follow the geometric prediction")
    undecided = verdicts.conclusion(summary({"stationary": None, "reason": "no histogram could be scored"}))
    assert undecided.endswith("stationarity untestable (no histogram could be scored).")


def test_sweep_rows_carry_the_check_and_the_verdict_map_greys_the_point(tmp_path):
    drifting = verdicts.with_stationarity(summary(DRIFT))
    rows = sweep_table.csv_rows(Point(0, {"dynamics.step_size": 0.001}, None), drifting)
    assert {r["stationary"] for r in rows} == {False} and {r["verdict"] for r in rows} == {"untestable"}
    content = {"axes": {sweep_plots.T_KEY: [0.1], sweep_plots.ETA_KEY: [0.001, 0.01]},
               "config": {"dynamics": {}},
               "points": [{"index": 0, "values": {sweep_plots.T_KEY: 0.1, sweep_plots.ETA_KEY: 0.001}, "summary": drifting},
                          {"index": 1, "values": {sweep_plots.T_KEY: 0.1, sweep_plots.ETA_KEY: 0.01},
                           "summary": summary({"stationary": True})}]}
    figure = sweep_plots.plot_verdicts(content)
    grids = [np.asarray(image.get_array()) for ax in figure.axes for image in ax.get_images()]
    code = sweep_plots.VERDICT_CODE
    assert [g[:, 0].tolist() for g in grids[:2]] == [[code["not stationary"], code["rejected"]],
                                                     [code["not stationary"], code["consistent"]]]
    z = sweep_plots.plot_z(content, sweep_plots.ETA_KEY, sweep_plots.T_KEY)
    hollow = [line for ax in z.axes for line in ax.get_lines() if line.get_markerfacecolor() == "none" and len(line.get_xdata())]
    assert hollow, "the drifting point is drawn hollow"


def test_a_stochastic_gradient_run_checks_its_marginals_not_the_joint():
    """SGD's verdicts read θ's histogram, and under SGD χ contracts towards the slice without end, so
    the joint (θ, χ) histogram is not part of its stationarity check; a Langevin run's is
    (window.stationarity, as job.py calls it). One set of synthetic group counts (8 groups, Poisson,
    fixed seed) for both dynamics: θ's halves from one law, the joint's halves from one law but for
    the χ column beside 0, whose first half holds 30 more per group in each of θ's lower 30 bins (the
    shape of θ given χ changes there, as SGD's contraction does). At this seed θ gives z = −1.4
    (p = 0.90) and the joint z = 20 (p ~ 1e-75), against 0.01 Bonferroni over the histograms tested:
    the SGD check reads θ alone and finds it stationary; the Langevin check reads the joint too and
    rejects it, so the exclusion is what keeps the SGD run testable."""
    from pathlib import Path
    from types import SimpleNamespace

    from langevin_ib.dynamics import accumulators as hist_lib
    from langevin_ib.experiment import config as config_lib
    from langevin_ib.experiment import job, window

    rng = np.random.default_rng(0)
    theta_early, theta_all = rng.poisson(50, (8, 62)), rng.poisson(50, (8, 62)) + rng.poisson(50, (8, 62))
    joint_early, joint_late = rng.poisson(5, (8, 60, 40)), rng.poisson(5, (8, 60, 40))
    joint_early[:, :30, 19] += 30
    counts = {"theta": theta_all, "chi": rng.poisson(50, (8, 42))}
    histograms = hist_lib.Histograms(counts, joint_early + joint_late, {}, {**counts, "theta": theta_early}, joint_early)
    result = SimpleNamespace(histograms=histograms, joint=("theta", "chi"), symmetry="chi")
    configs = Path(__file__).parents[2] / "configs"
    checks = {}
    for name in ("uv_sgd", "uv_small"):
        experiment = config_lib.load(configs / f"{name}.yaml", ["run.chain_groups=8"])
        checks[name] = window.stationarity(experiment, job.build_model(experiment), result)
    assert set(checks["uv_sgd"]["histograms"]) == {"theta"} and checks["uv_sgd"]["stationary"] is True
    assert set(checks["uv_small"]["histograms"]) == {"theta", "level_set"}
    assert checks["uv_small"]["drifting"] == ["level_set"] and checks["uv_small"]["stationary"] is False
