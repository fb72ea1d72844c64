"""Command line: ``langevin-ib run [CONFIG] | sweep [CONFIG] | batch SPEC | predict CONFIG [--out DIR] [section.key=value ...]``."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from langevin_ib.experiment import config as config_lib
from langevin_ib.numerics import host_memory
from langevin_ib.base import ConfigError


def _hypothesis(name: str, result: dict, numbers: str) -> str:
    """One hypothesis' line: its numbers and verdict, or why it is untestable."""
    from langevin_ib.experiment import verdicts

    if verdicts.outcome(result) == "untestable":
        return f"  {name:<10} untestable: {verdicts.reason(result)}"
    return f"  {name:<10} {numbers}: {verdicts.outcome(result)}"


def _pearson_lines(test: str, fit: dict) -> list[str]:
    """A Rao–Scott Pearson test's header and one line per hypothesis."""
    lines = [f"{test}: {fit['description']}"]
    for hypothesis, r in fit["hypotheses"].items():
        lines.append(_hypothesis(hypothesis, r, f"X²/c = {r['statistic']:.1f} on {r['dof']:.1f} dof "
                                 f"(variance inflation {r['variance_inflation']:.2f}), z = {r['z']:.1f}, "
                                 f"p = {r['p_value']:.3g}"))
    return lines


def _verdicts(summary: dict) -> str:
    lines = [line for test, fit in summary["fits"].items() for line in _pearson_lines(test, fit)]
    drift = summary.get("chi_drift")
    if drift:
        lines.append(f"chi_drift: {drift['description']}; {drift['samples']} samples of {drift['chains']} chains "
                     f"({drift['below_resolution']} below float resolution left out)")
        for hypothesis, r in drift["hypotheses"].items():
            z = max((abs(v) for v in r["z"] if v == v), default=float("nan"))  # v == v: not NaN
            lines.append(_hypothesis(hypothesis, r, f"F = {r['statistic']:.4g} on ({r['dof']}, {r['denominator_dof']}) dof "
                                     f"(threshold {drift['threshold']:.2f}), max |z| = {z:.1f}, "
                                     f"p = {r['p_value']:.3g}"))
    if summary.get("stationary_law"):
        lines += _pearson_lines("stationary_law", summary["stationary_law"])
    return "\n".join(lines)


MESSAGE_LIMIT = 1000  # characters of an error line; the values in it are bounded too (fields.short)


def _error(message: object) -> None:
    """``langevin-ib: error: message`` on one line of stderr, at most :data:`MESSAGE_LIMIT` characters."""
    text = " ".join(str(message).split())
    print(f"langevin-ib: error: {text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + '...'}",
          file=sys.stderr)


def _checkpointed(fn, *args, progress: bool, **kwargs):
    """fn's result, or the exit status after one line: 130/143 stopped on a signal, 2 an unusable checkpoint.
    With ``progress`` the line starts on a new line, below the progress bar it interrupts."""
    from langevin_ib.dynamics import checkpoint

    try:
        return fn(*args, progress=progress, **kwargs)
    except checkpoint.Interrupted as stop:
        print(f"{chr(10) if progress else ''}langevin-ib: stopped on {stop}", file=sys.stderr)
        return 130 if str(stop).startswith("SIGINT") else 143
    except checkpoint.CheckpointError as err:
        _error(err)
        return 2


def _devices(distributed: bool, chains: list[int]) -> bool:
    """Join the processes of a multi-process run (``--distributed``, or a launcher that initialised
    jax.distributed) and use every CPU core, before any compile; a ConfigError if the devices do not
    divide ``chains``. Whether this process writes the outputs and reports (process 0)."""
    import jax

    from langevin_ib.dynamics import sharding

    if distributed:
        sharding.initialize_distributed()
    sharding.use_all_cpu_cores()
    for count in sorted(set(chains)):
        sharding.check_chains(count)
    return jax.process_index() == 0


def _resume_line(out: Path, pattern: str) -> str:
    """Whether ``--resume`` finds checkpoints (files ``pattern`` in ``out``) to continue from."""
    found = sorted(out.glob(pattern)) if out.is_dir() else []
    if found:
        return f"resume: continuing from {', '.join(str(p) for p in found[:3])}{' ...' if len(found) > 3 else ''}"
    return f"resume: no checkpoint in {out}; starting from step 0"


