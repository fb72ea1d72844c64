"""Bad inputs and faults as a new user meets them: one line naming the field or the file, exit code 2,
nothing compiled; runs that lose chains say so; outputs never mix two runs; summary.json is strict JSON."""

import json

import pytest

from langevin_ib import cli
from langevin_ib.dynamics import memory
from langevin_ib.experiment import job

TINY = ["run.chains=64", "run.burn_in=0", "run.steps=40", "run.thin=10", "run.chunk_steps=40", "run.chain_groups=8",
        "analysis.snapshot_every=0", "--quiet"]


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity tokens."""
    def refuse(token):
        raise ValueError(f"non-strict JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def run_cli(capsys, *args):
    code = cli.main(["run", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a run gets as far as simulating (and so compiling)."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the run reached the simulation")
    monkeypatch.setattr(job, "simulate_model", forbidden)


def one_error_line(code, err):
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip().removeprefix("langevin-ib: error: ")


@pytest.mark.parametrize("text, expected", [("- 1\n- 2\n", "got a list"), ("3.5\n", "got a float"),
                                            ("just words\n", "got a str")])
def test_a_config_that_is_not_a_mapping_is_one_line(capsys, tmp_path, text, expected, no_simulation):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    line = one_error_line(*run_cli(capsys, str(path), "--out", str(tmp_path / "out"))[::2])
    assert line.startswith(f"config file '{path}': expected a mapping of sections") and expected in line


def test_a_directory_as_config_says_it_is_a_directory(capsys, tmp_path, no_simulation):
    line = one_error_line(*run_cli(capsys, str(tmp_path))[::2])
    assert line == f"config file '{tmp_path}' is a directory; expected a YAML file such as configs/uv.yaml"


@pytest.mark.parametrize("override, starts", [
    ("dynamics.temperature=inf", "dynamics.temperature: got inf; expected a positive float"),
    ("dynamics.temperature=.nan", "dynamics.temperature: got nan"),
    ("dynamics.step_size=inf", "dynamics.step_size: got inf"),
    ("dynamics.step_size=-.inf", "dynamics.step_size: got -inf"),
    ("observables.theta.max=inf", "observables.theta.max: got inf; expected a float (a finite number)"),
    ("run.seed=18446744073709551617", "run.seed: got 18446744073709551617; expected an integer 0 <= seed < 2**32"),
    ("run.seed=-1", "run.seed: got -1; expected an integer 0 <= seed < 2**32"),
    ("run.steps=1.5", "run.steps: got 1.5; expected a positive int (a whole number such as 1000 or 1e3)"),
    ("run.chains=[1", "run.chains: the value '[1' is not valid YAML"),
])
def test_bad_values_are_one_line_before_compile(capsys, tmp_path, override, starts, no_simulation):
    line = one_error_line(*run_cli(capsys, "configs/uv.yaml", override, "--out", str(tmp_path / "out"))[::2])
    assert line.startswith(starts), line


def test_integral_floats_are_accepted_for_int_fields():
    from langevin_ib.experiment import config as config_lib

    experiment = config_lib.load("configs/uv.yaml", ["run.steps=1e3", "run.chains=2.0e3", "run.seed=4294967295"])
    assert (experiment.run.steps, experiment.run.chains, experiment.run.seed) == (1000, 2000, 2**32 - 1)
    assert isinstance(experiment.run.steps, int)


@pytest.mark.parametrize("override, fields", [
    ("run.chains=1000000000000", "run.chains=1000000000000, observables.theta.bins=60"),
    ("observables.theta.bins=10000000000", "run.chains=20000, observables.theta.bins=10000000000")])
def test_a_run_too_large_for_memory_is_refused_before_compile(capsys, tmp_path, override, fields, no_simulation):
    line = one_error_line(*run_cli(capsys, "configs/uv.yaml", override, "--out", str(tmp_path / "out"))[::2])
    assert line.startswith(f"{fields}: the run needs an estimated ") and "is available" in line
    assert "fewer chains (run.chains)" in line and "fewer bins" in line
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []  # no staging folder left


def test_the_memory_estimate_counts_chains_bins_and_groups():
    from langevin_ib.experiment import config as config_lib, plan

    experiment, model = job.prepare(config_lib.load("configs/uv.yaml", ["run.chains=1000"]))
    integrator, hyper = job.build_integrator(experiment, model), job.hyperparameters_of(experiment)
    binnings = dict(experiment.observables)

    def estimate(chains, groups=8, width=0, binnings=binnings):
        return memory.estimate(model, integrator, hyper, chains, groups, binnings, width)
    small, large = estimate(1000), estimate(2000)
    assert large.state == 2 * small.state > 0 and large.histograms == small.histograms
    cells = 8 * (62 + 42 + 60 * 40)  # theta, chi with under/overflow, and the joint histogram
    assert small.histograms == 2 * cells * 16  # counted per half of the window (the stationarity check)
    assert estimate(1000, width=10).statistics == 1000 * 10 * 4
    assert plan.statistics(experiment, model)  # the width the run adds comes from the plan


def test_out_naming_a_file_or_an_unwritable_place_is_one_line(capsys, tmp_path, no_simulation):
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    line = one_error_line(*run_cli(capsys, "configs/uv.yaml", "--out", str(a_file))[::2])
    assert line.startswith(f"--out {a_file}: is a file; expected a folder")
    line = one_error_line(*run_cli(capsys, "configs/uv.yaml", "--out", str(a_file / "run"))[::2])
    assert line.startswith(f"--out {a_file / 'run'}: cannot write there")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("mine")
    line = one_error_line(*run_cli(capsys, "configs/uv.yaml", "--out", str(tmp_path / "notes"))[::2])
    assert "is a folder that is not an earlier run's output" in line and (tmp_path / "notes" / "thesis.tex").exists()
    assert a_file.read_text() == "mine"


def test_ctrl_c_is_one_line_and_leaves_no_partial_folder(capsys, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(job, "simulate_model", interrupted)
    code, out, err = run_cli(capsys, "configs/uv.yaml", "--out", str(tmp_path / "out"), *TINY)
    assert code == 130 and err == "langevin-ib: interrupted\n"
    assert list(tmp_path.iterdir()) == []


def test_one_chain_group_is_untestable_and_a_rerun_lists_only_its_own_files(capsys, tmp_path):
    """chain_groups=1: every Pearson verdict untestable with its reason, printed and in summary.json; the
    run replaces an earlier run's folder, whose conditional.png must not survive or be listed."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("config.yaml", "summary.json", "conditional.png", "fibre.png"):
        (out / name).write_text("an earlier run")
    # a burn-in (time 1): from the point start with none, θ's trend alone (scored without groups) flags the run
    code, printed, err = run_cli(capsys, "configs/uv.yaml", "--out", str(out), *TINY, "run.chain_groups=1", "run.burn_in=100")
    assert code == 0, err
    reason = "run.chain_groups must be at least 2"
    assert f"naive      untestable: the design effect is estimated from the spread between chain groups: {reason}" in printed
    assert printed.startswith("run: 64 chains x 140 steps, 1 chain groups, bins theta 60, chi 40, 0 snapshot statistics "
                              "per chain; memory estimate ")
    summary = strict_json((out / "summary.json").read_text())
    for result in summary["fits"]["level_set"]["hypotheses"].values():
        assert result["verdict"] == "untestable" and reason in result["reason"] and result["statistic"] is None
    assert reason in summary["conclusion"]
    written = sorted(p.name for p in out.iterdir())
    assert written == ["chi.png", "config.yaml", "density.png", "histograms.npz", "summary.json"]
    assert f"wrote {out}/: {' '.join(written)}" in printed
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging or replaced folder left


