"""Exact statistics, histograms and quantiles of whole tensors, fast enough for an interactive view.

Nothing is sampled except in `quick_histogram`. A tensor is cut into chunks of about a million
elements that a small thread pool works through (numpy releases the GIL inside its loops); between
chunks the caller's `progress(fraction)` is called and its `cancel()` asked, so a GUI can run this
in a worker thread and stop it. Inside a chunk numpy works on blocks small enough to stay in the
CPU cache, which matters more here than the number of passes.

What is measured: the values of real tensors (bfloat16, float16, float8 converted to float32 block
by block), the magnitude |z| of complex ones, the byte length of strings. NaN and infinities are
counted and left out of everything else.

- Moments: each block gives count, mean, variance (two passes over the cached block, in float64);
  blocks are merged with the parallel-variance formula, so no sum of squares cancels.
- Histogram: each block is sorted and the bin edges are looked up in it with `searchsorted`.
  That gives exactly `np.histogram`'s answer for the edges (which come from
  `np.histogram_bin_edges`, so they are numpy's edges too) and is faster than its own loop.
- Quantiles: exact order statistics without sorting the whole tensor. Pivots come from a sample;
  a first pass counts the values below and at each pivot, which shows for each wanted rank the
  pivot it equals or the narrow gap between pivots where it lies; a second pass collects only the
  values in those gaps, and `np.partition` finds the ranks there. numpy's 'linear' interpolation
  is then applied the way `np.quantile` does it, so the results are equal to numpy's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

QUANTILE_PERCENTS = (1, 25, 50, 75, 99)
CHUNK_ELEMENTS = 1 << 20  # the unit of work between progress reports and cancel checks
BLOCK_ELEMENTS = 1 << 16  # what one numpy call sees: 64 K values stay in the CPU cache
WORKERS = max(1, min(4, os.cpu_count() or 1))
DIRECT_QUANTILE_LIMIT = 1 << 22  # up to this many values np.quantile on a copy is quick enough
PIVOT_SAMPLE = 1 << 16  # sample size the quantile pivots are drawn from
PIVOTS = 1024

Progress = Callable[[float], None] | None
Cancel = Callable[[], bool] | None


class Cancelled(Exception):
    """Raised by the functions here when the caller's `cancel()` returned True."""


@dataclass(frozen=True)
class TensorStats:
    """Statistics of one tensor. min/max are ints for integer, bool and string-length measures."""

    count: int  # all elements
    finite_count: int
    nan_count: int
    posinf_count: int
    neginf_count: int
    zero_count: int
    min: float | int | None  # None when there is no finite value
    max: float | int | None
    mean: float | None
    std: float | None  # population standard deviation (numpy's default, ddof=0)
    l2_norm: float | None  # None for strings
    quantiles: dict[int, float] = field(default_factory=dict)  # percent -> value; may be empty
    measure: str = "value"  # "value", "magnitude" (complex: |z|) or "length" (strings: bytes)

    @property
    def of_magnitude(self) -> bool:
        return self.measure == "magnitude"


@dataclass(frozen=True)
class Histogram:
    """Counts of the finite values per bin; a value equal to the last edge is in the last bin."""

    counts: np.ndarray  # int64, one per bin
    edges: np.ndarray  # len(counts) + 1 increasing edges
    nan_count: int
    posinf_count: int
    neginf_count: int
    outside_count: int  # finite values outside the edges (only with an explicit value_range)
    counted: int  # elements looked at: all of them, or the sample of `quick_histogram`
    total: int  # elements in the tensor
    measure: str = "value"

    @property
    def exact(self) -> bool:
        return self.counted == self.total


# -- what is measured -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Measured:
    """A tensor as a flat array plus how to turn a block of it into numbers to measure."""

    flat: np.ndarray
    convert: Callable[[np.ndarray], np.ndarray]
    is_float: bool  # floats may hold NaN/Inf; ints (and bools, lengths) cannot
    work_dtype: np.dtype  # what blocks are sorted in: float32/float64 for floats, float64 for ints
    value_dtype: np.dtype  # dtype of converted blocks (bin edges follow it, as in np.histogram)
    measure: str


