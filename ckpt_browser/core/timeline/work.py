"""The work behind the timeline and the overview: cache keys, reading and measuring one step,
summing one pair of saves, and running many of them on a few threads with shared progress.

Several checkpoints are worked on at once (WORKERS threads; numpy and the CRC release the GIL), and
within a large tensor its chunks run in parallel too (`core.tensor.chunked`). A task that fails to
read gives a `Failure` (its sentence) instead of stopping the others; a cancel stops them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, TypeVar

import numpy as np

from ckpt_browser.core.tasks.model import CheckpointRef, Sources, batches
from ckpt_browser.core.tasks.runner import Runner
from ckpt_browser.core.tensor.chunked import WORKERS, Cancel, Progress, run_in_order, scaled
from ckpt_browser.core.tensor.chunks import PageReleaser
from ckpt_browser.core.tensor.distances import PartialDistances
from ckpt_browser.core.timeline import changes
from ckpt_browser.core.timeline.cache import TimelineCache, entry_key
from ckpt_browser.core.timeline.measures import StepStats, measure_arrays
from ckpt_browser.core.timeline.run import Run, RunEntry
from ckpt_browser.format import Checkpoint, CheckpointError, TensorInfo
from ckpt_browser.format.crc import PartialChecksum
from ckpt_browser.format.errors import Cancelled

T = TypeVar("T")


@dataclass(frozen=True)
class Failure:
    """What stopped one task: the sentence to show for its checkpoint."""

    message: str


def tensor_token(checkpoint: Checkpoint, info: TensorInfo) -> list:
    """What identifies a tensor's bytes within its checkpoint's files: name, shape, dtype and the
    stored checksum with its place, where the index has one."""
    stored = checkpoint.stored_checksum(info.name)
    crc = None if stored is None else [stored.masked_crc, stored.offset, stored.size]
    return [info.name, list(info.shape), info.dtype.name, crc]


def stats_key(entry: RunEntry, infos: Sequence[TensorInfo]) -> str:
    checkpoint = entry.checkpoint
    assert checkpoint is not None
    tokens = [tensor_token(checkpoint, info) for info in infos]
    return entry_key("stats", entry.identity, tokens)


def pair_key(a: RunEntry, info_a: TensorInfo, b: RunEntry, info_b: TensorInfo) -> str:
    assert a.checkpoint is not None and b.checkpoint is not None
    token_a, token_b = tensor_token(a.checkpoint, info_a), tensor_token(b.checkpoint, info_b)
    return entry_key("pair", a.identity, token_a, b.identity, token_b)


class Work:
    """One computation over a run: its cache (or None), what its tasks share, and where they run
    (`runner`: None for this machine's threads, or a `tasks` runner such as a Dask cluster)."""

    def __init__(self, run: Run, cache: TimelineCache | None, runner: Runner | None = None) -> None:
        self.run = run
        self.cache = cache
        self.runner = runner
        self.releaser = PageReleaser()

    def lookup(self, keys: Sequence[str]) -> dict[str, dict]:
        return self.cache.get_many(keys) if self.cache is not None else {}

    def store(self, entries: dict[str, object]) -> None:
        if self.cache is not None and entries:
            self.cache.put_many(entries)

    def step_stats(
        self, entry: RunEntry, infos: Sequence[TensorInfo], progress: Progress, cancel: Cancel
    ) -> StepStats:
        """Read the tensors of one step, check their stored checksums, and measure them."""
        assert entry.checkpoint is not None
        return step_stats(entry.checkpoint, infos, self.releaser, progress, cancel)

    def pair_sums(
        self,
        a: RunEntry,
        infos_a: Sequence[TensorInfo],
        b: RunEntry,
        infos_b: Sequence[TensorInfo],
        progress: Progress,
        cancel: Cancel,
    ) -> list[PartialDistances]:
        """The summed distances of each tensor pair of two saves."""
        assert a.checkpoint is not None and b.checkpoint is not None
        return pair_sums(
            a.checkpoint, infos_a, b.checkpoint, infos_b, self.releaser, progress, cancel
        )

    def measure_all(
        self,
        requests: Sequence[tuple[RunEntry, Sequence[TensorInfo]]],
        progress: Progress,
        cancel: Cancel,
    ) -> list[StepStats | Failure]:
        """`step_stats` of each (entry, infos), in order; a Failure where it cannot be read."""
        if self.runner is None:
            calls = [partial(self._measure, entry, infos, cancel) for entry, infos in requests]
            weights = [sum(info.nbytes for info in infos) for _, infos in requests]
            return run_tasks(calls, weights, progress, cancel)
        items = [_Step(_ref(entry), _names(infos), _nbytes(infos)) for entry, infos in requests]
        return self._on_runner(items, progress, cancel)

    def pair_sums_all(
        self,
        requests: Sequence[tuple[RunEntry, Sequence[TensorInfo], RunEntry, Sequence[TensorInfo]]],
        progress: Progress,
        cancel: Cancel,
    ) -> list[list[PartialDistances] | Failure]:
        """`pair_sums` of each (a, infos_a, b, infos_b), in order; a Failure where it fails."""
        if self.runner is None:
            calls = [partial(self._pair, *request, cancel) for request in requests]
            weights = [2 * sum(info.nbytes for info in request[3]) for request in requests]
            return run_tasks(calls, weights, progress, cancel)
        items = [
            _Pair(_ref(a), _names(infos_a), _ref(b), _names(infos_b), 2 * _nbytes(infos_b))
            for a, infos_a, b, infos_b in requests
        ]
        return self._on_runner(items, progress, cancel)

    def _measure(self, entry, infos, cancel: Cancel, progress: Progress) -> StepStats:
        return self.step_stats(entry, infos, progress, cancel)

    def _pair(self, a, infos_a, b, infos_b, cancel: Cancel, progress: Progress):
        return self.pair_sums(a, infos_a, b, infos_b, progress, cancel)

    def _on_runner(self, items: Sequence[_Step | _Pair], progress: Progress, cancel: Cancel):
        assert self.runner is not None
        tasks = [
            TimelineTask(tuple(group), sum(item.weight for item in group))
            for group in batches(items, lambda item: item.weight)
        ]
        results = self.runner.run(tasks, progress, cancel)
        return [outcome for result in results for outcome in result]


def step_stats(
    checkpoint: Checkpoint,
    infos: Sequence[TensorInfo],
    releaser: PageReleaser,
    progress: Progress,
    cancel: Cancel,
) -> StepStats:
    """Read the tensors of one step, check their stored checksums, and measure them."""
    arrays = []
    for info in infos:
        array = np.asarray(checkpoint.read(info.name)).reshape(-1)
        problem = _checksum_problem(checkpoint, info, array)
        if problem is not None:
            raise CheckpointError(problem)
        arrays.append(array)
    try:
        return measure_arrays(arrays, progress=progress, cancel=cancel)
    finally:
        for array in arrays:
            releaser.release(array)


def pair_sums(
    a: Checkpoint,
    infos_a: Sequence[TensorInfo],
    b: Checkpoint,
    infos_b: Sequence[TensorInfo],
    releaser: PageReleaser,
    progress: Progress,
    cancel: Cancel,
) -> list[PartialDistances]:
    """The summed distances of each tensor pair of two saves."""
    total = sum(info.nbytes for info in infos_b) or 1
    done = 0
    sums = []
    for info_a, info_b in zip(infos_a, infos_b):
        share = scaled(progress, done / total, (done + info_b.nbytes) / total)
        sums.append(
            changes.pair_partial(
                a, info_a, b, info_b, releaser=releaser, progress=share, cancel=cancel
            )
        )
        done += info_b.nbytes
    return sums


def _checksum_problem(checkpoint: Checkpoint, info: TensorInfo, array: np.ndarray) -> str | None:
    """Whether the stored bytes are damaged, from the array just read where it is those bytes
    (no second read), else by the checkpoint's own check."""
    stored = checkpoint.stored_checksum(info.name)
    if stored is not None:
        return stored.problem(PartialChecksum.of(array).crc)
    return checkpoint.checksum_problem(info.name)


# -- as tasks (for a runner: named checkpoints, no open files) -----------------------------------


def _ref(entry: RunEntry) -> CheckpointRef:
    """The checkpoint of a run entry as tasks name it, with the identity taken at its opening."""
    assert entry.checkpoint is not None
    return CheckpointRef(entry.checkpoint.prefix, entry.identity)


def _names(infos: Sequence[TensorInfo]) -> tuple[str, ...]:
    return tuple(info.name for info in infos)


def _nbytes(infos: Sequence[TensorInfo]) -> int:
    return sum(info.nbytes for info in infos)


class _Step(NamedTuple):
    checkpoint: CheckpointRef
    names: tuple[str, ...]
    weight: int


class _Pair(NamedTuple):
    checkpoint_a: CheckpointRef
    names_a: tuple[str, ...]
    checkpoint_b: CheckpointRef
    names_b: tuple[str, ...]
    weight: int


@dataclass(frozen=True)
class TimelineTask:
    """Steps to measure and pairs of saves to sum; each gives its result or a Failure."""

    items: tuple[_Step | _Pair, ...]
    weight: int

    def run(self, sources: Sources) -> list:
        return [_guarded(partial(self._one, sources, item), _no_progress) for item in self.items]

    @staticmethod
    def _one(sources: Sources, item: _Step | _Pair, progress: Progress) -> object:
        if isinstance(item, _Step):
            checkpoint = sources(item.checkpoint)
            infos = [checkpoint.info(name) for name in item.names]
            return step_stats(checkpoint, infos, _RELEASER, progress, None)
        a, b = sources(item.checkpoint_a), sources(item.checkpoint_b)
        infos_a = [a.info(name) for name in item.names_a]
        infos_b = [b.info(name) for name in item.names_b]
        return pair_sums(a, infos_a, b, infos_b, _RELEASER, progress, None)


_RELEASER = PageReleaser()


def _no_progress(fraction: float) -> None:
    return None


def run_tasks(
    calls: Sequence[Callable[[Progress], T]],
    weights: Sequence[float],
    progress: Progress,
    cancel: Cancel,
) -> list[T | Failure]:
    """Each `call(progress)` on a few threads, results in order; one that cannot read its files
    gives a Failure. Progress is shared by `weights` (bytes); a cancel raises Cancelled."""
    shares = _Shares(progress, weights)
    wrapped = [partial(_guarded, call, shares.of(index)) for index, call in enumerate(calls)]
    if len(wrapped) <= 1 or WORKERS == 1:
        return run_in_order(wrapped, None, None, cancel)
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="timeline") as pool:
        return run_in_order(wrapped, pool, None, cancel)