def test_every_chain_diverged_gives_strict_json_and_no_verdict(capsys, tmp_path):
    out = tmp_path / "out"
    code, printed, err = run_cli(capsys, "configs/uv.yaml", "--out", str(out), *TINY, "run.divergence_bound=0.5")
    assert code == 0, err
    summary = strict_json((out / "summary.json").read_text())
    assert summary["divergence"]["diverged"] == 64
    assert summary["moments"]["theta"] == {"mean": None, "variance": None,
                                          "reason": "no observation (every chain diverged before one)"}
    verdicts = [r["verdict"] for r in summary["fits"]["level_set"]["hypotheses"].values()]
    assert verdicts == ["untestable"] * 3
    assert "warning: 64 of 64 chains (100%) diverged" in printed and summary["warnings"]
    assert "caveat: 100% of the chains diverged" in summary["conclusion"]
    assert (out / "density.png").is_file()  # annotated 'no data', not bare axes


def test_partial_divergence_warns_and_the_conclusion_carries_it(capsys, tmp_path):
    out = tmp_path / "out"
    code, printed, err = run_cli(capsys, "configs/uv.yaml", "--out", str(out), *TINY, "model.init_noise=0.5",
                                 "run.divergence_bound=1.6")
    assert code == 0, err
    summary = strict_json((out / "summary.json").read_text())
    fraction = summary["divergence"]["fraction"]
    assert 0.01 < fraction < 1
    warning = (f"warning: {summary['divergence']['diverged']} of 64 chains ({fraction:.0%}) diverged (left |theta| <= "
               "run.divergence_bound=1.6 or became non-finite); the verdicts describe the surviving chains, a selected "
               "sample, not the stationary law")
    assert warning in printed.splitlines() and summary["warnings"] == [warning.removeprefix("warning: ")]
    assert f"caveat: {fraction:.0%} of the chains diverged" in summary["conclusion"] in printed
    assert job.warnings_of.__doc__ and job.DIVERGED_WARNING == 0.01