def _measured(array: object) -> _Measured:
    array = np.asarray(array)
    flat = array.reshape(-1)
    dtype = flat.dtype
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    same = _identity
    if dtype == np.dtype(object) or dtype.kind in "SU":
        lengths = np.fromiter(map(len, flat), dtype=np.int64, count=flat.size)
        return _Measured(lengths, same, False, f64, lengths.dtype, "length")
    if dtype.kind == "b":
        return _Measured(flat, _bool_as_uint8, False, f64, np.dtype(np.uint8), "value")
    if dtype.kind in "iu":
        return _Measured(flat, same, False, f64, dtype, "value")
    if dtype.kind == "c":
        work = f32 if dtype == np.dtype(np.complex64) else f64
        return _Measured(flat, np.abs, True, work, work, "magnitude")
    if dtype in (f32, f64):
        return _Measured(flat, same, True, dtype, dtype, "value")
    if dtype.kind == "f" or (dtype.kind == "V" and dtype.name.startswith(("float", "bfloat"))):
        # float16, bfloat16, float8, float4 (ml_dtypes): exact in float32, and numpy sorts it fast.
        return _Measured(flat, _as_float32, True, f32, f32, "value")
    if dtype.kind == "V" and dtype.name.startswith(("int", "uint")):  # int4, uint4, int2 ...
        ints = np.dtype(np.uint8 if dtype.name.startswith("u") else np.int8)
        return _Measured(flat, lambda block: block.astype(ints), False, f64, ints, "value")
    raise TypeError(f"no statistics for values of dtype {dtype}")


def _identity(block: np.ndarray) -> np.ndarray:
    return block


def _bool_as_uint8(block: np.ndarray) -> np.ndarray:
    return block.view(np.uint8)


def _as_float32(block: np.ndarray) -> np.ndarray:
    return block.astype(np.float32)


# -- running chunks on a thread pool ----------------------------------------------------------


def _run_chunks(
    flat: np.ndarray, task: Callable[[np.ndarray], object], progress: Progress, cancel: Cancel
) -> list:
    """`task(chunk)` for consecutive chunks of `flat`, results in order; progress and cancel
    between chunks."""
    if cancel is not None and cancel():
        raise Cancelled()
    starts = range(0, max(flat.size, 1), CHUNK_ELEMENTS)
    task = _quietly(task)
    if len(starts) == 1 or WORKERS == 1:
        results = []
        for done, start in enumerate(starts, 1):
            results.append(task(flat[start : start + CHUNK_ELEMENTS]))
            _report(done / len(starts), progress, cancel)
        return results
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="tensor-stats") as pool:
        futures = [pool.submit(task, flat[start : start + CHUNK_ELEMENTS]) for start in starts]
        try:
            results = []
            for done, future in enumerate(futures, 1):
                results.append(future.result())
                _report(done / len(futures), progress, cancel)
            return results
        finally:
            for future in futures:  # after a cancel or an error: drop what has not started
                future.cancel()


def _quietly(task: Callable[[np.ndarray], object]) -> Callable[[np.ndarray], object]:
    """`task` without floating-point warnings: NaN, Inf and overflow are counted, not errors.
    (numpy's error state belongs to the thread, so it is set inside each task.)"""

    def run(chunk: np.ndarray) -> object:
        with np.errstate(all="ignore"):
            return task(chunk)

    return run


def _report(fraction: float, progress: Progress, cancel: Cancel) -> None:
    if progress is not None:
        progress(fraction)
    if cancel is not None and cancel():
        raise Cancelled()


def _scaled(progress: Progress, start: float, end: float) -> Progress:
    """Map a pass's own 0..1 progress onto [start, end] of the caller's bar."""
    if progress is None:
        return None
    return lambda fraction: progress(start + (end - start) * fraction)


def _blocks(chunk: np.ndarray):
    for start in range(0, chunk.size, BLOCK_ELEMENTS):
        yield chunk[start : start + BLOCK_ELEMENTS]


