"""Compare two checkpoints: every name gets a status and, where the values can be compared, the
distances between them.

    from ckpt_browser.core.compare.checkpoints import CompareOptions, compare_checkpoints
    result = compare_checkpoints(ckpt_a, ckpt_b, CompareOptions(atol=1e-6))
    for item in result.most_changed_first():
        print(item.name, item.status, item.distances)

Names are matched by `name_alignment` first. A pair of equal shape is read a chunk at a time over
the memory maps (`tensor_chunks`), the chunks of a large tensor spread over a few threads, and the
pages released as the pass goes, so memory stays flat however large the checkpoints are. Results
come one tensor at a time from `iter_compare`, so a window can fill its table as they arrive;
`cancel()` is polled between chunks and raises `Cancelled`. Every tensor whose values are compared
is checked against its stored CRC32C on the chunks read anyway (pieces checksummed on the threads
merge in order): a damaged tensor stops the comparison with ChecksumError, as TensorFlow would
refuse it, unless `allow_bad_checksums` is set; then its result carries the sentence in `damaged`.

Status: `added`/`removed` when one side lacks the name, `shape_changed` when the shapes differ
(no distances), `dtype_changed` when the dtypes differ (distances still computed in a common type
when both are numbers), else `same` when every element is equal (with `rtol`/`atol`: close) and
`changed` otherwise.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

from ckpt_browser.core.compare.alignment import AlignedPair, Alignment, align
from ckpt_browser.core.compare.value_match import pair_by_value
from ckpt_browser.core.tensor import chunks as tensor_chunks
from ckpt_browser.core.tensor.chunked import WORKERS, Cancel, Cancelled, Progress
from ckpt_browser.core.tensor.chunks import ChunkedTensor, PageReleaser, map_pair_chunks
from ckpt_browser.core.tensor.distances import (
    Distances,
    PartialDistances,
    comparison_category,
    finish,
    kernel_for,
)
from ckpt_browser.format import Checkpoint, ChecksumError, TensorInfo
from ckpt_browser.format.crc import PartialChecksum
from ckpt_browser.format.v2.tensor_checksums import StoredChecksum

__all__ = [
    "Cancelled",
    "CompareOptions",
    "Comparison",
    "Status",
    "TensorComparison",
    "compare_checkpoints",
    "compare_pair",
    "iter_compare",
]


class Status(str, Enum):
    SAME = "same"
    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"
    SHAPE_CHANGED = "shape_changed"
    DTYPE_CHANGED = "dtype_changed"

    def __str__(self) -> str:
        return self.value


# "Most changed first": what changed in structure, then changed values by how much, then the same.
_STATUS_RANK = {
    Status.REMOVED: 0,
    Status.ADDED: 1,
    Status.SHAPE_CHANGED: 2,
    Status.DTYPE_CHANGED: 3,
    Status.CHANGED: 4,
    Status.SAME: 5,
}


@dataclass(frozen=True)
class CompareOptions:
    """Tolerances for `same` and how names are matched.

    rtol = atol = 0 (the default) means `same` is exact equality; with tolerances a float pair is
    `same` when every element passes `np.isclose(a, b, rtol, atol, equal_nan=True)`.
    """

    rtol: float = 0.0
    atol: float = 0.0
    alignment: Alignment = field(default_factory=Alignment)
    allow_bad_checksums: bool = False  # compare damaged tensors (named in `damaged`), not refuse

    def __post_init__(self) -> None:
        for label, value in (("rtol", self.rtol), ("atol", self.atol)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{label} must be a finite number >= 0, not {value!r}")


@dataclass(frozen=True)
class TensorComparison:
    """The outcome for one name: status, the two tensors (either may be None), distances."""

    name: str
    status: Status
    a: TensorInfo | None
    b: TensorInfo | None
    distances: Distances | None = None  # None when the values were not compared
    damaged: tuple[str, ...] = ()  # checksum mismatches of A or B, when they were allowed

    @property
    def dtype_a(self) -> str | None:
        return self.a.dtype.name if self.a is not None else None

    @property
    def dtype_b(self) -> str | None:
        return self.b.dtype.name if self.b is not None else None

    @property
    def shape_a(self) -> tuple[int, ...] | None:
        return self.a.shape if self.a is not None else None

    @property
    def shape_b(self) -> tuple[int, ...] | None:
        return self.b.shape if self.b is not None else None

    def distance(self, field_name: str) -> float | int | None:
        """One distance by its field name (`rel_l2`, `max_abs_diff` ...), None if not computed."""
        return getattr(self.distances, field_name) if self.distances is not None else None

    @property
    def change_score(self) -> float:
        """How much the values moved: relative L2, or failing that the mismatch share.

        Infinite when A is all zeros and B is not (relative L2 undefined but the change is real).
        """
        d = self.distances
        if d is None:
            return 0.0
        if d.rel_l2 is not None:
            return d.rel_l2
        if d.mismatches and d.compared and d.max_abs_diff is not None:
            return math.inf
        return d.mismatch_fraction or 0.0

    def sort_key(self) -> tuple:
        """Most changed first: structural changes, then values by `change_score`, then same."""
        return (_STATUS_RANK[self.status], -self.change_score, self.name)

    @property
    def order_value(self) -> float:
        """One number that sorts like `sort_key` without the name (ascending: most changed
        first), for sorting a table by a single value per row."""
        score = self.change_score
        return 2.0 * _STATUS_RANK[self.status] + (0.0 if math.isinf(score) else 1.0 / (1 + score))


@dataclass(frozen=True)
class Comparison:
    """Every name of two checkpoints with its outcome, in name order."""

    prefix_a: str
    prefix_b: str
    options: CompareOptions
    tensors: list[TensorComparison]

    @property
    def summary(self) -> dict[str, int]:
        """Count per status, every status present (0 when none)."""
        counts = Counter(item.status for item in self.tensors)
        return {status.value: counts.get(status, 0) for status in Status}

    @property
    def identical(self) -> bool:
        """True when both hold the same names with equal (or close) values."""
        return all(item.status is Status.SAME for item in self.tensors)

    def most_changed_first(self) -> list[TensorComparison]:
        return sorted(self.tensors, key=TensorComparison.sort_key)


def compare_checkpoints(
    a: Checkpoint,
    b: Checkpoint,
    options: CompareOptions | None = None,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
    on_result: Callable[[TensorComparison], None] | None = None,
) -> Comparison:
    """Compare every aligned name of `a` and `b` (see `iter_compare`) and collect the results."""
    options = options or CompareOptions()
    results = []
    for item in iter_compare(a, b, options, progress=progress, cancel=cancel):
        results.append(item)
        if on_result is not None:
            on_result(item)
    return Comparison(a.prefix, b.prefix, options, results)


def iter_compare(
    a: Checkpoint,
    b: Checkpoint,
    options: CompareOptions | None = None,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
) -> Iterator[TensorComparison]:
    """The outcome of each aligned name, in name order, as soon as it is computed.

    `progress(fraction)` is called as bytes are worked through; `cancel()` is polled between
    chunks and stops the generator with `Cancelled`.
    """
    options = options or CompareOptions()
    pairs = align(a, b, options.alignment)
    if options.alignment.match_values:
        pairs = pair_by_value(a, b, pairs, lambda: _check(cancel))
    weights = [_weight(pair) for pair in pairs]
    total = float(sum(weights)) or 1.0
    done = 0.0
    shared = _Shared()
    try:
        for pair, weight in zip(pairs, weights):
            _check(cancel)
            start = done

            def report(fraction: float, start: float = start, weight: float = weight) -> None:
                if progress is not None:
                    progress((start + weight * fraction) / total)

            yield _compare_aligned(a, b, pair, options, report, cancel, shared)
            done += weight
            if progress is not None:
                progress(done / total)
    finally:
        shared.close()


def compare_pair(
    a: Checkpoint,
    info_a: TensorInfo,
    b: Checkpoint,
    info_b: TensorInfo,
    options: CompareOptions | None = None,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
) -> TensorComparison:
    """Compare one tensor of `a` with one of `b`, whatever their names."""
    pair = AlignedPair(info_a.name, info_a, info_b)
    shared = _Shared()
    try:
        return _compare_aligned(a, b, pair, options or CompareOptions(), progress, cancel, shared)
    finally:
        shared.close()


# -- internals --------------------------------------------------------------------------------


class _Shared:
    """What the tensors of one run share: threads (started for the first large tensor) and the
    releaser that gives small tensors' pages back in batches."""

    def __init__(self) -> None:
        self.releaser = PageReleaser()
        self._pool: ThreadPoolExecutor | None = None

    def pool_for(self, nbytes: int) -> ThreadPoolExecutor | None:
        if nbytes <= 2 * tensor_chunks.CHUNK_BYTES or WORKERS == 1:
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="compare")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _weight(pair: AlignedPair) -> float:
    """Share of the progress bar: the bytes to read, plus a little for the bookkeeping."""
    if pair.a is None or pair.b is None or pair.a.shape != pair.b.shape:
        return 1.0
    return 1.0 + pair.a.nbytes + pair.b.nbytes


