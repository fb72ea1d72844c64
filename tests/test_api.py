"""The Python API (langevin_ib/api.py): one call per run or sweep, the CLI's checks and files, and no
global JAX flag changed by importing or running."""

import csv
import json
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import langevin_ib as lib
from langevin_ib import api, cli
from langevin_ib.experiment import output, verdicts
from langevin_ib.experiment.sweep_grid import load as load_grid

ROOT = Path(__file__).resolve().parents[1]
UV = str(ROOT / "configs" / "uv.yaml")
TINY = {"run.chains": 64, "run.chain_groups": 8, "run.burn_in": 0, "run.steps": 200, "run.chunk_steps": 100,
        "analysis.snapshot_every": 0}  # the level-set test alone: cheap to compile


def test_overrides_as_a_mapping_or_the_clis_strings_give_one_experiment():
    from_mapping = api.experiment(UV, {"run.chains": 256, "dynamics.temperature": 0.2})
    from_strings = api.experiment(UV, ["run.chains=256", "dynamics.temperature=0.2"])
    assert from_mapping == from_strings and from_mapping.run.chains == 256
    assert api.experiment(from_mapping.to_dict()) == from_mapping == api.experiment(from_mapping)
    assert api.experiment(None) == api.experiment(UV)  # the embedded default is configs/uv.yaml


def test_a_grid_as_a_mapping_or_the_clis_strings_gives_one_sweep():
    steps = ["run.burn_in=5000", "run.steps=2000", "run.thin=10"]  # logspace η: no whole steps of uv.yaml's times
    mapping = api.points(UV, {"dynamics.temperature": [0.05, 0.1], "dynamics.step_size": np.logspace(-3, -2, 3)},
                         {"run.chains": 256, **{k: int(v) for k, v in (s.split("=") for s in steps)}})
    strings = api.points(UV, ["dynamics.temperature=0.05,0.1", "dynamics.step_size=logspace(-3,-2,3)"],
                         ["run.chains=256", *steps])
    cli_points = load_grid(UV, ["dynamics.temperature=[0.05, 0.1]", "dynamics.step_size=logspace(-3,-2,3)",
                                "run.chains=256", *steps])[2]
    assert len(mapping) == 6
    assert [(p.values, p.experiment) for p in mapping] == [(p.values, p.experiment) for p in strings] \
        == [(p.values, p.experiment) for p in cli_points]


def _cli_error(capsys, argv) -> str:
    assert cli.main(argv) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("langevin-ib: error: ") and "\n" not in line
    return line.removeprefix("langevin-ib: error: ")


@pytest.mark.parametrize("call, argv", [
    (lambda: lib.run(UV, {"run.chains": 0}), ["run", UV, "run.chains=0"]),
    (lambda: lib.run(UV, ["dynamics.integrator=nope"]), ["run", UV, "dynamics.integrator=nope"]),
    (lambda: lib.run(UV + ".missing"), ["run", UV + ".missing"]),
    (lambda: lib.sweep(UV, ["dynamics.temperature=0.1,-1"]), ["sweep", UV, "dynamics.temperature=0.1,-1"]),
    (lambda: lib.sweep(UV, {"run.thin": [1, 2]}), ["sweep", UV, "run.thin=1,2"]),
    (lambda: lib.sweep(UV, None, ["dynamics.temperature=0.3", "dynamics.temperature=0.1,0.2"]),
     ["sweep", UV, "dynamics.temperature=0.3", "dynamics.temperature=0.1,0.2"]),
], ids=["run-field", "run-choice", "run-missing-file", "sweep-value", "sweep-key", "sweep-and-set"])
def test_bad_input_raises_the_line_the_cli_prints(call, argv, capsys):
    """Before any compile: lib raises ConfigError, the CLI prints the same message and exits 2."""
    with pytest.raises(lib.ConfigError) as raised:
        call()
    assert str(raised.value) == _cli_error(capsys, argv)


def test_a_bad_grid_value_names_its_key_and_the_values_given():
    with pytest.raises(lib.ConfigError, match=r"^sweep dynamics.temperature: -1.0 in \[0.1, -1\]; every value must "
                                              "be positive$"):
        lib.sweep(UV, {"dynamics.temperature": [0.1, -1]})


def test_a_config_of_the_wrong_type_is_one_clear_line():
    with pytest.raises(lib.ConfigError, match="^config: got a int; expected a YAML path"):
        lib.run(42)
    with pytest.raises(lib.ConfigError, match="^overrides: got .*expected a mapping of dotted keys"):
        lib.run(UV, 3)
    with pytest.raises(lib.ConfigError, match="^grid 'dynamics.temperature'.*expected key=values"):
        lib.sweep(UV, ["dynamics.temperature"])


