"""Batches: a three-model SPEC run locally and through submitit's LocalExecutor, reruns that skip
finished points, and one-line errors for bad SPECs."""

import csv
import json
from pathlib import Path

import pytest

from langevin_ib import cli
from langevin_ib.experiment import batch

SIZES = "run: {chains: 32, burn_in: 50, steps: 100, thin: 10, chunk_steps: 50, chain_groups: 8, divergence_bound: 100.0}\n"
CONFIGS = {
    "uv": "model: {name: uv, target: 1.0}\ndynamics: {temperature: 0.1, step_size: 0.01}\n" + SIZES
          + "observables: {theta: {min: 0.0, max: 2.0, bins: 10}, chi: {min: -2.0, max: 2.0, bins: 4}}\n"
          + "analysis: {snapshot_every: 0}\n",
    "harmonic": "model: {name: harmonic, stiffness: 1.0}\ndynamics: {temperature: 0.1, step_size: 0.05}\n" + SIZES
                + "observables: {x: {min: -1.5, max: 1.5, bins: 10}}\nanalysis: {snapshot_every: 0}\n",
    "relu": "model: {name: relu, inputs: 2, hidden: 2, teacher_hidden: 1, samples: 8}\n"
            "dynamics: {temperature: 0.01, step_size: 0.01, weight_decay: 0.1}\n" + SIZES
            + "observables: {strength: {min: 0.0, max: 2.0, bins: 10}, chi: {min: -1.0, max: 1.0, bins: 4}}\n"
            + "analysis: {snapshot_every: 0}\n",
}
SPEC = """
points:
  - {config: uv.yaml, overrides: [dynamics.temperature=0.05], out: uv-cold}
  - {config: uv.yaml, overrides: [dynamics.temperature=0.2], out: uv-warm}
  - {config: harmonic.yaml, out: harmonic}
  - {config: relu.yaml, overrides: [run.seed=1], out: relu}
"""


FIGURES = [("uv-cold", "density.png"), ("uv-cold", "chi.png"), ("harmonic", "density.png"), ("relu", "chi.png")]


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spec")
    for name, text in CONFIGS.items():
        (folder / f"{name}.yaml").write_text(text)
    (folder / "spec.yaml").write_text(SPEC)
    return folder / "spec.yaml"