def cmd_run(args: argparse.Namespace) -> int:
    """Simulate the chains described by CONFIG, compare their histograms with every predicted density and write
    config.yaml, summary.json, histograms.npz and figures into --out."""
    config = None if args.config and "=" in args.config and not Path(args.config).is_file() else args.config
    if config is None and args.config is not None:  # an override in CONFIG's place: the default experiment
        args.overrides = [args.config, *args.overrides]
    from langevin_ib import api

    experiment = api.experiment(config, args.overrides)  # config errors are reported before any simulation
    from langevin_ib.experiment import plan
    from langevin_ib.dynamics import checkpoint

    writer = _devices(args.distributed, [experiment.run.chains])
    out = Path(args.out) if args.out else Path("runs") / (Path(config).stem if config else "default")
    if args.resume and writer:
        print(_resume_line(out, checkpoint.FILE.replace(".npz", "*.npz")))
    result = _checkpointed(api.run, experiment, out=out, progress=writer and not args.quiet, resume=args.resume,
                           log=print)  # every process: a launcher waits for the run's line
    if isinstance(result, int) or not writer:
        return result if isinstance(result, int) else 0
    summary = result.analysis.summary
    t = summary["timing"]
    print(f"wrote {out}/: " + " ".join(sorted(p.name for p in out.iterdir())))  # a fresh folder: this run's files
    print(f"{summary['sizes']['chains']} chains x {summary['sizes']['burn_in'] + summary['sizes']['steps']} steps "
          f"in {t['wall_seconds']:.1f} s (compile {t['compile_seconds']:.1f} s, "
          f"{t['chain_steps_per_second']:.3g} chain-steps/s); diverged: {summary['divergence']['diverged']}")
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    print(_verdicts(summary))
    if summary["stein"] and summary["stein"]["hypotheses"]:
        stein = summary["stein"]
        print(f"stein: level-set identities, {stein['chains']} chains x {stein['snapshots_per_chain']} snapshots"
              f" (left out: {stein['left_out']['diverged']} diverged, {stein['left_out']['non_finite']} non-finite;"
              f" non-finite snapshots: {stein['non_finite_snapshots']})")
        for name, r in stein["hypotheses"].items():
            z = max(r["z"].values(), key=abs)
            print(_hypothesis(name, r, f"T² = {r['t_squared']:.1f} on {r['rank']} dof, z = {z:.1f}, "
                                       f"p = {r['p_value']:.3g}"))
    for test, form in plan.FORMS.items():
        if summary[test]:
            pit = summary[test]
            print(f"{test}: PIT of {pit['samples']} values of the {form.variable.name} under their full conditionals "
                  f"{form.condition} (out of range: {pit['out_of_range']}; conditional undefined: {pit['undefined']}; "
                  f"left out: {pit['left_out']['diverged']} diverged, "
                  f"{pit['left_out']['non_finite']} non-finite)")
            for name, r in pit["hypotheses"].items():
                print(_hypothesis(name, r, f"X2/c = {r['statistic']:.1f} on {r['dof']:.1f} dof, z = {r['z']:.1f}, "
                                           f"p = {r['p_value']:.3g}"))
    print(f"conclusion: {summary['conclusion']}")
    return 0


STABILITY = {
    "attracts": "the dynamics pull chains onto the slice chi = 0",
    "repels": "the dynamics push chains away from the slice chi = 0",
    "pushes": "chi drifts even on the slice (non-zero drift at chi = 0)",
    "neutral": "none; chi is a martingale and the slice neither attracts nor repels",
}