def test_strict_keeps_numbers_and_names_what_was_undefined():
    summary = job.strict({"a": {"x": float("nan"), "y": 1.5, "z": float("inf")}, "b": [float("-inf"), 2],
                          "c": {"x": float("nan"), "reason": "kept"}})
    assert summary == {"a": {"x": None, "y": 1.5, "z": None,
                             "reason": "not a finite number (nothing to estimate it from): x, z"},
                       "b": [None, 2], "c": {"x": None, "reason": "kept"}}
    strict_json(json.dumps(summary, allow_nan=False))


def test_predict_out_naming_a_file_is_one_line(capsys, tmp_path):
    target = tmp_path / "a_file"
    target.write_text("")
    assert cli.main(["predict", "configs/uv.yaml", "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file" in err[0], err


# Output folders of runs, sweeps and batches (issue 31 items 5, 6, 11, 12, 13; experiment/output.py)

SWEEP = ["dynamics.temperature=0.1,0.2", "run.chains=16", "run.burn_in=0", "run.steps=20", "run.thin=10",
         "run.chunk_steps=20", "run.chain_groups=4", "--quiet"]


@pytest.fixture
def no_compile(monkeypatch):
    """Fail the test if a run, sweep or batch gets as far as simulating."""
    from langevin_ib.dynamics import grid

    def forbidden(*args, **kwargs):
        raise AssertionError("reached the simulation")
    monkeypatch.setattr(job, "simulate_model", forbidden)
    monkeypatch.setattr(grid, "simulate_grid", forbidden)


def batch_spec(folder, *overrides):
    (folder / "uv.yaml").write_text(open("configs/uv_small.yaml").read())
    points = "".join(f"  - {{config: uv.yaml, overrides: [{o}], out: p{i}}}\n" for i, o in enumerate(overrides))
    (folder / "spec.yaml").write_text("points:\n" + points)
    return str(folder / "spec.yaml")


def command(kind, tmp_path):
    """The CLI arguments of a tiny run, sweep or batch (less --out)."""
    if kind == "batch":
        spec = tmp_path / "spec"
        spec.mkdir(exist_ok=True)
        return ["batch", batch_spec(spec, "run.chains=16", "run.chains=16"), "--quiet"]
    return ["run", "configs/uv_small.yaml", *TINY] if kind == "run" else ["sweep", "configs/uv_small.yaml", *SWEEP]


@pytest.mark.parametrize("kind", ["run", "sweep", "batch"])
def test_out_a_file_or_below_a_file_is_one_line_before_compile(capsys, tmp_path, kind, no_compile):
    """--out naming a file, or a path below a file (unwritable whoever runs the test, root included)."""
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    args = command(kind, tmp_path)
    line = one_error_line(cli.main([*args, "--out", str(a_file)]), capsys.readouterr().err)
    assert line.startswith(f"--out {a_file}: is a file; expected a folder"), line
    line = one_error_line(cli.main([*args, "--out", str(a_file / "out")]), capsys.readouterr().err)
    assert line.startswith(f"--out {a_file / 'out'}: cannot write there"), line
    assert a_file.read_text() == "mine"


FOREIGN = {  # a folder's files -> the kinds of output that must refuse it
    ("thesis.tex",): ("run", "sweep", "batch"),
    ("checkpoint-0-0.npz",): ("run", "batch"),  # a killed sweep's: a run would replace it and lose it
    ("sweep.json", "sweep.csv", "z_vs_temperature.png"): ("run", "batch"),
    ("checkpoint.npz", "config.yaml"): ("sweep", "batch"),  # a killed run's
    ("batch.csv", "batch.json"): ("run", "sweep"),
}


@pytest.mark.parametrize("files, kind", [(f, k) for f, kinds in FOREIGN.items() for k in kinds])
@pytest.mark.parametrize("resume", [False, True])
def test_a_folder_of_other_output_is_refused_and_kept(capsys, tmp_path, files, kind, resume, no_compile):
    """A run, sweep or batch (with or without --resume) never replaces another kind's output or a
    foreign folder: one line, nothing compiled, every file kept."""
    out = tmp_path / "out"
    out.mkdir()
    for name in files:
        (out / name).write_text("other")
    code = cli.main([*command(kind, tmp_path), "--out", str(out), *(["--resume"] if resume else [])])
    line = one_error_line(code, capsys.readouterr().err)
    assert line.startswith(f"--out {out}: is a folder that is not an earlier {kind}'s output"), line
    assert sorted(p.name for p in out.iterdir()) == sorted(files)
    assert all((out / name).read_text() == "other" for name in files)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staging left


def test_a_batch_folder_with_another_batchs_point_is_refused(capsys, tmp_path, no_compile):
    out = tmp_path / "out"
    (out / "elsewhere").mkdir(parents=True)
    (out / "elsewhere" / "config.yaml").write_text("other")
    (out / "batch.csv").write_text("other")
    line = one_error_line(cli.main([*command("batch", tmp_path), "--out", str(out)]), capsys.readouterr().err)
    assert "is a folder that is not an earlier batch's output (it holds other files: ['elsewhere'])" in line


def test_a_sweep_replaces_an_earlier_sweep_and_its_stale_files(capsys, tmp_path):
    """--resume on another, finished sweep's folder: no checkpoint to resume, so the sweep runs afresh
    and replaces the folder; the earlier sweep's figure that this one does not draw is gone."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("sweep.json", "sweep.csv", "histograms.npz", "z_vs_step_size.png"):
        (out / name).write_text("an earlier sweep")
    code = cli.main(["sweep", "configs/uv_small.yaml", *SWEEP, "--out", str(out), "--resume"])
    assert code == 0, capsys.readouterr().err
    written = sorted(p.name for p in out.iterdir())
    assert "z_vs_step_size.png" not in written and {"sweep.json", "sweep.csv", "histograms.npz"} <= set(written)
    assert json.loads((out / "sweep.json").read_text())["axes"] == {"dynamics.temperature": [0.1, 0.2]}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging, replaced folder or checkpoint left
    assert not list(out.glob("checkpoint*"))


def dead_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_partials_of_dead_processes_are_removed(tmp_path):
    """kill -9 leaves .<out>.partial-<pid>-<ns>/ (and .replaced-) beside --out, and hidden partial
    points and tables inside a batch folder; the next writer removes those whose process is dead,
    and keeps a live process's."""
    import os

    from langevin_ib.experiment import output

    dead, live = dead_pid(), os.getppid()
    stale = [f".out.partial-{dead}-1", f".out.replaced-{dead}-2", f".out.partial-{dead}-3"]
    for name in stale + [f".out.partial-{live}-4", f".other.partial-{dead}-5"]:
        (tmp_path / name).mkdir()
    (tmp_path / stale[2] / "summary.json").write_text("{}")
    staging = output.stage(tmp_path / "out", "run")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([f".out.partial-{live}-4", f".other.partial-{dead}-5", staging.name]), left
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / f".p0.partial-{dead}-1").mkdir()
    (batch / f".batch.partial-{dead}-2.csv").write_text("a,b\n")
    (batch / f".p1.partial-{live}-3").mkdir()
    output.batch_folder(batch, ["p0", "p1"])
    assert [p.name for p in batch.iterdir()] == [f".p1.partial-{live}-3"]


def disk_full(*args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["run", "sweep", "batch"])
def test_a_full_disk_is_one_line_and_leaves_no_partial_output(capsys, tmp_path, kind, monkeypatch):
    """A full disk met while writing the outputs (histograms.npz; a patched writer, as a tiny tmpfs needs
    root): one line, exit 2, no staging folder, no partial point folder and no temporary file left, only
    the checkpoint of the finished simulation (a run is a grid of one point: it keeps its pass's checkpoint
    as a sweep or batch does); then --resume completes from it without simulating again."""
    import numpy as np

    from langevin_ib.dynamics import checkpoint

    savez_compressed = np.savez_compressed
    monkeypatch.setattr(np, "savez_compressed", disk_full)
    out = tmp_path / "out"
    args = [*command(kind, tmp_path), "--out", str(out)]
    line = one_error_line(cli.main(args), capsys.readouterr().err)
    assert line.startswith(f"--out {out / 'p0' if kind == 'batch' else out}: cannot write there (No space left on device)")
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if not p.is_relative_to(tmp_path / "spec"))
    assert left == {"run": ["out", "out/checkpoint.npz"], "sweep": ["out", "out/checkpoint-0-0.npz"],
                    "batch": ["out", "out/checkpoint-0.npz"]}[kind]
    monkeypatch.setattr(np, "savez_compressed", savez_compressed)
    restored = []
    restore = checkpoint.Checkpointer.restore
    monkeypatch.setattr(checkpoint.Checkpointer, "restore", lambda self, *a: restored.append(restore(self, *a)) or restored[-1])
    assert cli.main([*args, "--resume"]) == 0, capsys.readouterr().err
    assert [r is not None for r in restored] == [True]  # no simulation redone
    assert not list(out.rglob("checkpoint*")) and not [p for p in tmp_path.rglob(".*")]
    assert (out / ("p1" if kind == "batch" else "") / {"run": "summary.json", "sweep": "sweep.csv", "batch": "summary.json"}[kind]).is_file()