def table(out):
    with open(out / "batch.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_three_models_locally_then_a_rerun_skips_them(spec, tmp_path, capsys):
    out = tmp_path / "batch"
    assert cli.main(["batch", str(spec), "--out", str(out), "--quiet"]) == 0
    content = json.loads((out / "batch.json").read_text())
    assert [len(c["points"]) for c in content["compiles"]] == [2, 1, 1]  # the two u·v points share a compile
    rows = table(out)
    assert {r["config"] for r in rows} == {"uv", "harmonic", "relu"}
    assert {r["out"] for r in rows} == {"uv-cold", "uv-warm", "harmonic", "relu"}
    assert {"point", "test", "hypothesis", "z", "p_value", "verdict", "diverged_fraction"} <= set(rows[0])
    assert all((out / name / "summary.json").is_file() for name in ("uv-cold", "uv-warm", "harmonic", "relu"))
    assert all((out / name / figure).stat().st_size > 0 for name, figure in FIGURES)  # a single run's figures
    capsys.readouterr()
    assert cli.main(["batch", str(spec), "--out", str(out), "--quiet"]) == 0
    assert "4 already done, 0 to run" in capsys.readouterr().out
    assert table(out) == rows
    (out / "harmonic" / "config.yaml").write_text("model: {name: harmonic, stiffness: 2.0}\n")  # another config
    spec_again = batch.load(spec)
    assert [batch.done(p, out) for p in spec_again.points] == [True, True, False, True]


@pytest.mark.slow
def test_three_models_through_the_local_executor(spec, tmp_path):
    out = tmp_path / "jobs"
    content = batch.run(batch.load(spec), out, progress=False, executor="local", log=lambda *_: None)
    assert set(content["jobs"]) == {"uv-cold", "uv-warm", "harmonic", "relu"}
    assert {r["config"] for r in table(out)} == {"uv", "harmonic", "relu"}
    assert all((out / name / figure).stat().st_size > 0 for name, figure in FIGURES)
    again = batch.run(batch.load(spec), out, progress=False, executor="local", log=lambda *_: None)
    assert all(p["skipped"] for p in again["points"]) and "jobs" not in again


def test_a_grid_spec_expands_to_the_product(spec, tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(f"configs: [{spec.parent / 'uv.yaml'}, {spec.parent / 'harmonic.yaml'}]\n"
                    "overrides: {dynamics.step_size: [0.01, 0.02], dynamics.integrator: [euler_maruyama]}\n"
                    "slurm: {partition: gpu, timeout_min: 60}\n")
    loaded = batch.load(path)
    assert [p.name for p in loaded.points][:2] == ["uv-dynamics.step_size=0.01-dynamics.integrator=euler_maruyama",
                                                   "uv-dynamics.step_size=0.02-dynamics.integrator=euler_maruyama"]
    assert len(loaded.points) == 4 and loaded.slurm == {"partition": "gpu", "timeout_min": 60}
    assert len(batch.compile_groups(list(loaded.points))) == 2


@pytest.mark.parametrize("text, message", [
    ("- {config: missing.yaml}\n", "does not exist"),
    ("- {config: uv.yaml, colour: red}\n", "unknown key 'colour'"),
    ("points: [{config: uv.yaml}]\nqueue: x\n", "unknown key 'queue'"),
    ("- {config: uv.yaml, overrides: [dynamics.temperature=-1]}\n", "point 0"),
    ("points: [{config: uv.yaml}]\nslurm: {nodes: 3}\n", "slurm: unknown key 'nodes'"),
])
def test_a_bad_spec_is_one_line_and_exit_2(spec, tmp_path, text, message, capsys):
    path = spec.parent / "bad.yaml"
    path.write_text(text)
    assert cli.main(["batch", str(path), "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_harmonic_bias_slopes(tmp_path):
    """configs/harmonic_bias_batch.yaml: EM's variance bias grows as η (fitted slope ≈ 1, the exact
    ηk/2/(1 − ηk/2) has slope 1.0–1.2 on this range); LM's, zero in theory, is below EM's at every η."""
    import numpy as np
    import yaml

    from langevin_ib.experiment import sweep_plots

    root = Path(__file__).parents[2] / "configs"
    out = tmp_path / "bias"
    content = batch.run(batch.load(root / "harmonic_bias_batch.yaml"), out, progress=False, log=lambda *_: None)
    assert len(content["points"]) == 8 and len(content["compiles"]) == 2
    assert 0.85 < content["bias_slopes"]["euler_maruyama"] < 1.35, content["bias_slopes"]
    runs = []
    for record in content["points"]:
        with np.load(out / record["name"] / "histograms.npz") as arrays:
            runs.append((yaml.safe_load((out / record["name"] / "config.yaml").read_text()), arrays["x_moments"]))
    curves = sweep_plots.bias_curves(runs)
    (eta, em, em_se), (eta_lm, lm, lm_se) = curves["euler_maruyama"], curves["leimkuhler_matthews"]
    assert np.array_equal(eta, eta_lm)
    assert np.all(np.abs(lm - 1) < np.abs(em - 1)), (em, lm)
    assert np.all(np.abs(lm - 1) < 4 * lm_se), (lm, lm_se)  # LM: no bias beyond Monte Carlo error
    assert np.all(np.abs(em - 1 / (1 - eta / 2)) < 4 * em_se), (em, em_se)  # EM: its exact discrete variance
    assert (out / "bias.png").stat().st_size > 0


def test_slurm_without_slurm_is_one_line_and_runs_nothing(spec, tmp_path, capsys, monkeypatch):
    """batch --slurm where sbatch is not on PATH: refused before anything runs or is written, instead of
    submitit's silent fallback to local processes recorded as SLURM jobs."""
    monkeypatch.setenv("PATH", str(tmp_path))
    out = tmp_path / "out"
    assert cli.main(["batch", str(spec), "--out", str(out), "--slurm", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("langevin-ib: error: --slurm: SLURM is not available here (no sbatch on PATH)")
    assert err.count("\n") == 1 and not out.exists()


KILL_SPEC = """
points:
  - {config: harmonic.yaml, out: wide, overrides: [run.chains=32]}
  - {config: harmonic.yaml, out: narrow-a, overrides: [run.chains=16, run.seed=1]}
  - {config: harmonic.yaml, out: narrow-b, overrides: [run.chains=16, run.seed=2]}
"""


def point_numbers(folder):
    """A point's summary.json less timing, and its histograms.npz."""
    import numpy as np

    summary = json.loads((folder / "summary.json").read_text())
    summary.pop("timing")
    with np.load(folder / "histograms.npz") as data:
        return summary, {k: data[k] for k in data.files}


@pytest.mark.slow
def test_a_killed_local_batch_resumes_inside_its_running_point(spec, tmp_path, capsys, monkeypatch):
    """Two compiles (32 and 16 chains): stopped by SIGTERM (the checkpoint module's stop flag) after the
    second compile's first chunk, the batch has written the first compile's point (with batch.csv) and
    a checkpoint of the running pair; --resume restores that checkpoint (at step 50 of 150) and every
    point's summary (less timing) and histograms equal an uninterrupted batch's bitwise."""
    import numpy as np

    from langevin_ib.dynamics import checkpoint

    path = spec.parent / "kill.yaml"
    path.write_text(KILL_SPEC)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert cli.main(["batch", str(path), "--out", str(whole), "--quiet"]) == 0
    boundary = checkpoint.Checkpointer.boundary

    def stop_once(self, step, *args):
        if self.path.name == "checkpoint-1.npz" and self.chunks == 0:
            self.stop = "SIGTERM"
        return boundary(self, step, *args)
    monkeypatch.setattr(checkpoint.Checkpointer, "boundary", stop_once)
    capsys.readouterr()
    assert cli.main(["batch", str(path), "--out", str(killed), "--quiet"]) == 143
    err = capsys.readouterr().err
    assert err.startswith(f"langevin-ib: stopped on SIGTERM: saved a checkpoint at step 50 in {killed}/checkpoint-1.npz")
    # the finished pass's checkpoint stays until the batch ends (a resume skips its written point)
    assert sorted(p.name for p in killed.iterdir()) == ["batch.csv", "checkpoint-0.npz", "checkpoint-1.npz", "wide"]
    assert {r["out"] for r in table(killed)} == {"wide"}
    monkeypatch.setattr(checkpoint.Checkpointer, "boundary", boundary)
    restored = []
    restore = checkpoint.Checkpointer.restore
    monkeypatch.setattr(checkpoint.Checkpointer, "restore",
                        lambda self, *a: restored.append((self.path.name, (r := restore(self, *a)) and r[0])) or r)
    assert cli.main(["batch", str(path), "--out", str(killed), "--quiet", "--resume"]) == 0
    assert restored == [("checkpoint-1.npz", 5)]  # the position in blocks of thin = 10 steps: step 50
    assert "1 already done, 2 to run" in capsys.readouterr().out
    for name in ("wide", "narrow-a", "narrow-b"):
        (a, arrays_a), (b, arrays_b) = point_numbers(whole / name), point_numbers(killed / name)
        assert a == b and arrays_a.keys() == arrays_b.keys(), name
        for key in arrays_a:
            np.testing.assert_array_equal(arrays_a[key], arrays_b[key], err_msg=f"{name} {key}")
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in whole.iterdir())
    assert not list(killed.glob("checkpoint*"))