@pytest.mark.slow  # a fresh process imports JAX: ~10 s on a busy 2-core machine
def test_importing_the_api_changes_no_jax_flag():
    """In a fresh process with 64-bit on, importing langevin_ib and its API leaves it on."""
    script = ("import jax; jax.config.update('jax_enable_x64', True)\n"
              "import langevin_ib as lib; lib.run; import langevin_ib.cli\n"
              "print(jax.config.jax_enable_x64)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


@pytest.fixture(scope="module")
def runs():
    """configs/uv.yaml at 64 chains, in float32 with the global 64-bit flag on and in float64 with it
    off: each run must leave the flag as it found it."""
    found = jax.config.jax_enable_x64
    try:
        jax.config.update("jax_enable_x64", True)
        single = lib.run(UV, TINY)
        assert jax.config.jax_enable_x64 is True
        jax.config.update("jax_enable_x64", False)
        double = lib.run(UV, {**TINY, "run.dtype": "float64"})
        assert jax.config.jax_enable_x64 is False
    finally:
        jax.config.update("jax_enable_x64", found)
    return single, double


@pytest.mark.slow
def test_a_run_computes_in_its_dtype_and_leaves_the_flag(runs):
    single, double = runs
    dtypes = [{leaf.dtype for leaf in jax.tree_util.tree_leaves(r.run.final_state.integrator)} for r in runs]
    assert dtypes == [{np.dtype("float32")}, {np.dtype("float64")}]
    assert not np.array_equal(single.histograms["theta_moments"], double.histograms["theta_moments"])


@pytest.mark.slow
def test_a_result_saves_the_files_the_cli_writes(runs, tmp_path):
    result = runs[0]
    folder = result.save(tmp_path / "run")
    figures = result.figures()
    assert {"density", "chi"} <= set(figures)
    assert {p.name for p in folder.iterdir()} == {"config.yaml", "summary.json", "histograms.npz",
                                                  *(f"{name}.png" for name in figures)}
    assert json.loads((folder / "summary.json").read_text()) == result.summary
    with np.load(folder / "histograms.npz") as saved:
        assert set(saved) == set(result.histograms)
        for name, array in result.histograms.items():
            np.testing.assert_array_equal(saved[name], array, err_msg=name)
    assert api.experiment(str(folder / "config.yaml")) == api.experiment(UV, TINY)
    table = {(r["test"], r["hypothesis"]): r["verdict"] for r in result.verdicts}
    assert table == {(t, h): o for t, hs in verdicts.outcomes(result.analysis.summary).items() for h, o in hs.items()}
    assert table and result.conclusion == verdicts.conclusion(result.analysis.summary)
    with pytest.raises(output.OutputError, match="not an earlier run's output"):  # one writer, its checks
        (tmp_path / "sweep").mkdir()
        (tmp_path / "sweep" / "sweep.json").write_text("{}")
        result.save(tmp_path / "sweep")


@pytest.mark.slow
def test_a_sweep_result_is_its_files(tmp_path):
    """Two temperatures of the tiny run: the table is sweep.csv's rows, the summary sweep.json."""
    swept = lib.sweep(UV, ["dynamics.temperature=0.05,0.2"], TINY)
    folder = swept.save(tmp_path / "sweep")
    with open(folder / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    columns = swept.table.columns()
    assert rows == [{c: str(row.get(c, "")) for c in columns} for row in swept.table]
    assert {r["point"] for r in rows} == {"0", "1"}
    assert json.loads((folder / "sweep.json").read_text()) == swept.summary
    assert {f"{name}.png" for name in swept.figures()} <= {p.name for p in folder.iterdir()}
    assert swept.histograms["theta_counts"].shape[0] == 2
    try:
        import pandas  # noqa: F401  not a dependency
    except ImportError:
        with pytest.raises(ImportError, match="needs pandas"):
            swept.table.to_pandas()
    else:
        assert len(swept.table.to_pandas()) == len(rows)


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "README.md has one Python block: the notebook example"
    return blocks[0]


def test_the_readme_example_is_examples_notebook():
    assert _readme_example() == (ROOT / "examples" / "notebook.py").read_text()
    assert len(_readme_example().strip().splitlines()) <= 12


@pytest.mark.slow
def test_the_readme_example_runs_as_printed(tmp_path, monkeypatch, capsys):
    (tmp_path / "configs").mkdir()
    shutil.copy(UV, tmp_path / "configs" / "uv.yaml")
    monkeypatch.chdir(tmp_path)
    found = jax.config.jax_enable_x64
    runpy.run_path(str(ROOT / "examples" / "notebook.py"), run_name="__main__")
    assert jax.config.jax_enable_x64 == found
    printed = capsys.readouterr().out
    assert "test" in printed and "hypothesis" in printed and "verdict" in printed
    assert {"summary.json", "density.png"} <= {p.name for p in (tmp_path / "runs" / "notebook").iterdir()}
