"""Checkpoints of a run at chunk boundaries, and resume.

A checkpoint holds everything the host loop carries between chunks: the chain states, the
accumulators, the per-chain statistic sums, the chunk-statistics records and the step; the keys
are derived from the seed and the step, so no PRNG state is saved. It is one .npz of the flattened
pytree (arrays gathered to the host, so sharded arrays are saved whole and re-split on load) with a
JSON header: the resolved config, the tree structure, every leaf's shape and dtype and a SHA-256 of
the leaves. It is written to a temporary file and renamed, so a kill at any moment leaves the last
good checkpoint in place. A checkpoint whose config differs from the run's is refused naming the
keys that differ; one whose hash, structure or shapes do not match is refused as corrupt or foreign.

SIGINT and SIGTERM, while :meth:`Checkpointer.signals` is active, ask the loop to save at the next
chunk boundary, or the next call boundary inside a chunk split for latency, and stop with :class:`Interrupted`.

Under several processes (:mod:`langevin_ib.dynamics.sharding`) each saves the chains of its own
devices into its own file, ``checkpoint.p<i>of<n>.npz``, and restores it; the processes agree on
when to save and stop (a signal to any one stops all at the same step), and a resume refuses
checkpoints of another process count or of different steps.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import time
import zipfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from langevin_ib.dynamics import sharding

FILE = "checkpoint.npz"
UNCHECKED = ("run.checkpoint_every_seconds", "run.checkpoint_every_chunks")  # may change between resumes


class CheckpointError(Exception):
    """A checkpoint that cannot be resumed (other config, corrupt, foreign); the message says why."""


class Interrupted(Exception):
    """The run stopped on a signal after saving a checkpoint."""


def flat(config: dict, prefix: str = "") -> dict:
    """A nested config as section.key -> value."""
    out = {}
    for k, v in config.items():
        out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _is_key(leaf) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _shards(leaf: jax.Array) -> list:
    """The shards of ``leaf`` on this process's devices, by device id."""
    return sorted(leaf.addressable_shards, key=lambda shard: shard.device.id)


def _to_numpy(leaf) -> np.ndarray:
    """This process's part of ``leaf``: the whole array, or its local shards stacked when other
    processes hold the rest."""
    if _is_key(leaf):
        leaf = jax.random.key_data(leaf)
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        return np.stack([np.asarray(shard.data) for shard in _shards(leaf)])
    return np.asarray(leaf)


def _placed(array: np.ndarray, like):
    """``array`` (as :func:`_to_numpy` of ``like`` gave it) shaped and placed as ``like``."""
    if _is_key(like):
        return jax.random.wrap_key_data(array, impl=jax.random.key_impl(like))
    if not isinstance(like, jax.Array):
        return array
    if like.is_fully_addressable:
        return jax.device_put(array, like.sharding)
    return jax.make_array_from_single_device_arrays(
        like.shape, like.sharding, [jax.device_put(a, shard.device) for a, shard in zip(array, _shards(like))])


def _file(folder: Path, name: str) -> Path:
    """``folder/name``, or this process's own file ``<stem>.p<i>of<n>.npz`` under several processes."""
    if jax.process_count() == 1:
        return Path(folder) / name
    return Path(folder) / f"{Path(name).stem}.p{jax.process_index()}of{jax.process_count()}.npz"


