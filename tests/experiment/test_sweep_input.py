"""Bad inputs to sweep, batch and run as issue 31 lists them: one line naming the field, exit status 2,
nothing compiled (the simulation entry points are replaced by a failure); faults of the checkpoint and
of Ctrl-C; sweep.json strict; the slice drift at T = 0."""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from langevin_ib import cli, geometry, models
from langevin_ib.dynamics import checkpoint
from langevin_ib.experiment import config as config_lib, job, sweep, sweep_grid, sweep_table
from langevin_ib.base import ConfigError

ROOT = Path(__file__).parents[2]
SMALL = ROOT / "configs" / "uv_small.yaml"
SGD = ROOT / "configs" / "uv_sgd.yaml"
BOMB = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))  # 9⁹ entries


@pytest.fixture(autouse=True)
def no_simulation(monkeypatch):
    """Fail a test that gets as far as simulating (and so compiling) a run or a sweep."""
    def forbidden(*args, **kwargs):
        raise AssertionError("reached the simulation")
    monkeypatch.setattr(job, "simulate_model", forbidden)
    monkeypatch.setattr(sweep, "simulate", forbidden)


def one_line(capsys, *argv) -> str:
    """The error line of ``langevin-ib argv``, asserting exit status 2, one line and no traceback."""
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, (code, err)
    assert len(err) <= len("langevin-ib: error: ") + cli.MESSAGE_LIMIT + 4, len(err)
    return err.strip().removeprefix("langevin-ib: error: ")