def _guarded(call: Callable[[Progress], T], progress: Callable[[float], None]) -> T | Failure:
    try:
        return call(progress)
    except Cancelled:
        raise
    except CheckpointError as exc:
        return Failure(str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return Failure(f"{where}{exc.strerror or exc}")
    except TypeError as exc:  # values that have no numbers (a resource, a variant)
        return Failure(str(exc))
    finally:
        progress(1.0)


class _Shares:
    """Progress of tasks running at once, weighted; reported to the caller in one increasing
    sequence, whichever thread a task reports from."""

    def __init__(self, progress: Progress, weights: Sequence[float]) -> None:
        self._progress = progress
        self._weights = [max(float(weight), 1.0) for weight in weights]
        self._total = sum(self._weights) or 1.0
        self._done = [0.0] * len(self._weights)
        self._reported = 0.0
        self._lock = threading.Lock()

    def of(self, index: int) -> Callable[[float], None]:
        return partial(self._report, index)

    def _report(self, index: int, fraction: float) -> None:
        if self._progress is None:
            return
        with self._lock:
            self._done[index] = max(self._done[index], min(fraction, 1.0))
            overall = sum(d * w for d, w in zip(self._done, self._weights)) / self._total
            if overall <= self._reported:
                return
            self._reported = overall
            self._progress(overall)
