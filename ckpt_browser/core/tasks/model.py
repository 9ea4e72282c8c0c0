"""What a task is, how small pieces of work are batched into tasks, and how a process opens the
checkpoints its tasks name.

A task names its checkpoints by location (a URL, or a path every worker sees) and holds no open
file: it is pickled to whichever process runs it, which opens each checkpoint once and keeps it for
the tasks that follow. A task's result is a list of small values that merge (partial distances,
checksums of byte ranges, problems); the caller merges them in task order, so the answer does not
depend on which process ran which task, or when.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Protocol, TypeVar

from ckpt_browser.format import Checkpoint, open_checkpoint
from ckpt_browser.format.sources import locations

U = TypeVar("U")

# A task reads about this much. Scheduling a task costs ~4 ms of a worker's time on a LocalCluster
# (the `cluster` benchmark group); 128 MB take ~100 ms from the page cache here (4%) and ~0.5 s
# from a bucket at 250 MB/s (under 1%), and a 500 GB checkpoint is still ~4,000 tasks, enough to
# keep hundreds of workers busy. Memory does not grow with it: a task reads its ranges in chunks.
TASK_BYTES = 128 << 20
# What one piece costs however small it is (a tensor of 4 bytes still costs a lookup, a kernel
# call and a result): 10,000 tiny tensors then make ~10 tasks, not 10,000 nor 1.
PIECE_COST_BYTES = 64 << 10


class Task(Protocol):
    """Work on named checkpoints; `weight` (bytes read) is its share of the progress bar."""

    weight: int

    def run(self, sources: Sources) -> list: ...


class CheckpointRef(NamedTuple):
    """A checkpoint as a task names it: its prefix, and what its files' bytes were when the job
    was planned (paths, sizes, times or versions), so that a worker never answers from a
    checkpoint it opened before the files were replaced."""

    location: str
    identity: tuple

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> CheckpointRef:
        return cls(checkpoint.prefix, checkpoint_identity(checkpoint))


def checkpoint_identity(checkpoint: Checkpoint) -> tuple:
    """What the checkpoint's bytes are: each file's path, size and time (or remote version)."""
    return tuple(locations.identity(path) for path in checkpoint.files())


class Sources:
    """The checkpoints a process has opened; the last few are kept open for the tasks that
    follow (each holds an index in memory and its shards' handles)."""

    def __init__(self, opened: Iterable[Checkpoint] = (), keep: int = 8) -> None:
        self._given = {checkpoint.prefix: checkpoint for checkpoint in opened}
        self._opened: OrderedDict[CheckpointRef, Checkpoint] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def __call__(self, ref: CheckpointRef) -> Checkpoint:
        given = self._given.get(ref.location)
        if given is not None:
            return given
        with self._lock:
            checkpoint = self._opened.get(ref)
            if checkpoint is None:
                checkpoint = self._opened[ref] = open_checkpoint(ref.location)
                while len(self._opened) > self._keep:
                    self._opened.popitem(last=False)[1].close()
            self._opened.move_to_end(ref)
            return checkpoint

    def close(self) -> None:
        """Close what was opened here (not the checkpoints given)."""
        with self._lock:
            for checkpoint in self._opened.values():
                checkpoint.close()
            self._opened.clear()


def batches(
    pieces: Sequence[U], weight: Callable[[U], int], task_bytes: int = TASK_BYTES
) -> list[list[U]]:
    """Consecutive pieces grouped into tasks of about `task_bytes` (a larger piece alone)."""
    groups: list[list[U]] = []
    current: list[U] = []
    filled = 0
    for piece in pieces:
        cost = max(weight(piece), PIECE_COST_BYTES)
        if current and filled + cost > task_bytes:
            groups.append(current)
            current, filled = [], 0
        current.append(piece)
        filled += cost
    if current:
        groups.append(current)
    return groups


def byte_ranges(size: int, task_bytes: int = TASK_BYTES) -> list[tuple[int, int]]:
    """`(start, stop)` ranges of at most `task_bytes` covering `size` bytes."""
    return [(start, min(start + task_bytes, size)) for start in range(0, size, task_bytes)]