def write_spec(tmp_path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("item, message", [
    ("run.seed=range(0,10,0)", "sweep run.seed: 'range(0,10,0)'; expected range(stop) or range(start, stop[, step]) of "
                               "integers, step not 0"),
    ("dynamics.temperature=[0.1, 0.2", "sweep dynamics.temperature: '[0.1, 0.2' is not valid YAML"),
    ("dynamics.temperature=0.1,0.2,0.1", "sweep dynamics.temperature: 0.1 is given twice in '0.1,0.2,0.1'"),
    ("dynamics.temperature=linspace(0.1,0.1,2)", "sweep dynamics.temperature: 0.1 is given twice"),
    ("run.seed=range(0,1e300)", "has more than 10000 values, the most a sweep takes; split it into several sweeps"),
    ("dynamics.step_size=logspace(-3,-2,1e12)", "has more than 10000 values"),
])
def test_bad_sweep_values_are_one_line(capsys, tmp_path, item, message):
    assert message in one_line(capsys, "sweep", SMALL, item, "--out", tmp_path / "o")


def test_a_huge_grid_is_refused_before_its_points_are_built(capsys, tmp_path, monkeypatch):
    """10⁶ points (issue 31, case 10): refused in well under a second, naming the axes and how to split."""
    built = []
    monkeypatch.setattr(config_lib, "resolve", lambda raw: built.append(raw))
    start = time.perf_counter()
    line = one_line(capsys, "sweep", SMALL, "dynamics.temperature=logspace(-2,0,1000)",
                    "dynamics.step_size=logspace(-3,-2,1000)", "--out", tmp_path / "o")
    assert time.perf_counter() - start < 1.0 and built == []
    assert line.startswith("sweep: 1000 dynamics.temperature x 1000 dynamics.step_size = 1000000 points; a sweep has at "
                           "most 10000") and "split it" in line


def test_ctrl_c_while_building_points_is_one_line(capsys, tmp_path, monkeypatch):
    def interrupted(raw):
        raise KeyboardInterrupt
    monkeypatch.setattr(config_lib, "resolve", interrupted)
    assert cli.main(["sweep", str(SMALL), "dynamics.temperature=0.1,0.2", "--out", str(tmp_path / "o"), "--quiet"]) == 130
    assert capsys.readouterr().err == "langevin-ib: interrupted\n"


def test_the_largest_grid_builds_in_seconds():
    """MAX_POINTS points are resolved one by one, a Python loop that Ctrl-C interrupts at once; bounded
    so that the loop ends in seconds (measured 2.1 s for u·v on this 2-core machine; 20 s allows a loaded one)."""
    start = time.perf_counter()
    points = sweep_grid.load(SMALL, ["dynamics.temperature=logspace(-2,0,100)", "dynamics.step_size=logspace(-3,-2,100)",
                                     "run.burn_in=100", "run.steps=200", "run.thin=10"])[2]  # logspace η: no whole steps of a time
    assert len(points) == sweep_grid.MAX_POINTS and time.perf_counter() - start < 20


@pytest.mark.parametrize("overrides, message", [
    (["dynamics.temperature=0.1,0.2", "dynamics.temperature=0.3"],
     "sweep dynamics.temperature: swept on the command line and set by 'dynamics.temperature=0.3'; give one, e.g. "
     "dynamics.temperature=[0.3] for a single value"),
    (["dynamics.temperature=0.1,0.2", "dynamics.temperature=0.3,0.4"],
     "sweep dynamics.temperature: swept twice on the command line; give its values once"),
])
def test_a_key_swept_and_set_is_one_line(capsys, tmp_path, overrides, message):
    assert one_line(capsys, "sweep", SMALL, *overrides, "--out", tmp_path / "o") == message


def test_a_key_of_the_sweep_section_set_on_the_command_line_is_one_line(capsys, tmp_path):
    config = tmp_path / "swept.yaml"
    config.write_text(SMALL.read_text() + "sweep: {dynamics.temperature: [0.1, 0.2]}\n")
    line = one_line(capsys, "sweep", config, "dynamics.temperature=0.3", "--out", tmp_path / "o")
    assert line.startswith("sweep dynamics.temperature: swept in the config's sweep: section and set by")
    _, axes, _ = sweep_grid.load(config, ["dynamics.temperature=0.3,0.4"])  # a command-line axis replaces the section's
    assert axes == {"dynamics.temperature": [0.3, 0.4]}


@pytest.mark.parametrize("command", ["run", "sweep", "predict"])
def test_a_non_utf8_config_is_one_line(capsys, tmp_path, command):
    config = tmp_path / "latin1.yaml"
    config.write_bytes(SMALL.read_bytes() + "# température\n".encode("latin-1"))
    sweep_item = ["dynamics.temperature=0.1,0.2"] if command == "sweep" else []
    line = one_line(capsys, command, config, *sweep_item, "--out", tmp_path / "o")
    assert line.startswith(f"config file '{config}' is not UTF-8 text (byte ")


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_key_given_twice_in_a_config_is_one_line(capsys, tmp_path, command):
    config = tmp_path / "twice.yaml"
    config.write_text(SMALL.read_text() + "run: {chains: 32}\n")
    line = one_line(capsys, command, config, "dynamics.temperature=0.1,0.2" if command == "sweep" else "run.seed=1",
                    "--out", tmp_path / "o")
    assert line.startswith(f"config file '{config}' is not valid YAML (the key 'run' is given twice")


def test_yaml_merge_keys_are_not_repeated_keys():
    assert config_lib.parse_value("base: &b {x: 1, y: 2}\nmine: {<<: *b, y: 3}\n", "t")["mine"] == {"x": 1, "y": 3}


@pytest.mark.parametrize("where", ["field", "section", "sweep", "override"])
def test_a_yaml_alias_bomb_is_refused_at_once(capsys, tmp_path, where):
    """Nine levels of nine aliases, 9⁹ = 3.9·10⁸ entries (issue 31 case 9: 35 s, MemoryError, or a hang in a
    sweep: section): refused in under a second by counting entries up to MAX_ENTRIES."""
    config = tmp_path / "bomb.yaml"
    nested = "".join("  " + line + "\n" for line in BOMB.splitlines())
    if where == "field":
        config.write_text(SMALL.read_text().replace("analysis: {snapshot_every: 0}", "") + "analysis:\n  bombs:\n" +
                          "".join("  " + line for line in nested.splitlines(True)))
    elif where == "section":
        config.write_text(SMALL.read_text() + "bombs:\n" + nested)
    elif where == "sweep":
        config.write_text(SMALL.read_text() + "sweep:\n  dynamics.temperature:\n" + "".join(
            "  " + line for line in nested.splitlines(True)))
    else:
        config = SMALL
    command = "run" if where in ("field", "override") else "sweep"
    extra = ["run.seed=" + BOMB.replace("\n", ", ").join("{}")] if where == "override" else []
    start = time.perf_counter()
    line = one_line(capsys, command, config, *extra, "--out", tmp_path / "o")
    assert time.perf_counter() - start < 1.0
    assert f"more than {config_lib.MAX_ENTRIES} entries once its YAML aliases are expanded" in line, line


def test_a_large_value_is_shown_in_a_bounded_line(capsys, tmp_path):
    line = one_line(capsys, "run", SMALL, "run.seed=[" + ", ".join(["123456789"] * 5000) + "]", "--out", tmp_path / "o")
    assert line.startswith("run.seed: got [123456789, 123456789,") and len(line) < 200


@pytest.mark.parametrize("command, item", [("run", "run.seed=1" + "0" * 5000), ("sweep", "run.seed=1,1" + "0" * 5000)])
def test_an_integer_past_pythons_digit_limit_is_one_line(capsys, tmp_path, command, item):
    """YAML reads 5001 digits as an int, which Python refuses to convert (ValueError, not a YAML error)."""
    line = one_line(capsys, command, SMALL, item, "--out", tmp_path / "o")
    assert "is not valid YAML (Exceeds the limit (4300 digits)" in line and len(line) < 400, line


@pytest.mark.parametrize("args, message", [
    (["dynamics.optimizer_args={momentum: abc}"],
     "dynamics.optimizer_args: optax.sgd(momentum='abc') cannot step a float parameter"),
    (["dynamics.optimizer=adam", "dynamics.optimizer_args={b1: abc}"],
     "dynamics.optimizer_args: optax.adam(b1='abc') cannot step a float parameter"),
    (["dynamics.optimizer=adam", "dynamics.optimizer_args={b1: [0.9, 0.8]}"],
     "dynamics.optimizer_args.b1: got [0.9, 0.8]; expected a number, a bool or a string"),
])
def test_optimizer_argument_values_are_checked_before_tracing(capsys, tmp_path, args, message):
    assert one_line(capsys, "run", SGD, *args, "--out", tmp_path / "o").startswith(message)


def test_good_optimizer_arguments_resolve():
    experiment = config_lib.load(SGD, ["dynamics.optimizer=adam", "dynamics.optimizer_args={b1: 0.8, eps: 1e-6}"])
    assert dict(experiment.dynamics.minibatch.optimizer_args) == {"b1": 0.8, "eps": 1e-6}


def test_a_noise_the_integrator_cannot_draw_names_those_that_can(capsys, tmp_path):
    line = one_line(capsys, "run", SMALL, "dynamics.integrator=leimkuhler_matthews", "dynamics.noise=two_point",
                    "--out", tmp_path / "o")
    assert line == ("dynamics.noise: got 'two_point'; leimkuhler_matthews draws only ['gaussian', 'three_point'] "
                    "(two_point noise: ['euler_maruyama', 'projected'])")


@pytest.mark.parametrize("spec, message", [
    ("- {config: CONFIG, out: 123}\n", "batch point 0: out: got 123; expected a folder name inside the batch's --out"),
    ("- {config: CONFIG, out: [x]}\n", "batch point 0: out: got ['x']"),
    ("- {config: CONFIG, out: ''}\n", "batch point 0: out: got ''"),
    ("- {config: CONFIG, out: ../x}\n", "batch point 0: out: got '../x'"),
    ("- {config: CONFIG, out: /tmp/x}\n", "batch point 0: out: got '/tmp/x'"),
    ("- {config: CONFIG, out: " + "x" * 256 + "}\n", "expected a folder name inside the batch's --out (a non-empty "
                                                    "string of at most 255 bytes"),
    ("- {config: CONFIG, overrides: [run.seed=1, run.chains=64, run.steps=300, run.burn_in=100, run.thin=10, "
     "run.chunk_steps=100, run.chain_groups=16, dynamics.temperature=0.1, dynamics.step_size=0.01, "
     "dynamics.weight_decay=0.0, observables.theta.bins=20, observables.chi.bins=8, analysis.significance=0.01, "
     "analysis.min_expected=5.0, model.target=1.0]}\n",
     "batch point 0: out: got 'uv_small-run.seed=1-run.chains=64"),  # a name made of overrides, too long
    ("configs: []\n", "batch SPEC: configs: expected a config file or a non-empty list of them"),
    ("configs: [CONFIG]\noverrides: {run.seed: 'range(0,10,0)'}\n", "sweep run.seed: 'range(0,10,0)'; expected range"),
    ("configs: [CONFIG]\noverrides: {run.seed: []}\n", "batch SPEC: overrides: 'run.seed': an empty list"),
    ("configs: [CONFIG]\noverrides: {run.seed: 'range(100000)'}\n", "sweep run.seed: 'range(100000)' has more than"),
    ("configs: [CONFIG]\noverrides: {run.seed: 'range(100)', dynamics.temperature: 'logspace(-2,0,101)'}\n",
     "batch SPEC: more than 10000 points, the most a batch takes"),
    ("- {config: CONFIG, overrides: ['dynamics.temperature=[0.1, 0.2']}\n",
     "batch point 0: dynamics.temperature: the value '[0.1, 0.2' is not valid YAML"),
    ("- {config: CONFIG, overrides: [3]}\n", "batch point 0: override 3; expected a string section.key=value"),
    ("- {config: CONFIG}\n- {config: CONFIG}\n", "batch SPEC: two points write into 'uv_small'"),
    ("- {config: CONFIG, out: a, out: b}\n", "is not valid YAML (the key 'out' is given twice"),
])
def test_bad_batch_specs_are_one_line(capsys, tmp_path, spec, message):
    path = write_spec(tmp_path, spec.replace("CONFIG", str(SMALL)))
    assert message in one_line(capsys, "batch", path, "--out", tmp_path / "o")


def test_a_non_utf8_or_bomb_spec_is_one_line(capsys, tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(f"- {{config: {SMALL}}}  # é\n".encode("latin-1"))
    assert one_line(capsys, "batch", path, "--out", tmp_path / "o").startswith(f"batch SPEC '{path}' is not UTF-8 text")
    path.write_text(BOMB + f"points: [{{config: {SMALL}}}]\n")
    assert "more than 100000 entries" in one_line(capsys, "batch", path, "--out", tmp_path / "o")


def test_a_zero_byte_checkpoint_is_refused_in_one_line(tmp_path):
    (tmp_path / checkpoint.FILE).write_bytes(b"")
    with pytest.raises(checkpoint.CheckpointError, match="is corrupt or not a checkpoint .*; remove it to start afresh"):
        checkpoint.Checkpointer(tmp_path, {}).restore({"x": np.zeros(2)})


@pytest.mark.parametrize("command, pattern", [("run", "checkpoint.npz"), ("sweep", "checkpoint-0-0.npz")])
def test_resume_says_whether_it_found_a_checkpoint(capsys, tmp_path, monkeypatch, command, pattern):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(job, "run_and_write", interrupted)
    monkeypatch.setattr(sweep, "run", interrupted)
    out = tmp_path / "o"
    item = "dynamics.temperature=0.1,0.2" if command == "sweep" else "run.seed=1"
    argv = [command, str(SMALL), item, "--out", str(out), "--resume", "--quiet"]
    assert cli.main(argv) == 130
    assert capsys.readouterr().out == f"resume: no checkpoint in {out}; starting from step 0\n"
    out.mkdir()
    (out / pattern).write_bytes(b"")
    assert cli.main(argv) == 130
    assert capsys.readouterr().out == f"resume: continuing from {out / pattern}\n"


def test_stopped_on_a_signal_starts_its_own_line(capsys, tmp_path, monkeypatch):
    def stopped(*args, **kwargs):
        print("chain steps:  6%|▌  | 118100/2000100", end="", file=sys.stderr)  # a progress bar, mid-line
        raise checkpoint.Interrupted("SIGINT: saved a checkpoint at step 10")
    monkeypatch.setattr(job, "run_and_write", stopped)
    assert cli.main(["run", str(SMALL), "--out", str(tmp_path / "o")]) == 130
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "langevin-ib: stopped on SIGINT: saved a checkpoint at step 10", lines


def test_ctrl_c_during_the_exit_prints_no_traceback(tmp_path):
    """A Ctrl-C that lands while the process shuts down (atexit handlers, e.g. JAX's) after the command
    ended: before, 'Exception ignored in atexit callback ... KeyboardInterrupt'."""
    script = ("import atexit, os, signal, sys, time\n"
              "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(0.2)))\n"
              "from langevin_ib import cli\n"
              f"sys.argv = ['langevin-ib', 'run', {str(SMALL)!r}, 'run.chains=0', '--out', {str(tmp_path / 'o')!r}]\n"
              "sys.exit(cli.main())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "KeyboardInterrupt" not in done.stderr and "Exception ignored" not in done.stderr
    assert done.stderr.startswith("langevin-ib: error: run.chains: got 0"), done.stderr


def test_sweep_json_is_strict(tmp_path):
    """A diverged point's NaN statistics are null in sweep.json, as in summary.json (issue 31 case 17)."""
    content = {"axes": {"dynamics.step_size": [0.1, 1e6]},
               "points": [{"values": {"dynamics.step_size": 1e6}, "summary": {"z": float("nan"), "p": np.float32("inf")}}]}
    sweep_table.write(tmp_path, content, [{"point": 0, "z": float("nan")}], sweep_table.stack(content, [{"x": np.zeros(2)}]))

    def refuse(token):
        raise ValueError(f"non-strict JSON token {token}")
    written = json.loads((tmp_path / "sweep.json").read_text(), parse_constant=refuse)
    assert written["points"][0]["summary"]["z"] is None and written["points"][0]["summary"]["p"] is None


def test_the_slice_drift_at_zero_temperature_is_measured_against_the_gradient_term():
    """uv_sgd's model at T = 0 (gd/sgd): the drift on the slice is rounding (|b| ~ 1e-9) and must not read
    as 'pushes' (the old tolerance, 1e-4·T·tr G, is 0 at T = 0); a potential that does push, U + c·u,
    is still said to push."""
    experiment = config_lib.load(SGD)
    model = models.lookup("uv").build({"name": "uv", **experiment.model.fields})
    key = jax.random.key(0)
    on = geometry.project_to_slice(model.group, model.init(key))
    potential = model.potential(0.0)
    assert geometry.slice_stability(potential, model.group, on, 0.0, key)["label"] != "pushes"
    tilted = lambda p: potential(p) + 0.1 * jax.numpy.sum(p["u"])
    stability = geometry.slice_stability(tilted, model.group, on, 0.0, key)
    assert stability["label"] == "pushes" and math.isfinite(stability["scale"]) and stability["scale"] > 0


def test_the_sweep_reads_the_config_as_run_does(tmp_path):
    """sweep_grid.load goes through config.read: a missing file, a folder, the same messages as run."""
    for path, message in [(tmp_path / "none.yaml", "does not exist"), (tmp_path, "is a directory")]:
        with pytest.raises(ConfigError, match=message):
            sweep_grid.load(path, ["dynamics.temperature=0.1,0.2"])


def test_checking_optimizer_arguments_starts_no_jax_backend():
    """The trial steps are traced abstractly: after an SGD config is loaded the CLI can still ask for one CPU
    device per core (an eager trial step started the backend and pinned runs to one device)."""
    script = ("import os, warnings\n"
              "warnings.simplefilter('error')\n"
              "from langevin_ib.experiment import config\n"
              f"config.load({str(SGD)!r}, ['dynamics.optimizer=adam', 'dynamics.optimizer_args={{b1: 0.8}}'])\n"
              "from langevin_ib.dynamics import sharding\n"
              "sharding.use_all_cpu_cores()\n"
              "import jax\n"
              "assert jax.local_device_count() == (os.cpu_count() or 1), jax.local_device_count()\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "XLA_FLAGS"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**env, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
