"""End-to-end u·v runs: the verdicts, determinism, divergence accounting and the written outputs."""

import json

import numpy as np
import pytest
import yaml

from langevin_ib.experiment import config as config_lib
from langevin_ib.experiment import comparisons, job
from langevin_ib.statistics import goodness_of_fit


def small_uv(snapshot_every=10, **run):
    raw = yaml.safe_load(open("configs/uv.yaml"))
    raw["run"] = {k: v for k, v in raw["run"].items() if not k.endswith("time")}  # its durations in time, replaced in steps
    raw["run"].update({"chains": 4096, "burn_in": 3000, "steps": 1000, "thin": 10, "chunk_steps": 500,
                       "chain_groups": 64, **run})
    raw["analysis"]["snapshot_every"] = snapshot_every  # 10 snapshots per chain, as the docstrings below assume
    return config_lib.resolve(raw)


@pytest.fixture(scope="module")
def uv_outputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("uv")
    summary = job.run_and_write(small_uv(), out, progress=False).summary
    return out, summary


@pytest.mark.slow
def test_geometric_consistent_and_naive_rejected(uv_outputs):
    """~270k χ-conditioned observations of 4096 chains. The geometric p-value is a draw from U(0,1)
    if the theory holds; at the config's level 0.01 a fixed seed fails by chance with probability 1%.
    The naive density sits ~40 z-units away at this size, far beyond any fluctuation."""
    _, summary = uv_outputs
    fits = summary["fits"]["level_set"]["hypotheses"]
    assert fits["geometric"]["verdict"] == "consistent", fits["geometric"]
    assert fits["naive"]["verdict"] == "rejected" and fits["naive"]["z"] > 10, fits["naive"]
    assert fits["paper_eq7"]["verdict"] == "rejected", fits["paper_eq7"]


@pytest.mark.slow
def test_stein_identities_agree_with_the_histogram(uv_outputs):
    """The binning-free test on the same run (4096 chains × 10 snapshots, Hotelling T² on the
    per-chain means): the geometric p-value is U(0,1) under the theory (1% false alarms at 0.01);
    naive and projected sat at z ≈ 9 and 5 with one snapshot of 4096 chains, so p < 1e-4 fails
    only if the test lost its power."""
    _, summary = uv_outputs
    stein = summary["stein"]["hypotheses"]
    assert stein["geometric"]["verdict"] == "consistent", stein["geometric"]
    assert stein["naive"]["p_value"] < 1e-4 and stein["projected"]["p_value"] < 1e-4, stein


@pytest.mark.slow
def test_conditional_pit_agrees_with_the_histogram(uv_outputs):
    """The full-conditional PIT on the same run (4096 chains × 10 snapshots, ~41000 values, 20-bin
    Rao–Scott test): geometric is U(0,1)-distributed under the theory (1% false alarms at 0.01);
    naive and projected sat at z = 18 and 9 with 2000 chains × 20 snapshots, so p < 1e-4 fails only
    if the test lost its power. The conditionals averaged over samples predict the θ histogram."""
    out, summary = uv_outputs
    conditional = summary["conditional"]
    fits = conditional["hypotheses"]
    assert fits["geometric"]["verdict"] == "consistent", fits["geometric"]
    assert fits["naive"]["p_value"] < 1e-4 and fits["projected"]["p_value"] < 1e-4, fits
    data = np.load(out / "histograms.npz")
    assert data["conditional_pit_counts"].sum() == 3 * conditional["samples"]
    np.testing.assert_allclose(data["conditional_predicted_counts"].sum(axis=1), conditional["samples"], rtol=1e-4)
    assert (out / "conditional.png").is_file()