def _compare_aligned(
    a: Checkpoint,
    b: Checkpoint,
    pair: AlignedPair,
    options: CompareOptions,
    progress: Progress,
    cancel: Cancel,
    shared: _Shared,
) -> TensorComparison:
    outcome = outcome_without_values(pair)
    if isinstance(outcome, TensorComparison):
        return outcome
    info_a, info_b = pair.a, pair.b
    assert info_a is not None and info_b is not None
    checks = (SourceCheck.of(a, info_a), SourceCheck.of(b, info_b))
    results = _distance_parts(a, info_a, b, info_b, options, progress, cancel, shared, checks)
    return conclude(pair, outcome, results, checks, options)


def outcome_without_values(pair: AlignedPair) -> TensorComparison | str:
    """The outcome when the values need not (or cannot) be read; else how to compare them
    (`distances.comparison_category`)."""
    info_a, info_b = pair.a, pair.b
    if info_a is None:
        return TensorComparison(pair.name, Status.ADDED, None, info_b)
    if info_b is None:
        return TensorComparison(pair.name, Status.REMOVED, info_a, None)
    if info_a.shape != info_b.shape:
        return TensorComparison(pair.name, Status.SHAPE_CHANGED, info_a, info_b)
    dtype_changed = info_a.dtype.name != info_b.dtype.name
    numpy_a, numpy_b = info_a.dtype.numpy, info_b.dtype.numpy
    how = None
    if numpy_a is not None and numpy_b is not None:
        how = comparison_category(numpy_a, numpy_b)
    if how is None:  # a string against numbers, or a type that holds no values
        status = Status.DTYPE_CHANGED if dtype_changed else Status.CHANGED
        return TensorComparison(pair.name, status, info_a, info_b)
    return how


