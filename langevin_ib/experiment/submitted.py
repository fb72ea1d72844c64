"""Waiting for submitit jobs (a batch's points, a split sweep's array tasks): each job's result, and
one RuntimeError naming every failed job and where its log is."""

from __future__ import annotations

from pathlib import Path


def wait(jobs: list, names: list[str], logs: Path, rerun: str = "") -> None:
    """Wait for every submitit job of ``jobs`` (named ``names``); a RuntimeError that names each failed
    one with its job id and the last line of its error, then where the logs are (``rerun``: a hint)."""
    failed = []
    for name, job in zip(names, jobs):
        try:
            job.result()
        except Exception as err:  # the job's traceback is in its submitit log
            failed.append(f"{name} (job {job.job_id}: {str(err).strip().splitlines()[-1]})")
    if failed:
        raise RuntimeError(f"{len(failed)} job(s) failed: " + "; ".join(failed) + f"; logs in {logs}" + rerun)
