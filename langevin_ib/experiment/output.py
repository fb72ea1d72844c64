"""Output folders of runs, sweeps and batches: checked before anything is compiled, written into a
hidden staging sibling ``.<name>.partial-<pid>-<ns>/`` and renamed over the folder only once every file
is in it, so a folder never mixes two outputs, a kill or a full disk leaves the earlier folder (and its
checkpoints) as it was, and a staging folder of a dead process is removed by the next writer.

A folder may be replaced only by output of its own kind (:data:`KINDS`): a run never replaces a sweep's
checkpoints, nor a sweep a run's. A batch folder is not replaced but grows point by point, each point
staged in the batch folder. Write errors (disk full, read-only) become :class:`OutputError`, one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable, NamedTuple

from langevin_ib.base import ConfigError


class OutputError(ConfigError):
    """--out cannot receive this output; the message names the folder and why."""


class Kind(NamedTuple):
    """The files (and folders) an output kind writes, and those that show a folder is one of its."""

    files: re.Pattern
    signature: re.Pattern


_PNG = r"[^/]+\.png"
_PROCESS = r"(\.p\d+of\d+)?"  # one process's checkpoint of a multi-process run (dynamics/checkpoint.py)
KINDS = {
    "run": Kind(re.compile(rf"config\.yaml|summary\.json|histograms\.npz|{_PNG}|checkpoint{_PROCESS}(\.tmp)?\.npz"),
                re.compile(rf"config\.yaml|checkpoint{_PROCESS}(\.tmp)?\.npz")),
    "sweep": Kind(re.compile(rf"sweep\.json|sweep\.csv|histograms\.npz|{_PNG}|checkpoint-\d+-\d+{_PROCESS}(\.tmp)?\.npz|tasks"),
                  re.compile(rf"sweep\.json|sweep\.csv|checkpoint-\d+-\d+{_PROCESS}(\.tmp)?\.npz|tasks")),
    "batch": Kind(re.compile(r"batch\.json|batch\.csv|bias\.png|checkpoint-\d+(\.tmp)?\.npz|submitit"),
                  re.compile(r"batch\.json|batch\.csv|checkpoint-\d+(\.tmp)?\.npz|submitit")),
}
FOLDERS = ("submitit", "tasks")  # a batch's job logs; a split sweep's tasks (experiment/sweep_jobs.py)
_PARTIAL = re.compile(r"\.(?P<name>.+)\.(partial|replaced)-(?P<pid>\d+)-\d+(\.\w+)?")
WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(folder: Path, name: str | None = None) -> None:
    """Remove the staging folders and partial files in ``folder`` (of output ``name``, or any) whose
    writing process is dead: a ``kill -9`` leaves them."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        match = _PARTIAL.fullmatch(entry.name)
        if match and (name is None or match["name"] == name) and not _alive(int(match["pid"])):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)


def _short(names: Iterable[str]) -> list[str]:
    return [n if len(n) <= 60 else n[:57] + "..." for n in list(names)[:3]]


def _own(entry: Path, kind: str, points: frozenset[str]) -> bool:
    """Whether ``entry`` of a folder is output of ``kind`` (for a batch: of one of its ``points``)."""
    if _PARTIAL.fullmatch(entry.name):
        return True
    if kind == "batch" and entry.name in points:
        return entry.is_dir() and _holds(entry, "run", frozenset())
    return bool(KINDS[kind].files.fullmatch(entry.name)) and (entry.is_file() or entry.name in FOLDERS)


def _holds(folder: Path, kind: str, points: frozenset[str]) -> bool:
    """Whether ``folder`` is empty or holds only output of ``kind``."""
    return all(_own(entry, kind, points) for entry in folder.iterdir())