PairPart = tuple[PartialDistances, "PartialChecksum | None", "PartialChecksum | None"]


def conclude(
    pair: AlignedPair,
    how: str,
    parts: list[PairPart],
    checks: tuple[SourceCheck, SourceCheck],
    options: CompareOptions,
) -> TensorComparison:
    """The outcome of a pair from the parts of its chunks, merged in chunk order (the same
    whichever threads or machines computed them)."""
    info_a, info_b = pair.a, pair.b
    assert info_a is not None and info_b is not None
    merged = PartialDistances()
    for part, _, _ in parts:
        merged.merge(part)
    checks[0].finish([crc for _, crc, _ in parts])
    checks[1].finish([crc for _, _, crc in parts])
    distances = finish(merged, info_a.shape, how)
    damaged = tuple(problem for check in checks if (problem := check.problem) is not None)
    if damaged and not options.allow_bad_checksums:
        raise ChecksumError(damaged[0])
    if info_a.dtype.name != info_b.dtype.name:
        status = Status.DTYPE_CHANGED
    else:
        status = Status.CHANGED if distances.mismatches else Status.SAME
    return TensorComparison(pair.name, status, info_a, info_b, distances, damaged)


class SourceCheck:
    """One side's stored checksum: checked on the chunks the comparison reads, when they are the
    stored bytes; otherwise (strings, partitioned tensors) by reading them first (`problem`)."""

    def __init__(self, stored: StoredChecksum | None, problem: str | None = None) -> None:
        self.stored = stored
        self.problem = problem

    @classmethod
    def of(cls, checkpoint: Checkpoint, info: TensorInfo) -> SourceCheck:
        stored = checkpoint.stored_checksum(info.name)
        return cls(stored, None if stored else checkpoint.checksum_problem(info.name))

    def of_chunk(self, chunk: object) -> PartialChecksum | None:
        return PartialChecksum.of(chunk) if self.stored is not None else None

    def finish(self, parts: list[PartialChecksum | None]) -> None:
        if self.stored is None:
            return
        whole = PartialChecksum()
        for part in parts:
            whole.merge(part)
        self.problem = self.stored.problem(whole.crc)


def one_chunk(info_a: TensorInfo, info_b: TensorInfo) -> bool:
    """Whether a pair is compared in one piece (the thousands of small tensors of a model: the
    chunking machinery would cost more than the work itself)."""
    small = max(info_a.nbytes, info_b.nbytes) <= tensor_chunks.CHUNK_BYTES
    return small and not (info_a.partitioned or info_b.partitioned)


def _distance_parts(
    a: Checkpoint,
    info_a: TensorInfo,
    b: Checkpoint,
    info_b: TensorInfo,
    options: CompareOptions,
    progress: Progress,
    cancel: Cancel,
    shared: _Shared,
    checks: tuple[SourceCheck, SourceCheck],
) -> list[PairPart]:
    kernel = kernel_for(info_a.dtype.numpy, info_b.dtype.numpy, options.rtol, options.atol)
    assert kernel is not None  # `how` said they are comparable
    check_a, check_b = checks

    def work(x, y, start: int) -> PairPart:
        return kernel(x, y, start), check_a.of_chunk(x), check_b.of_chunk(y)

    if one_chunk(info_a, info_b):
        x, y = a.read(info_a.name).reshape(-1), b.read(info_b.name).reshape(-1)
        results = [work(x, y, 0)]
        shared.releaser.release(x)
        shared.releaser.release(y)
        return results
    tensor_a = ChunkedTensor(a, info_a, shared.releaser)
    tensor_b = ChunkedTensor(b, info_b, shared.releaser)
    pool = shared.pool_for(info_a.nbytes + info_b.nbytes)
    return map_pair_chunks(tensor_a, tensor_b, work, pool=pool, progress=progress, cancel=cancel)


def _check(cancel: Cancel) -> None:
    if cancel is not None and cancel():
        raise Cancelled()