def test_a_full_disk_while_checkpointing_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    """A checkpoint save that fails half-written leaves no checkpoint.tmp.npz and the last good one."""
    import numpy as np

    from langevin_ib.dynamics import checkpoint

    saver = checkpoint.Checkpointer(tmp_path, {"run": {"seed": 0}})
    saver.save(1, {"x": np.arange(3.0)})
    good = (tmp_path / "checkpoint.npz").read_bytes()

    def half_written(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        disk_full()
    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(OSError, match="No space"):
        saver.save(2, {"x": np.arange(3.0)})
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]
    assert (tmp_path / "checkpoint.npz").read_bytes() == good


@pytest.mark.slow
def test_the_partial_folder_of_a_killed_run_is_removed_by_the_next(tmp_path):
    """A real kill -9 of `langevin-ib run` while it writes: its .out.partial-<pid>-<ns>/ stays beside
    --out, and the next writer into --out (output.stage, a run's first step) removes it."""
    import os
    import subprocess
    import sys
    import time

    from langevin_ib.experiment import output

    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen([sys.executable, "-m", "langevin_ib.cli", "run", "configs/uv_small.yaml", "--quiet",
                                "--out", str(out), "run.steps=1000000"], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.partial-*")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.kill()
    process.wait()
    (left,) = tmp_path.glob(".out.partial-*")
    assert left.name.startswith(f".out.partial-{process.pid}-")
    staging = output.stage(out, "run")
    assert [p.name for p in tmp_path.iterdir()] == [staging.name]