def check(out: Path, kind: str, points: Iterable[str] = ()) -> None:
    """OutputError unless ``out`` is new, empty or an earlier output of ``kind`` (a batch's: of the
    same ``points``); nothing is written."""
    what = {"run": "an earlier run's, which is replaced", "sweep": "an earlier sweep's, which is replaced",
            "batch": "an earlier batch of these points, whose finished points are kept"}[kind]
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out}: is a file; expected a folder (new, or {what})")
    if not out.is_dir():
        return
    points = frozenset(points)
    entries = [e for e in out.iterdir() if not _PARTIAL.fullmatch(e.name)]
    foreign = [e.name for e in entries if not _own(e, kind, points)]
    signed = kind == "batch" or any(KINDS[kind].signature.fullmatch(e.name) for e in entries)
    if foreign or (entries and not signed):
        other = next((k for k in KINDS if k != kind and any(KINDS[k].signature.fullmatch(e.name) for e in entries)), None)
        holds = f"a {other}'s output" if other else "other files"
        raise OutputError(f"--out {out}: is a folder that is not an earlier {kind}'s output (it holds {holds}: "
                          f"{_short(foreign or [e.name for e in entries])}); expected a new folder or {what}")


def _writable(error: OSError, out: Path) -> OutputError:
    return OutputError(f"--out {out}: cannot write there ({error.strerror or error}); expected a writable folder "
                       "with free space")


def stage(out: Path, kind: str) -> Path:
    """A new, empty staging sibling of ``out`` after :func:`check` and the removal of stale ones."""
    check(out, kind)
    parent = out.absolute().parent
    remove_stale(parent, out.name)
    staging = parent / f".{out.absolute().name}.partial-{os.getpid()}-{time.time_ns()}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as err:
        raise _writable(err, out) from None
    return staging


def replace(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``; an earlier folder there is first moved aside, then removed."""
    aside = staging.with_name(staging.name.replace(".partial-", ".replaced-"))
    if out.exists():
        os.replace(out, aside)
    os.replace(staging, out)
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def translated(out: Path):
    """Write errors (disk full, read-only, quota) inside the block become one :class:`OutputError`."""
    try:
        yield
    except OSError as err:
        if err.errno in WRITE_ERRORS:
            raise _writable(err, out) from None
        raise


@contextlib.contextmanager
def staged(out: Path, kind: str):
    """Yield a staging folder for ``out`` (:func:`stage`) that replaces ``out`` when the block ends, and
    is removed if it raises (write errors as :class:`OutputError`). Of a multi-process run only process
    0 writes: the others get a scratch folder that is discarded."""
    import jax

    if jax.process_index() != 0:
        with tempfile.TemporaryDirectory() as scratch:
            yield Path(scratch)
        return
    staging = stage(out, kind)
    try:
        with translated(out):
            yield staging
            replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def batch_folder(out: Path, points: Iterable[str]) -> None:
    """Check ``out`` for a batch of ``points`` (:func:`check`), remove stale partials and create it."""
    check(out, "batch", points)
    remove_stale(out.absolute().parent, out.name)
    remove_stale(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".probe.partial-{os.getpid()}-{time.time_ns()}"
        probe.mkdir()  # writable, before any compile
        probe.rmdir()
    except OSError as err:
        raise _writable(err, out) from None


@contextlib.contextmanager
def partial_file(path: Path):
    """Yield a hidden sibling of ``path`` (same suffix) that replaces ``path`` when the block ends (if
    the block wrote it), and is removed if it raises."""
    partial = path.with_name(f".{path.stem}.partial-{os.getpid()}-{time.time_ns()}{path.suffix}")
    try:
        yield partial
        if partial.exists():
            os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def save_figures(out: Path, figures: dict) -> list[str]:
    """Save each matplotlib Figure of ``figures`` (name -> Figure) as ``out/<name>.png`` at its own dpi;
    returns the file names."""
    names = []
    for name, figure in figures.items():
        figure.savefig(out / f"{name}.png", dpi=figure.dpi)
        names.append(f"{name}.png")
    return names
