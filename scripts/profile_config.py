"""Where one run's wall goes: a config run as the CLI runs it, its time split by real timers into phases.

    python scripts/profile_config.py configs/uv_sgd.yaml
    python scripts/profile_config.py configs/uv_small.yaml run.chains=256 --json

Phases (seconds): ``startup`` (importing JAX and langevin_ib), ``compile`` (the run's compiled calls),
``stepping`` (the run's compiled calls with no snapshot statistic: a second run of the same config with
``analysis.snapshot_every=0``, its chunk statistics taken out; the run itself where it has no snapshot
statistic), ``snapshot_statistics`` (in-run Stein/PIT: the run's call time less the second run's),
``chunk_statistics`` (the chunk-boundary statistics — χ trace, SGD bands, recorded positions —
computed and gathered to the host between calls), the post-run ``analysis`` by test, ``figures``
(drawn and saved as png) and ``io`` (config.yaml, histograms.npz, summary.json), and ``other``, the rest of the wall (building the
model and plan, the memory estimate, the burn-in check, the run's host loop). The split of the
snapshot statistics by kind times each planned statistic alone over the run's final positions, as the
kernel maps it, times the run's snapshots (``by_kind``; a measured rate, not the fused in-run cost).
Each analysis phase is the wall of the named function during the run (a timer wrapped around it):
``fits`` (histogram comparisons), ``snapshot_tests`` (Stein/PIT scores), ``chi_drift``,
``local_temperature``, ``noise_equilibrium``, ``sgd_chain_law`` (u·v's stationary law on the slice,
chain law included), ``readout``, ``stationarity``; ``other`` is the rest of the analysis.
``wall`` is the process's wall up to the written outputs (startup included, the second run not);
``ratio`` = (wall − startup) / (compile + stepping), the issue-33 target is ≤ 1.5. ``cpu`` is the
process's user + system seconds up to the same point (in the JSON only; under load, the figure that
still compares).

Prints a markdown table (header and one row); ``--json`` prints the same numbers as JSON after it.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ANALYSIS = (("fits", "comparisons_lib", "build"), ("fits", "comparisons_lib", "fit_all"),
            ("snapshot_tests", "plan", "tests"), ("chi_drift", "sgd_tests", "drift_test"),
            ("local_temperature", "sgd_per_chain", "local_temperature"),
            ("noise_equilibrium", "sgd_per_chain", "noise_equilibria"),
            ("sgd_chain_law", "sgd_stationary", "uv_slice_law"), ("readout", "paper_metrics", "readout"),
            ("stationarity", "window", "stationarity"))  # (phase, module, function) timed inside job.analyse
PHASES = ("startup", "compile", "stepping", "snapshot_statistics", "chunk_statistics", "analysis", "figures", "io",
          "other")


class Timers:
    """Seconds per phase, accumulated by wrapped functions (:meth:`wrap`)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.returned: dict[str, object] = {}  # the last value each phase's function returned

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    @contextlib.contextmanager
    def wrap(self, module, name: str, phase: str, when=lambda: True, block: bool = False):
        """``module.name`` replaced, inside the block, by itself timed into ``phase`` (calls for which
        ``when()``); with ``block``, the timer waits for the arrays it returns to be computed."""
        original = getattr(module, name)
        finish = jax_ready if block else (lambda value: value)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if not when():
                return original(*args, **kwargs)
            t0 = time.perf_counter()
            try:
                self.returned[phase] = finish(original(*args, **kwargs))
                return self.returned[phase]
            finally:
                self.add(phase, time.perf_counter() - t0)

        setattr(module, name, timed)
        try:
            yield
        finally:
            setattr(module, name, original)


def jax_ready(value):
    import jax

    return jax.block_until_ready(value)


def called_from(name: str) -> bool:
    """Whether the function two frames up (the caller of the wrapped function) is ``name``."""
    return sys._getframe(3).f_code.co_name == name


def by_kind(experiment, model, result) -> dict[str, float]:
    """Seconds per planned snapshot statistic: one evaluation over all chains' final positions (median
    of 3, compiled beforehand), as the kernel maps it, times the run's snapshots."""
    import jax
    import jax.numpy as jnp

    from langevin_ib.dynamics import kernel as kernel_lib
    from langevin_ib.experiment import job, plan

    position = build_position(experiment, model, result)
    out = {}
    for name, (fn, _) in plan.statistics(experiment, model).items():
        kernel = kernel_lib.build(model, job.build_integrator(experiment, model), job.sizes_of(experiment),
                                  dict(experiment.observables), (fn,))
        call = jax.jit(lambda p, kernel=kernel: kernel_lib.statistics_at(kernel, kernel_lib.keys(0).statistics, p,
                                                                         jnp.int32(0)))
        jax.block_until_ready(call(position))
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            jax.block_until_ready(call(position))
            times.append(time.perf_counter() - t0)
        out[name] = sorted(times)[1] * result.statistic_snapshots
    return out


def build_position(experiment, model, result):
    """The run's final positions, placed as the run's chains are (split over the devices)."""
    import jax

    from langevin_ib.dynamics import sharding
    from langevin_ib.experiment import job

    position = job.build_integrator(experiment, model).position(result.final_state.integrator)
    return jax.device_put(position, sharding.chain_shardings(experiment.run.chains)[0])