@pytest.mark.slow
def test_chi_transient_is_rejected_without_burn_in():
    """All chains start at χ = 0. While the law of χ is still narrow, the law of θ given χ is not the
    level-set density (the χ diffusivity 4T√(θ² + χ²) depends on θ), and the same statistic must see
    it: with no burn-in, 16384 chains × 500 steps put the geometric fit at z ≈ 38 (seeds 0 and 1),
    so z > 10 fails only if the transient vanished; with burn-in 3000 the fit above is consistent.
    The level-set histogram alone: no snapshot statistics (Stein, PIT), which the claim does not use."""
    experiment, model = job.prepare(small_uv(chains=16384, burn_in=0, steps=500, snapshot_every=0))
    built = comparisons.build(experiment, model, job.execute(experiment, progress=False), {})
    geometric = comparisons.fit_all(experiment, built)["level_set"]["hypotheses"]["geometric"]
    assert geometric["verdict"] == "rejected" and geometric["z"] > 10, geometric


@pytest.mark.slow
def test_outputs_and_refit_from_npz_alone(uv_outputs):
    out, summary = uv_outputs
    for name in ("config.yaml", "summary.json", "histograms.npz", "density.png", "chi.png"):
        assert (out / name).is_file()
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    data = np.load(out / "histograms.npz")
    for hypothesis, fit in summary["fits"]["level_set"]["hypotheses"].items():
        refit = goodness_of_fit.pearson_test(data["level_set_counts"], data[f"level_set_{hypothesis}_probabilities"],
                                             significance=summary["significance"])
        assert refit["statistic"] == pytest.approx(fit["statistic"]) and refit["verdict"] == fit["verdict"]
    assert data["theta_counts"].shape == (64, 60) and data["joint_counts"].shape == (64, 60, 40)
    assert summary["divergence"]["diverged"] == 0


def counts_of(config):
    result = job.execute(config, progress=False)
    return result.histograms, result


@pytest.mark.slow
def test_same_seed_and_any_chunking_give_identical_histograms():
    """The histograms and moments alone (no snapshot statistics, which the claim does not read; their
    sums across a resume: tests/dynamics/test_checkpoint.py)."""
    sizes = dict(chains=512, steps=300, burn_in=100, snapshot_every=0)
    base = small_uv(**sizes)
    first, _ = counts_of(base)
    again, _ = counts_of(base)
    rechunked, _ = counts_of(small_uv(**sizes, chunk_steps=70))
    other_seed, _ = counts_of(small_uv(**sizes, seed=1))
    for other in (again, rechunked):
        np.testing.assert_array_equal(first.joint, other.joint)
        np.testing.assert_array_equal(first.counts["theta"], other.counts["theta"])
        np.testing.assert_array_equal(first.moments["chi"], other.moments["chi"])
    assert not np.array_equal(first.joint, other_seed.joint)


def test_planted_divergence_is_counted_and_excluded():
    """A bound of 2.5 on |u|, |v| is crossed by the chains whose χ wanders out: they are frozen and
    every observation from their divergence step on is missing from every histogram (no snapshot
    statistics: the claim is the histograms')."""
    config = small_uv(chains=512, steps=400, burn_in=100, thin=10, divergence_bound=2.5, snapshot_every=0)
    hist, result = counts_of(config)
    diverged_at = np.asarray(result.final_state.diverged_at)
    assert 0 < result.diverged < 512 and result.diverged == int((diverged_at >= 0).sum())
    observed_at = 100 + 10 * np.arange(1, 41) - 1  # last step index before each observation
    alive = (diverged_at[:, None] < 0) | (diverged_at[:, None] > observed_at[None, :])
    assert hist.counts["theta"].sum() == alive.sum()
    assert hist.moments["theta"][:, 0].sum() == alive.sum()


def test_non_finite_chains_are_caught():
    raw = {"model": {"name": "harmonic", "stiffness": 1.0, "init": 1.0},
           "dynamics": {"temperature": 0.1, "step_size": 2.5},  # |1 − ηk| > 1: explodes
           "run": {"chains": 64, "steps": 400, "chain_groups": 8, "divergence_bound": float("inf")},
           "observables": {"x": {"min": -1, "max": 1, "bins": 10}}}
    result = job.execute(config_lib.resolve(raw), progress=False)
    assert result.diverged == 64
    assert np.all(np.isfinite(np.asarray(result.final_state.integrator.position["x"])))