def _digest(leaves: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for leaf in leaves:
        h.update(str((leaf.shape, leaf.dtype.str)).encode())
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()


class Checkpointer:
    """Saves ``(step, carry)`` of a run into ``folder`` every ``every_chunks`` chunks or ``every_seconds``
    seconds (0 disables either), and on a signal, into ``folder/name``."""

    def __init__(self, folder: Path, config: dict, every_seconds: float = 60.0, every_chunks: int = 0, name: str = FILE):
        self.path = _file(folder, name)
        self.name = name
        self.config = {k: v for k, v in flat(config).items() if k not in UNCHECKED}
        self.every_seconds, self.every_chunks = every_seconds, every_chunks
        self.last_save, self.chunks, self.stop = time.monotonic(), 0, None

    def save(self, step: int, carry: Any, records: Any = ()) -> None:
        """``carry`` (fixed shapes, checked on restore) and ``records`` (growing along their leading axis)."""
        leaves, treedef = jax.tree.flatten(carry)
        record_leaves, record_treedef = jax.tree.flatten(records)
        arrays = [_to_numpy(leaf) for leaf in leaves]
        arrays_r = [np.asarray(leaf) for leaf in record_leaves]
        header = {"config": self.config, "step": step, "processes": jax.process_count(), "treedef": str(treedef), "records": str(record_treedef),
                  "digest": _digest(arrays + arrays_r), "leaves": [[list(a.shape), a.dtype.str] for a in arrays],
                  "record_leaves": len(arrays_r)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp.npz")
        try:
            with open(temporary, "wb") as f:
                np.savez(f, header=np.asarray(json.dumps(header)), **{f"leaf{i}": a for i, a in enumerate(arrays + arrays_r)})
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)
        except BaseException:  # a full disk or a kill signal: no partial file, the last good checkpoint kept
            temporary.unlink(missing_ok=True)
            raise
        self.last_save = time.monotonic()

    def boundary(self, step: int, carry: Any, records: Any = (), where: str = "") -> None:
        """Called after every chunk: save when due, and stop with :class:`Interrupted` after a signal.
        ``step``: the loop's position (blocks of the grid); ``where``: the steps it means, for the message."""
        self.chunks += 1
        due = ((self.every_chunks and self.chunks % self.every_chunks == 0)
               or (self.every_seconds and time.monotonic() - self.last_save >= self.every_seconds))
        self._act(step, carry, records, bool(due), where)

    def between(self, step: int, carry: Any, records: Any = (), where: str = "") -> None:
        """Called between the calls of a chunk split for signal latency: after a signal (to any process),
        save and stop with :class:`Interrupted`."""
        self._act(step, carry, records, False, where)

    def _act(self, step: int, carry: Any, records: Any, due: bool, where: str) -> None:
        """Save if ``due`` on any process or after a signal to any, and then stop with :class:`Interrupted`."""
        due, stop = sharding.agreed_max([due, self.stop is not None])
        if due or stop:
            self.save(step, carry, records)
        if stop:
            raise Interrupted(f"{self.stop or 'SIGTERM to another process'}: saved a checkpoint at {where or f'step {step}'} "
                              f"in {self.path}; continue with the same command and --resume")

    def restore(self, like: Any, records_like: Any = ()) -> tuple[int, Any, Any] | None:
        """(step, carry, records) of the saved checkpoint, the carry's leaves shaped and placed as ``like``'s,
        the records structured as ``records_like``; None if there is none."""
        found = self.path.exists()
        if not found and (others := self._others()):
            raise CheckpointError(f"{others[0]} was saved by another number of processes than this run's "
                                  f"{jax.process_count()}; resume with as many processes as saved it")
        any_found, any_missing = sharding.agreed_max([found, not found])
        if any_found and any_missing:
            raise CheckpointError(f"{self.path} has no counterpart of every other process; remove the "
                                  "checkpoint files to start afresh")
        if not found:
            return None
        try:
            with np.load(self.path) as data:
                header = json.loads(str(data["header"]))
                arrays = [data[f"leaf{i}"] for i in range(len(header["leaves"]) + header["record_leaves"])]
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as err:
            raise CheckpointError(f"{self.path} is corrupt or not a checkpoint ({err}); "
                                  "remove it to start afresh") from None
        differ = sorted(k for k in set(header.get("config", {})) | set(self.config)
                        if header.get("config", {}).get(k) != self.config.get(k))
        if differ:
            raise CheckpointError(f"{self.path} is of another config; keys that differ: {', '.join(differ)}")
        leaves, treedef = jax.tree.flatten(like)
        record_treedef = jax.tree.structure(records_like)
        arrays, arrays_r = arrays[:len(header["leaves"])], arrays[len(header["leaves"]):]
        expected = [[list(np.shape(_to_numpy(x))), _to_numpy(x).dtype.str] for x in leaves]
        if (header["treedef"] != str(treedef) or header["records"] != str(record_treedef)
                or header["leaves"] != expected or _digest(arrays + arrays_r) != header["digest"]):
            raise CheckpointError(f"{self.path} does not match this run (hash, structure or shapes differ): "
                                  "corrupt or foreign; remove it to start afresh")
        latest, earliest = sharding.agreed_max([header["step"], -header["step"]])
        if latest != -earliest:
            raise CheckpointError(f"the checkpoints of the processes in {self.path.parent} are of different steps "
                                  f"({-earliest} to {latest}): a process was killed while saving; remove them "
                                  "to start afresh")
        restored = [_placed(a, x) for a, x in zip(arrays, leaves)]
        return header["step"], jax.tree.unflatten(treedef, restored), jax.tree.unflatten(record_treedef, arrays_r)

    def _others(self) -> list[Path]:
        """Checkpoints of this name saved by another number of processes."""
        stem = Path(self.name).stem
        return sorted(p for p in [*self.path.parent.glob(f"{stem}.p*of*.npz"), self.path.parent / self.name]
                      if p != self.path and p.exists() and not p.name.endswith(".tmp.npz"))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def signals(self):
        """SIGINT and SIGTERM request a checkpoint and a stop at the next chunk boundary."""
        def handler(signum, frame):
            self.stop = signal.Signals(signum).name

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