def _sorted_block(values: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """`values` sorted in (a view of) `buffer`; NaN sort last, as numpy does."""
    out = buffer[: values.size]
    np.copyto(out, values, casting="same_kind")
    out.sort()
    return out


def _finite_part(sorted_values: np.ndarray) -> np.ndarray:
    low = int(np.searchsorted(sorted_values, -np.inf, "right"))
    high = int(np.searchsorted(sorted_values, np.inf, "left"))
    return sorted_values[low:high]


# -- moments ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Moments:
    """One block's share: counts, and mean and variance of its finite values."""

    size: int
    finite: int
    nan: int = 0
    posinf: int = 0
    neginf: int = 0
    zeros: int = 0
    mean: float = 0.0  # rounded; the exact block mean is mean + mean_correction
    mean_correction: float = 0.0
    variance: float = 0.0
    low: float | int | None = None
    high: float | int | None = None


def _block_moments(values: np.ndarray, is_float: bool, scratch: np.ndarray) -> _Moments:
    size = values.size
    nan = posinf = neginf = 0
    buffer = scratch[:size]
    np.copyto(buffer, values, casting="unsafe")
    total = float(buffer.sum())
    if is_float and not math.isfinite(total):  # some NaN or Inf (or a float64 sum overflowed)
        nan = int(np.count_nonzero(np.isnan(values)))
        posinf = int(np.count_nonzero(values == np.inf))
        neginf = int(np.count_nonzero(values == -np.inf))
        values = values[np.isfinite(values)]
        buffer = scratch[: values.size]
        np.copyto(buffer, values)
        total = float(buffer.sum())
    finite = values.size
    if finite == 0:
        return _Moments(size, 0, nan, posinf, neginf)
    low, high = values.min().item(), values.max().item()
    scale = 1.0
    if not math.isfinite(total):  # float64 overflow of huge values: work in units of max |x|
        scale = max(abs(low), abs(high))
        buffer /= scale
        total = float(buffer.sum())
    mean = total / finite
    buffer -= mean
    # The rounded mean is off by up to half an ulp, which matters when it is large against the
    # spread (values ~1e9, std ~1); what the centred values still sum to corrects it.
    residual = float(buffer.sum())
    np.square(buffer, out=buffer)
    variance = max(float(buffer.sum()) - residual * residual / finite, 0.0) / finite
    zeros = int(np.count_nonzero(values == 0))
    return _Moments(
        size,
        finite,
        nan,
        posinf,
        neginf,
        zeros,
        mean * scale,
        residual / finite * scale,
        variance * scale * scale,
        low,
        high,
    )


def _moments_task(measured: _Measured) -> Callable[[np.ndarray], list[_Moments]]:
    def task(chunk: np.ndarray) -> list[_Moments]:
        scratch = np.empty(min(chunk.size, BLOCK_ELEMENTS), dtype=np.float64)
        return [
            _block_moments(measured.convert(block), measured.is_float, scratch)
            for block in _blocks(chunk)
        ]

    return task


def _merge_moments(parts: list[_Moments], measured: _Measured, quantiles: dict) -> TensorStats:
    count = sum(p.size for p in parts)
    finite = sum(p.finite for p in parts)
    counts = {
        "count": count,
        "finite_count": finite,
        "nan_count": sum(p.nan for p in parts),
        "posinf_count": sum(p.posinf for p in parts),
        "neginf_count": sum(p.neginf for p in parts),
        "zero_count": sum(p.zeros for p in parts),
    }
    if finite == 0:
        empty = dict(min=None, max=None, mean=None, std=None, l2_norm=None)
        return TensorStats(**counts, **empty, quantiles=quantiles, measure=measured.measure)
    used = [p for p in parts if p.finite]
    weights = np.array([p.finite for p in used], dtype=np.float64) / finite
    # Block means relative to the first one: the differences of the rounded means are exact, so
    # adding the corrections keeps digits that storing the corrected means would round away.
    reference = used[0].mean
    offsets = np.array([(p.mean - reference) + p.mean_correction for p in used])
    variances = np.array([p.variance for p in used])
    offset = float(np.dot(weights, offsets))
    mean = reference + offset
    # Parallel variance: the blocks' own spread plus the spread of their means around the mean.
    with np.errstate(over="ignore"):  # a variance beyond float64 (|x| ~ 1e154 and up) is inf
        variance = float(np.dot(weights, variances) + np.dot(weights, (offsets - offset) ** 2))
    l2_norm = math.sqrt(finite) * math.sqrt(variance + mean * mean)
    return TensorStats(
        **counts,
        min=min(p.low for p in used),  # type: ignore[type-var]
        max=max(p.high for p in used),  # type: ignore[type-var]
        mean=mean,
        std=math.sqrt(variance),
        l2_norm=None if measured.measure == "length" else l2_norm,
        quantiles=quantiles,
        measure=measured.measure,
    )


def compute_stats(
    array: object,
    *,
    quantiles: bool | Sequence[float] = True,
    progress: Progress = None,
    cancel: Cancel = None,
) -> TensorStats:
    """Exact statistics of every element of `array` (see the module docstring for what of).

    `quantiles` is True for QUANTILE_PERCENTS, a sequence of percents, or False to skip them
    (they take about twice as long as the rest; `compute_quantiles` does them later).
    """
    measured = _measured(array)
    percents = QUANTILE_PERCENTS if quantiles is True else tuple(quantiles or ())
    moments_share = 0.2 if percents else 1.0
    parts = _run_chunks(
        measured.flat, _moments_task(measured), _scaled(progress, 0.0, moments_share), cancel
    )
    blocks = [block for chunk in parts for block in chunk]
    values = {}
    if percents:
        values = _quantiles(measured, percents, _scaled(progress, moments_share, 1.0), cancel)
    return _merge_moments(blocks, measured, values)


# -- histograms -------------------------------------------------------------------------------


def histogram(
    array: object,
    bins: int = 100,
    *,
    value_range: tuple[float, float] | None = None,
    stats: TensorStats | None = None,
    progress: Progress = None,
    cancel: Cancel = None,
) -> Histogram:
    """The exact histogram of the finite values of `array` over `bins` equal bins.

    Equal to `np.histogram(finite_values, bins, range=value_range)`, with the values in float32
    for float16/bfloat16/float8 tensors, |z| for complex, byte lengths for strings. Without
    `value_range` the bins span min..max; pass the `stats` of the same array to skip finding them.
    If the range is too narrow for `bins` distinct edges in the values' precision, the edges are
    made in float64, and failing that there are fewer bins.
    """
    measured = _measured(array)
    share = 0.0
    if value_range is None and stats is None:
        share = 0.25
        stats = compute_stats(
            array, quantiles=False, progress=_scaled(progress, 0.0, share), cancel=cancel
        )
    low = high = None
    if value_range is None and stats is not None:
        low, high = stats.min, stats.max
    edges = _bin_edges(measured.value_dtype, int(bins), value_range, low, high)
    parts = _run_chunks(
        measured.flat, _histogram_task(measured, edges), _scaled(progress, share, 1.0), cancel
    )
    return _merge_histogram(parts, edges, measured, measured.flat.size)


def quick_histogram(
    array: object,
    bins: int = 100,
    *,
    sample: int = 1_000_000,
    value_range: tuple[float, float] | None = None,
) -> Histogram:
    """A histogram of about `sample` values, for a first picture of a big tensor.

    The sample is evenly spaced runs of consecutive elements rather than every k-th element:
    a stride can line up with a row length and see a single column, and runs touch far fewer
    pages of a memory-mapped file. `counted` says how many values were looked at.
    """
    measured = _measured(array)
    picked = _sample(measured.flat, max(int(sample), 1))
    stats = compute_stats(picked, quantiles=False) if value_range is None else None
    sampled = histogram(picked, bins, value_range=value_range, stats=stats)
    return Histogram(
        sampled.counts,
        sampled.edges,
        sampled.nan_count,
        sampled.posinf_count,
        sampled.neginf_count,
        sampled.outside_count,
        counted=picked.size,
        total=measured.flat.size,
        measure=measured.measure,
    )


def _sample(flat: np.ndarray, size: int, run: int = 1024) -> np.ndarray:
    if flat.size <= size:
        return flat
    runs = max(1, size // run)
    run = size // runs
    starts = np.linspace(0, flat.size - run, runs).astype(np.int64)
    return np.concatenate([flat[start : start + run] for start in starts])


def _bin_edges(
    value_dtype: np.dtype,
    bins: int,
    value_range: tuple[float, float] | None,
    low: float | int | None,
    high: float | int | None,
) -> np.ndarray:
    """numpy's own edges for values of `value_dtype` spanning low..high (or `value_range`)."""
    if bins < 1:
        raise ValueError(f"the number of bins must be positive, not {bins}")
    if value_range is None and low is not None:
        probe = np.array([low, high], dtype=value_dtype)
    else:
        probe = np.empty(0, dtype=value_dtype)  # numpy then uses value_range, or 0..1 if None
    for dtype in (probe.dtype, np.dtype(np.float64)):
        try:
            return np.histogram_bin_edges(probe.astype(dtype), bins, range=value_range)
        except ValueError as error:
            if "Too many bins" not in str(error):  # a bad value_range: say so
                raise
    while bins > 1:
        bins //= 2
        try:
            return np.histogram_bin_edges(probe.astype(np.float64), bins, range=value_range)
        except ValueError:
            continue
    # A single huge value (1e20 +- 0.5 is 1e20 again): one bin just around it.
    center = float(value_range[0] if value_range is not None else low or 0.0)
    return np.array([np.nextafter(center, -np.inf), np.nextafter(center, np.inf)])


def _histogram_task(measured: _Measured, edges: np.ndarray):
    sort_dtype = np.result_type(edges.dtype, measured.work_dtype)
    below = np.concatenate([edges[:-1], [np.inf]]).astype(sort_dtype)  # counted with x < needle
    at_or_below = np.array([-np.inf, edges[-1], np.inf], dtype=sort_dtype)  # with x <= needle

    def task(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        buffer = np.empty(min(chunk.size, BLOCK_ELEMENTS), dtype=sort_dtype)
        less = np.zeros(below.size, dtype=np.int64)
        less_equal = np.zeros(at_or_below.size, dtype=np.int64)
        for block in _blocks(chunk):
            ordered = _sorted_block(measured.convert(block), buffer)
            less += np.searchsorted(ordered, below, "left")
            less_equal += np.searchsorted(ordered, at_or_below, "right")
        return less, less_equal

    return task


def _merge_histogram(parts, edges: np.ndarray, measured: _Measured, total: int) -> Histogram:
    less = sum((p[0] for p in parts), np.zeros(edges.size, dtype=np.int64))
    less_equal = sum((p[1] for p in parts), np.zeros(3, dtype=np.int64))
    neginf, in_last_edge, not_nan = (int(v) for v in less_equal)
    counts = np.diff(np.append(less[:-1], in_last_edge)).astype(np.int64)
    finite_end = int(less[-1])  # values < +inf
    return Histogram(
        counts=counts,
        edges=edges,
        nan_count=total - not_nan,
        posinf_count=not_nan - finite_end,
        neginf_count=neginf,
        outside_count=(int(less[0]) - neginf) + (finite_end - in_last_edge),
        counted=total,
        total=total,
        measure=measured.measure,
    )


# -- quantiles --------------------------------------------------------------------------------


def compute_quantiles(
    array: object,
    percents: Sequence[float] = QUANTILE_PERCENTS,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
) -> dict[float, float]:
    """Exact quantiles (percent -> value) of the finite values, equal to `np.percentile`'s
    default 'linear' method; integers are interpolated in float64. Empty if nothing is finite."""
    return _quantiles(_measured(array), tuple(percents), progress, cancel)


def _quantiles(measured: _Measured, percents: tuple, progress: Progress, cancel: Cancel) -> dict:
    if any(not 0 <= p <= 100 for p in percents):
        raise ValueError(f"percents must lie in 0..100, not {percents}")
    fractions = np.asarray(percents, dtype=np.float64) / 100
    flat = measured.flat
    if flat.size <= DIRECT_QUANTILE_LIMIT:
        values = measured.convert(flat).astype(measured.work_dtype)
        if measured.is_float:
            values = values[np.isfinite(values)]
        _report(1.0, progress, cancel)
        if values.size == 0:
            return {}
        return dict(zip(percents, np.quantile(values, fractions).tolist(), strict=True))
    pivots = _pivots(measured)
    counted = _run_chunks(
        flat, _pivot_count_task(measured, pivots), _scaled(progress, 0.0, 0.5), cancel
    )
    finite = sum(c[0] for c in counted)
    if finite == 0:
        return {}
    less = sum(c[1] for c in counted)
    less_equal = sum(c[2] for c in counted)
    # The ranks np.quantile interpolates between (its _get_indexes: at the top, the last value).
    virtual = (finite - 1) * fractions
    previous = np.minimum(np.floor(virtual), finite - 1).astype(np.int64)
    following = np.minimum(previous + 1, finite - 1)
    order = _order_statistics(
        measured, pivots, less, less_equal, {*previous.tolist(), *following.tolist()},
        _scaled(progress, 0.5, 1.0), cancel,
    )  # fmt: skip
    low = np.array([order[r] for r in previous.tolist()], dtype=measured.work_dtype)
    high = np.array([order[r] for r in following.tolist()], dtype=measured.work_dtype)
    gamma = virtual - np.where(virtual >= finite - 1, -1, previous)  # as numpy computes it
    return dict(zip(percents, _numpy_lerp(low, high, gamma).tolist(), strict=True))


def _numpy_lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's `_lerp` step for step (it is private), so results match np.quantile bit for bit."""
    difference = b - a
    result = np.add(a, difference * t)
    np.subtract(b, difference * (1 - t), out=result, where=t >= 0.5, casting="unsafe")
    return result


def _pivots(measured: _Measured) -> np.ndarray:
    sample = measured.convert(_sample(measured.flat, PIVOT_SAMPLE)).astype(measured.work_dtype)
    sample = np.unique(sample[np.isfinite(sample)])  # sorted
    if sample.size > PIVOTS:
        sample = np.unique(sample[np.linspace(0, sample.size - 1, PIVOTS).astype(np.int64)])
    return sample


def _pivot_count_task(measured: _Measured, pivots: np.ndarray):
    def task(chunk: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        buffer = np.empty(min(chunk.size, BLOCK_ELEMENTS), dtype=measured.work_dtype)
        finite = 0
        less = np.zeros(pivots.size, dtype=np.int64)
        less_equal = np.zeros(pivots.size, dtype=np.int64)
        for block in _blocks(chunk):
            values = _finite_part(_sorted_block(measured.convert(block), buffer))
            finite += values.size
            less += np.searchsorted(values, pivots, "left")
            less_equal += np.searchsorted(values, pivots, "right")
        return finite, less, less_equal

    return task


def _order_statistics(
    measured: _Measured,
    pivots: np.ndarray,
    less: np.ndarray,
    less_equal: np.ndarray,
    ranks: set[int],
    progress: Progress,
    cancel: Cancel,
) -> dict[int, float]:
    """The value of each 0-based `rank` among the finite values, from the counts at the pivots."""
    found: dict[int, float] = {}
    wanted: dict[int, list[int]] = {}  # gap j (between pivots j-1 and j) -> ranks inside it
    for rank in sorted(ranks):
        gap = int(np.searchsorted(less_equal, rank, "right"))  # first pivot with more at/below
        if gap < pivots.size and less[gap] <= rank:
            found[rank] = pivots[gap].item()  # the rank falls on a run of values equal to it
        else:
            wanted.setdefault(gap, []).append(rank)
    if wanted:
        collected = _run_chunks(
            measured.flat, _gap_task(measured, pivots, sorted(wanted)), progress, cancel
        )
        for gap, ranks_in_gap in wanted.items():
            values = np.concatenate([chunk[gap] for chunk in collected])
            before = int(less_equal[gap - 1]) if gap > 0 else 0
            offsets = [rank - before for rank in ranks_in_gap]
            values.partition(offsets)
            found.update({rank: values[rank - before].item() for rank in ranks_in_gap})
    elif progress is not None:
        progress(1.0)
    return found


def _gap_task(measured: _Measured, pivots: np.ndarray, gaps: list[int]):
    """Collect the values strictly between the pivots around each gap."""

    def task(chunk: np.ndarray) -> dict[int, np.ndarray]:
        buffer = np.empty(min(chunk.size, BLOCK_ELEMENTS), dtype=measured.work_dtype)
        pieces: dict[int, list[np.ndarray]] = {gap: [] for gap in gaps}
        for block in _blocks(chunk):
            values = _finite_part(_sorted_block(measured.convert(block), buffer))
            for gap in gaps:
                start = np.searchsorted(values, pivots[gap - 1], "right") if gap > 0 else 0
                stop = np.searchsorted(values, pivots[gap], "left") if gap < pivots.size else None
                pieces[gap].append(values[start:stop].copy())
        return {
            gap: np.concatenate(parts) if parts else np.empty(0, measured.work_dtype)
            for gap, parts in pieces.items()
        }

    return task
