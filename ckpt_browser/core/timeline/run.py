"""A training run: the checkpoints of one directory in step order, opened when first needed.

    run = Run.open("runs/bert")          # a directory, or any checkpoint path inside it
    for entry in run.entries:            # oldest first (`format.paths.history`)
        entry.step, entry.prefix
        run.checkpoint(entry)            # the open Checkpoint, or None (entry.error says why)
    changes = run.refresh()              # after the directory changed: what came and went

A checkpoint that fails to open is kept in the run with its error, so views can mark it and go on.
Each open checkpoint's identity (its files' paths, sizes and modification times; remote: sizes and
versions) is taken when it is opened; `refresh` reopens a checkpoint whose files changed since, so
nothing computed from the old bytes is looked up under the new ones. Safe to use from several
worker threads at once.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from ckpt_browser.core.tasks.model import checkpoint_identity
from ckpt_browser.core.tensor.chunked import Cancel, Progress, run_in_order
from ckpt_browser.format import Checkpoint, CheckpointError, CheckpointRecord, open_checkpoint
from ckpt_browser.format import paths as format_paths
from ckpt_browser.format.sources import locations as where

OPENING_THREADS = 4  # indexes opened at once: remote ones wait on the network, not on us


@dataclass(eq=False)
class RunEntry:
    """One checkpoint of the run."""

    record: CheckpointRecord
    checkpoint: Checkpoint | None = field(default=None, repr=False)
    error: str | None = None  # why it could not be opened (then it is skipped)
    identity: tuple = ()  # what its bytes are (see the module docstring); () until opened
    opened: bool = False

    @property
    def prefix(self) -> str:
        return self.record.prefix

    @property
    def step(self) -> int | None:
        return self.record.step


@dataclass(frozen=True)
class RunChanges:
    """What `Run.refresh` found: prefixes that appeared, disappeared, or were rewritten."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    rewritten: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.rewritten)


class Run:
    """The checkpoints of a directory, oldest first (see the module docstring)."""

    def __init__(self, directory: str, records: list[CheckpointRecord]) -> None:
        self.directory = directory
        self.entries = [RunEntry(record) for record in records]
        self._lock = threading.Lock()
        self._opening: dict[str, threading.Lock] = {}

    @classmethod
    def open(cls, path: str) -> Run:
        """The run of a directory, or of the directory holding the checkpoint `path` names.

        CheckpointError when the directory does not exist or holds no checkpoint.
        """
        path = where.normalize(path)
        directory = path if where.isdir(path) else None
        if directory is None:
            if not where.exists(path):
                raise CheckpointError("no such directory or checkpoint", path)
            directory = os.path.dirname(format_paths.resolve_prefix(path))
        records = format_paths.history(directory)
        if not records:
            raise CheckpointError("no checkpoints in this directory", directory)
        return cls(where.abspath(directory), records)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def steps(self) -> list[int | None]:
        return [entry.step for entry in self.entries]

    def checkpoint(self, entry: RunEntry) -> Checkpoint | None:
        """The open checkpoint of `entry` (opened now if it was not), or None if it cannot be
        opened: `entry.error` then says why."""
        if entry.opened:
            return entry.checkpoint
        with self._lock:
            lock = self._opening.setdefault(entry.prefix, threading.Lock())
        with lock:
            if not entry.opened:
                _open(entry)
        return entry.checkpoint

    def open_all(self, progress: Progress = None, cancel: Cancel = None) -> None:
        """Open every checkpoint not yet opened, a few at a time (remote indexes are fetched
        while others are parsed)."""
        waiting = [entry for entry in self.entries if not entry.opened]
        calls = [partial(self.checkpoint, entry) for entry in waiting]
        if len(calls) <= 1:
            run_in_order(calls, None, progress, cancel)
            return
        with ThreadPoolExecutor(OPENING_THREADS, thread_name_prefix="run-open") as pool:
            run_in_order(calls, pool, progress, cancel)

    def refresh(self) -> RunChanges:
        """List the directory again: new checkpoints join in step order, deleted ones leave (as
        `max_to_keep` deletes them), and one whose files changed is opened again when needed."""
        try:
            records = format_paths.history(self.directory)
        except CheckpointError:
            records = []
        known = {entry.prefix: entry for entry in self.entries}
        fresh = {record.prefix for record in records}
        removed = tuple(prefix for prefix in known if prefix not in fresh)
        added, rewritten, entries = [], [], []
        for record in records:
            entry = known.get(record.prefix)
            if entry is None:
                added.append(record.prefix)
                entry = RunEntry(record)
            elif (
                entry.opened and entry.checkpoint is not None and _identity(entry) != entry.identity
            ):
                rewritten.append(record.prefix)
                entry.checkpoint.close()
                entry = RunEntry(record)
            elif entry.opened and entry.checkpoint is None:
                entry = RunEntry(record)  # it failed to open: perhaps it was being written
            else:
                entry.record = record
            entries.append(entry)
        for prefix in removed:
            gone = known[prefix].checkpoint
            if gone is not None:
                gone.close()
        self.entries = entries
        return RunChanges(tuple(added), removed, tuple(rewritten))

    def close(self) -> None:
        for entry in self.entries:
            if entry.checkpoint is not None:
                entry.checkpoint.close()


def _open(entry: RunEntry) -> None:
    try:
        checkpoint = open_checkpoint(entry.prefix)
        entry.identity = _identity_of(checkpoint)
        entry.checkpoint = checkpoint
    except (CheckpointError, OSError) as exc:
        entry.error = str(exc)
    entry.opened = True


def _identity(entry: RunEntry) -> tuple:
    assert entry.checkpoint is not None
    try:
        return _identity_of(entry.checkpoint)
    except (CheckpointError, OSError):
        return ()


def _identity_of(checkpoint: Checkpoint) -> tuple:
    return checkpoint_identity(checkpoint)