def stepping_run(experiment) -> tuple[float, float, float]:
    """(compile, run, chunk-statistics) seconds of ``experiment`` simulated without snapshot statistics."""
    import dataclasses

    from langevin_ib.dynamics import sharding
    from langevin_ib.experiment import job

    plain = dataclasses.replace(experiment, analysis=dataclasses.replace(experiment.analysis, snapshot_every=0))
    timers = Timers()
    with job.precision(plain), timers.wrap(sharding, "gathered", "chunk", lambda: called_from("record"), block=True):
        planned, model = job.prepare(plain)
        result = job.simulate_model(planned, model, progress=False)
    return result.compile_seconds, result.run_seconds, timers.seconds.get("chunk", 0.0)


def profile(config: str, overrides: list[str], imported: float, out: str | None = None) -> dict:
    """The phases of one run of ``config`` with ``overrides`` (module docstring), its outputs written
    into ``out``/run (a temporary folder by default)."""
    from langevin_ib import api
    from langevin_ib.dynamics import sharding
    from langevin_ib.experiment import (comparisons as comparisons_lib, job, output, paper_metrics, plan, sgd_stationary,
                                        sgd_tests, window)
    from langevin_ib.predictions import sgd_per_chain

    experiment = api.experiment(config, overrides)
    modules = {"comparisons_lib": comparisons_lib, "plan": plan, "sgd_tests": sgd_tests, "sgd_per_chain": sgd_per_chain,
               "sgd_stationary": sgd_stationary, "paper_metrics": paper_metrics, "window": window}
    timers = Timers()
    with contextlib.ExitStack() as stack:
        for phase, module, name in ANALYSIS:
            stack.enter_context(timers.wrap(modules[module], name, phase))
        for module, name, phase in ((job, "analyse", "analysis"), (job, "figures", "figures"),
                                    (output, "save_figures", "figures"), (job, "write_outputs", "outputs")):
            stack.enter_context(timers.wrap(module, name, phase))
        stack.enter_context(timers.wrap(sharding, "gathered", "chunk_statistics", lambda: called_from("record"),
                                         block=True))
        with tempfile.TemporaryDirectory() as folder:
            job.run_and_write(experiment, Path(out or folder) / "run", progress=False, log=None)
    wall = time.perf_counter() - STARTED
    cpu = sum(os.times()[:2])  # user + system seconds of the process up to the written outputs
    analysed = timers.returned["analysis"]
    result, planned, model = analysed.result, analysed.experiment, analysed.model
    seconds = timers.seconds
    chunk = seconds.get("chunk_statistics", 0.0)
    with job.precision(planned):
        kinds = by_kind(planned, model, result) if result.statistic_snapshots else {}
    if kinds:
        compile_plain, run_plain, chunk_plain = stepping_run(planned)
        stepping = run_plain - chunk_plain
    else:
        stepping = result.run_seconds - chunk
    tests = {phase: seconds.get(phase, 0.0) for phase in dict.fromkeys(p for p, _, _ in ANALYSIS)}
    tests["other"] = seconds["analysis"] - sum(tests.values())
    phases = {"startup": imported, "compile": result.compile_seconds, "stepping": stepping,
              "snapshot_statistics": result.run_seconds - chunk - stepping, "chunk_statistics": chunk,
              "analysis": seconds["analysis"], "figures": seconds.get("figures", 0.0),
              "io": seconds["outputs"] - seconds.get("figures", 0.0)}
    phases["other"] = wall - sum(phases.values())
    return {"config": config, "overrides": overrides, "chain_steps": result.chain_steps, "wall": wall,
            "phases": phases, "snapshot_statistics_by_kind": kinds, "analysis_by_test": tests,
            "snapshots_per_chain": result.statistic_snapshots,
            "ratio": (wall - imported) / (result.compile_seconds + stepping),
            "cpu": cpu, "load": os.getloadavg(), "cores": os.cpu_count()}


def table(profiled: dict) -> str:
    """A markdown header and one row of ``profiled``."""
    phases, tests = profiled["phases"], {k: v for k, v in profiled["analysis_by_test"].items() if v >= 0.05}
    kinds = ", ".join(f"{k} {v:.1f}" for k, v in profiled["snapshot_statistics_by_kind"].items()) or "–"
    header = ["config", "chain-steps", "wall s", *(f"{p} s" for p in PHASES), "snapshot statistics by kind s",
              "analysis by test s", "wall/(compile+stepping)", "load"]
    name = " ".join([Path(profiled["config"]).name, *profiled["overrides"]])
    row = [name, f"{profiled['chain_steps']:.2g}", f"{profiled['wall']:.1f}", *(f"{phases[p]:.1f}" for p in PHASES),
           kinds, ", ".join(f"{k} {v:.1f}" for k, v in tests.items()) or "–", f"{profiled['ratio']:.2f}",
           f"{profiled['load'][0]:.1f}"]
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header), "| " + " | ".join(row) + " |"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("overrides", nargs="*", help="key=value, as the CLI's run takes them")
    parser.add_argument("--json", action="store_true", help="also print the numbers as JSON")
    parser.add_argument("--out", help="keep the run's outputs in OUT/run (default: a temporary folder)")
    args = parser.parse_args(argv)
    from langevin_ib.dynamics import sharding

    sharding.use_all_cpu_cores()
    import jax  # noqa: F401

    import langevin_ib.api  # noqa: F401
    imported = time.perf_counter() - STARTED
    profiled = profile(args.config, args.overrides, imported, args.out)
    print(table(profiled))
    if args.json:
        print(json.dumps(profiled))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