def cmd_predict(args: argparse.Namespace) -> int:
    """Compute, by autodiff from the model's declared symmetry, the correction L_IB = (T/2) log det G_chi, the
    slice's stability under the Ito drift of chi and the predicted quotient densities, without simulating;
    writes prediction.json, prediction.npz and prediction.png into --out."""
    experiment = config_lib.load(args.config, args.overrides)
    from langevin_ib.experiment import predict
    from langevin_ib.geometry import checks as symmetry_checks

    out = Path(args.out) if args.out else Path("runs") / f"{Path(args.config).stem}-predict"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; expected a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--out {out}: cannot write there ({err.strerror or err}); expected a writable folder") from None
    try:
        summary = predict.predict(experiment, out)
    except symmetry_checks.SymmetryError as err:
        _error(err)
        return 2
    print(f"{summary['model']}: group dimension {summary['group_dimension']}, T = {summary['temperature']}")
    print(f"  L_IB = (T/2) log det G_chi = {summary['correction_at_reference']:.6g} at the reference slice point "
          f"(log det G_chi = {summary['log_det_breaking_gram']:.6g}, log det H = {summary['log_det_orbit_gram']:.6g})")
    print(f"  Ito drift of chi: {STABILITY[summary['slice']]}")
    if "implied_bias" in summary:
        bias = summary["implied_bias"]
        print(f"  implied bias on the signal: {bias['penalty']}; at the target {bias['log_penalty_at_target']:.6g} "
              f"({bias['nonzero_features_at_target']} of {bias['features']} features non-zero)")
    print(f"wrote {out}/: " + " ".join(sorted(p.name for p in out.iterdir())))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the grid of CONFIG's sweep: section and of the list- or range-valued overrides
    (dynamics.temperature=0.05,0.1 dynamics.step_size=logspace(-3,-2,3)) as one compiled program per shape;
    writes sweep.csv, sweep.json and histograms.npz into --out (docs/sweeps.md)."""
    from langevin_ib import api

    config = None if args.config and "=" in args.config and not Path(args.config).is_file() else args.config
    if config is None and args.config is not None:
        args.overrides = [args.config, *args.overrides]
    points = api.points(config, None, args.overrides)  # config errors are reported before any compile
    out = Path(args.out) if args.out else Path("runs") / ((Path(config).stem if config else "default") + "-sweep")
    executor = args.executor or ("slurm" if args.slurm else None)
    if (executor is None) != (args.jobs is None) or (args.slurm_option and executor is None):
        raise ConfigError("--jobs K goes with --slurm (a sweep split into K SLURM array tasks), and --slurm with --jobs")
    if executor:
        from langevin_ib.experiment import sweep_jobs

        sweep_jobs.check_jobs(args.jobs, points)
        parameters = sweep_jobs.slurm_parameters(args.slurm_option)
        try:
            content = sweep_jobs.run(points, out, args.jobs, executor, args.resume, parameters)
        except RuntimeError as err:  # failed tasks, each named, and where their logs are: not cut
            print(f"langevin-ib: error: {err}", file=sys.stderr)
            return 1
        writer = True
    else:
        writer = _devices(args.distributed, [p.experiment.run.chains for p in points])
        if args.resume and writer:
            print(_resume_line(out, "checkpoint-*.npz"))
        result = _checkpointed(api.sweep, points, out=out, progress=writer and not args.quiet, resume=args.resume,
                               log=print)  # every process: a launcher waits for the run's line
        if isinstance(result, int):
            return result
        content = result.swept.content
    if not writer:
        return 0
    t = content["timing"]
    print(f"wrote {out}/: " + " ".join(sorted(p.name for p in out.iterdir())))  # a fresh folder: this sweep's files
    print(f"{len(points)} points in {t['wall_seconds']:.1f} s (compile {t['compile_seconds']:.1f} s, "
          f"{t['chain_steps_per_second']:.3g} chain-steps/s)")
    for record in content["points"]:
        values = " ".join(f"{k.split('.')[-1]}={v:g}" for k, v in record["values"].items())
        print(f"  {values}: {record['summary']['conclusion']}")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    """Run every point of SPEC (a YAML list of {config, overrides, out} or a grid {configs, overrides: {key:
    [values]}}) into --out/<out>, skipping points already done, and write batch.csv and batch.json
    (docs/sweeps.md)."""
    from langevin_ib.experiment import batch

    spec = batch.load(args.spec)  # SPEC and config errors are reported before any compile
    out = Path(args.out) if args.out else Path("runs") / Path(args.spec).stem
    executor = args.executor or ("slurm" if args.slurm else None)
    if executor is None:
        from langevin_ib.dynamics import sharding

        sharding.use_all_cpu_cores()
    if args.resume:
        print(_resume_line(out, "checkpoint-*.npz"))
    try:
        content = _checkpointed(batch.run, spec, out, progress=not args.quiet, executor=executor, resume=args.resume)
    except RuntimeError as err:  # failed jobs, each named, and where their logs are: not cut
        print(f"langevin-ib: error: {err}", file=sys.stderr)
        return 1
    if isinstance(content, int):
        return content
    print(f"wrote {out}/: batch.csv batch.json and one folder per point")
    for record in content["points"]:
        print(f"  {record['name']}{' (done before)' if record['skipped'] else ''}: {record['summary']['conclusion']}")
    return 0


def _experiment_arguments(parser: argparse.ArgumentParser, config: str, overrides: str, out: str,
                          resume: str | None = None) -> None:
    """CONFIG and overrides, --out, and for a command that simulates (``resume`` given) --quiet and --resume;
    CONFIG is optional where the command has a default experiment."""
    parser.add_argument("config", nargs="?" if resume else None, help=config)
    parser.add_argument("overrides", nargs="*", metavar="section.key=value", help=overrides)
    parser.add_argument("--out", help=out)
    if resume:
        parser.add_argument("--quiet", action="store_true", help="no progress bar")
        parser.add_argument("--resume", action="store_true", help=resume)
        parser.add_argument("--distributed", action="store_true",
                            help="one of several processes sharing the chains (jax.distributed; under srun, or "
                                 "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID); process 0 writes")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="langevin-ib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate chains from a YAML config and test the predicted densities", description=cmd_run.__doc__)
    _experiment_arguments(run, "YAML config, e.g. configs/uv.yaml (default: the embedded u·v experiment of "
                               "configs/uv.yaml, written to runs/default)",
                          "override config entries, e.g. dynamics.temperature=0.2 run.chains=1000",
                          "output folder (default: runs/<config name>, runs/default without CONFIG)",
                          "continue from the checkpoint in --out (same config)")
    run.set_defaults(func=cmd_run)
    sweep = sub.add_parser("sweep", help="run a grid of temperatures, steps, weight decays or seeds as one program", description=cmd_sweep.__doc__)
    _experiment_arguments(sweep, "YAML config (default: the embedded u·v experiment)", "overrides and swept values",
                          "output folder (default: runs/<config name>-sweep)",
                          "continue from the checkpoints in --out (same grid)")
    sweep.add_argument("--slurm", action="store_true", help="split the grid's points into --jobs SLURM array tasks "
                                                            "(submitit), wait, and merge their tables")
    sweep.add_argument("--jobs", type=int, metavar="K", help="the number of array tasks of --slurm")
    sweep.add_argument("--slurm-option", action="append", default=[], metavar="KEY=VALUE",
                       help="a SLURM parameter of the tasks: partition, timeout_min, gpus_per_node, cpus_per_task, "
                            "mem_gb (repeatable)")
    sweep.add_argument("--executor", choices=("slurm", "local"), help=argparse.SUPPRESS)
    sweep.set_defaults(func=cmd_sweep)
    batch = sub.add_parser("batch", help="run the experiments of a SPEC file (models, integrators, grids) and "
                                         "collect one table", description=cmd_batch.__doc__)
    batch.add_argument("spec", help="YAML batch spec")
    batch.add_argument("--out", help="output folder (default: runs/<spec name>)")
    batch.add_argument("--slurm", action="store_true", help="submit each point as a SLURM job (submitit) and wait")
    batch.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out (a local batch's, or its jobs')")
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    batch.add_argument("--executor", choices=("slurm", "local"), help=argparse.SUPPRESS)
    batch.set_defaults(func=cmd_batch)
    predict = sub.add_parser("predict", help="print the implicit-bias correction and draw predicted densities", description=cmd_predict.__doc__)
    _experiment_arguments(predict, "YAML config, e.g. configs/uv.yaml", "override config entries",
                          "output folder (default: runs/<config name>-predict)")
    predict.set_defaults(func=cmd_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)  # overrides may come before or after --out
    stray = [e for e in extra if e.startswith("-") or "=" not in e]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        args.overrides = args.overrides + extra
    host_memory.release_large_buffers()
    try:
        return args.func(args)
    except ConfigError as err:
        _error(err)
        return 2
    except KeyboardInterrupt:  # the one place an interrupted run is handled
        print("langevin-ib: interrupted", file=sys.stderr)
        return 130
    finally:
        if argv is None:  # the process exits next: another Ctrl-C must not break its shutdown (atexit handlers)
            signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
