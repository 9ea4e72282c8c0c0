"""Exact statistics and histograms of whole tensors, fast enough for an interactive view.

Nothing is sampled except in `quick_histogram`; the work runs in parallel chunks with progress and
cancel (see `chunked`, which also says what is measured of strings, complex and low-precision
values). NaN and infinities are counted and left out of everything else.

- Moments: each cache-sized block gives count, mean and variance (two passes over the block, in
  float64); blocks merge with the parallel-variance formula, so no sum of squares cancels.
- Histogram and quantiles of big tensors: a fine histogram and a look at the few fine bins that
  hold a bin edge or a wanted rank (`fine_histogram`): the counts below numpy's own edges (from
  `np.histogram_bin_edges`), so exactly `np.histogram`'s answer, and the ranks np.quantile
  interpolates between, so exactly its answer too. Small tensors' quantiles: `np.quantile`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ckpt_browser.core.tensor import chunked
from ckpt_browser.core.tensor.chunked import Cancel, Cancelled, Measured, Progress
from ckpt_browser.core.tensor.fine_histogram import FineHistogram, Thresholds
from ckpt_browser.core.tensor.quantiles import (
    QUANTILE_PERCENTS,
    direct_quantiles,
    fractions_of,
    interpolate,
    needs_search,
    quantiles_of,
    rank_pairs,
)

__all__ = [
    "QUANTILE_PERCENTS",
    "Cancelled",
    "FineCounts",
    "Histogram",
    "PartialStats",
    "TensorStats",
    "analyze",
    "compute_quantiles",
    "compute_stats",
    "histogram",
    "partial_stats",
    "quick_histogram",
    "stats_and_fine_counts",
]


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
    quantiles: dict[float, float] = field(default_factory=dict)  # percent -> value; may be empty
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
        zeros=zeros,
        mean=mean * scale,
        mean_correction=residual / finite * scale,
        variance=variance * scale * scale,
        low=low,
        high=high,
    )


def _moments_task(measured: Measured) -> Callable[[np.ndarray], list[_Moments]]:
    def task(chunk: np.ndarray) -> list[_Moments]:
        scratch = np.empty(min(chunk.size, chunked.BLOCK_ELEMENTS), dtype=np.float64)
        return [
            _block_moments(measured.convert(block), measured.is_float, scratch)
            for block in chunked.blocks(chunk)
        ]

    return task


def _moments(measured: Measured, progress: Progress, cancel: Cancel) -> TensorStats:
    """Everything but the quantiles, in one pass."""
    parts = chunked.run_chunks(measured.flat, _moments_task(measured), progress, cancel)
    return _merge_moments([block for chunk in parts for block in chunk], measured.measure)


@dataclass(frozen=True)
class PartialStats:
    """The moments of part of some values (one of several tensors taken as one vector): `merge`
    adds another part, `finish` gives the statistics of all of them (without quantiles)."""

    blocks: tuple[_Moments, ...] = ()
    measure: str = "value"

    def merge(self, other: PartialStats) -> PartialStats:
        if self.blocks and other.blocks and self.measure != other.measure:
            raise ValueError(f"cannot merge statistics of {self.measure} and {other.measure}")
        return PartialStats(
            self.blocks + other.blocks, other.measure if other.blocks else self.measure
        )

    def finish(self) -> TensorStats:
        return _merge_moments(list(self.blocks), self.measure)


def partial_stats(
    array: object, *, progress: Progress = None, cancel: Cancel = None
) -> PartialStats:
    """The moments pass of `compute_stats` over `array`, as a part that merges with others."""
    measured = chunked.measured(array)
    parts = chunked.run_chunks(measured.flat, _moments_task(measured), progress, cancel)
    return PartialStats(tuple(block for chunk in parts for block in chunk), measured.measure)


def _merge_moments(parts: list[_Moments], measure: str) -> TensorStats:
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
        return TensorStats(**counts, **empty, measure=measure)
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
        l2_norm=None if measure == "length" else l2_norm,
        measure=measure,
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
    (they take two more passes; `compute_quantiles` does them later).
    For statistics and a histogram together, `analyze` shares work between them.
    """
    measured = chunked.measured(array)
    percents = QUANTILE_PERCENTS if quantiles is True else tuple(quantiles or ())
    fractions_of(percents)  # a bad percent is an error before any work
    moments_share = 0.3 if percents else 1.0
    stats = _moments(measured, chunked.scaled(progress, 0.0, moments_share), cancel)
    if not percents:
        return stats
    rest = chunked.scaled(progress, moments_share, 1.0)
    _, values, _ = _exact_passes(measured, stats, None, percents, rest, cancel)
    return replace(stats, quantiles=values)


@dataclass(frozen=True)
class FineCounts:
    """The fine histogram the exact quantiles were found with, kept for a picture of the values:
    counts of the finite values in len(counts) equal bins from `low` to `high` (the bin of a value
    computed in the values' own precision, so an edge is exact only to that precision)."""

    counts: np.ndarray  # int64
    low: float
    high: float


def stats_and_fine_counts(
    array: object,
    percents: Sequence[float] = QUANTILE_PERCENTS,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
) -> tuple[TensorStats, FineCounts | None]:
    """`compute_stats(array, quantiles=percents)`, and the fine histogram its quantile passes
    counted anyway (None when there was none: a small tensor, whose quantiles come straight from
    np.quantile, or no finite value). A histogram for the cost of the quantiles alone."""
    measured = chunked.measured(array)
    fractions_of(percents)  # a bad percent is an error before any work
    stats = _moments(measured, chunked.scaled(progress, 0.0, 0.3), cancel)
    rest = chunked.scaled(progress, 0.3, 1.0)
    _, values, fine = _exact_passes(measured, stats, None, percents, rest, cancel)
    counts = None
    if fine is not None and stats.finite_count:
        finite = fine.counts.copy()  # the fine pass counts every value but NaN: take out +-inf
        finite[0] -= stats.neginf_count
        finite[-1] -= stats.posinf_count
        low, high = stats.min, stats.max
        counts = FineCounts(finite, float(low), float(high))  # type: ignore[arg-type]
    return replace(stats, quantiles=values), counts


def compute_quantiles(
    array: object,
    percents: Sequence[float] = QUANTILE_PERCENTS,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
) -> dict[float, float]:
    """Exact quantiles (percent -> value) of the finite values, equal to `np.percentile`'s
    default 'linear' method; integers are interpolated in float64. Empty if nothing is finite."""
    return compute_stats(array, quantiles=percents, progress=progress, cancel=cancel).quantiles


def analyze(
    array: object,
    bins: int = 100,
    *,
    percents: Sequence[float] = QUANTILE_PERCENTS,
    progress: Progress = None,
    cancel: Cancel = None,
) -> tuple[TensorStats, Histogram]:
    """`compute_stats(array)` and `histogram(array, bins)` with the same results, in three
    passes over the data: the statistics, the fine histogram (which also collects the values
    next to the bin edges: the exact histogram), and the values of the few fine bins that hold
    the ranks of the quantiles."""
    measured = chunked.measured(array)
    stats = _moments(measured, chunked.scaled(progress, 0.0, 0.3), cancel)
    edges = _bin_edges(measured.value_dtype, int(bins), None, stats.min, stats.max)
    rest = chunked.scaled(progress, 0.3, 1.0)
    exact, values, _ = _exact_passes(measured, stats, edges, percents, rest, cancel)
    assert exact is not None
    return replace(stats, quantiles=values), exact


def _exact_passes(
    measured: Measured,
    stats: TensorStats | None,
    edges: np.ndarray | None,
    percents: Sequence[float],
    progress: Progress,
    cancel: Cancel,
) -> tuple[Histogram | None, dict[float, float], FineHistogram | None]:
    """The exact histogram over `edges` (if any) and quantiles (if any percents) from a fine
    histogram, and that fine histogram (None when none was needed). Without `stats` (a histogram
    over a given range) the grid spans the edges."""
    search = bool(percents) and needs_search(measured) and stats is not None
    values = {}
    if percents and not search:
        values = direct_quantiles(measured, percents, None, cancel)
    finite = stats.finite_count if stats is not None else None
    if edges is None and (not search or not finite):
        chunked.report(1.0, progress, cancel)
        return None, values, None
    if stats is not None and stats.finite_count:
        low, high = stats.min, stats.max
        if edges is not None:
            low, high = min(low, edges[0].item()), max(high, edges[-1].item())
    else:
        assert edges is not None
        low, high = edges[0].item(), edges[-1].item()
    fine = FineHistogram(
        measured,
        low,
        high,
        has_nan=stats is None or stats.nan_count > 0,
        zeros=stats.zero_count if stats is not None else 0,
        edges=edges,
    )
    fine.count(chunked.scaled(progress, 0.0, 0.5), cancel)
    ranks: list[int] = []
    if search and finite:
        assert stats is not None
        pairs = rank_pairs(fractions_of(percents), finite)
        ranks = sorted({stats.neginf_count + r for pair in pairs for r in pair.tolist()})
    if edges is not None:
        below, at_or_below = _histogram_needles(edges)
        thresholds = Thresholds(below, at_or_below[:2])
    else:
        thresholds = Thresholds(np.empty(0), np.empty(0))
    resolved = fine.resolve(thresholds, ranks, chunked.scaled(progress, 0.5, 1.0), cancel)
    exact = None
    if edges is not None:
        not_nan = int(fine.counts.sum())
        less_equal = np.append(resolved.at_or_below, not_nan)
        exact = _histogram_from_counts(resolved.less, less_equal, edges, measured)
    if search and finite:
        assert stats is not None
        if resolved.unresolved:  # millions of distinct values in one fine bin: search by pivots
            values = quantiles_of(measured, percents, None, cancel)
        else:
            offset = stats.neginf_count
            order = {rank - offset: value for rank, value in resolved.order.items()}
            values = interpolate(percents, finite, order, measured.work_dtype)
    return exact, values, fine


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
    measured = chunked.measured(array)
    share = 0.0
    if value_range is None and stats is None:
        share = 0.3
        stats = _moments(measured, chunked.scaled(progress, 0.0, share), cancel)
    low = high = None
    if value_range is None and stats is not None:
        low, high = stats.min, stats.max
    edges = _bin_edges(measured.value_dtype, int(bins), value_range, low, high)
    rest = chunked.scaled(progress, share, 1.0)
    exact, _, _ = _exact_passes(measured, stats, edges, (), rest, cancel)
    assert exact is not None
    return exact


def quick_histogram(
    array: object,
    bins: int = 100,
    *,
    sample: int = 1_000_000,
    value_range: tuple[float, float] | None = None,
) -> Histogram:
    """A histogram of about `sample` values, for a first picture of a big tensor.

    The sample is evenly spaced runs of consecutive elements (`chunked.sample` says why);
    `counted` says how many values were looked at, `exact` whether that was all of them.
    """
    measured = chunked.measured(array)
    picked = chunked.sample(measured.flat, max(int(sample), 1))
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


def _histogram_needles(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Needles for `chunked.count_pass`: counts < each edge but the last, and < +inf; counts
    <= -inf, <= the last edge (the last bin includes it), and <= +inf (all but NaN)."""
    infinity = np.array([np.inf], dtype=edges.dtype)
    below = np.concatenate([edges[:-1], infinity])
    at_or_below = np.concatenate([-infinity, edges[-1:], infinity])
    return below, at_or_below


def _histogram_from_counts(
    less: np.ndarray, less_equal: np.ndarray, edges: np.ndarray, measured: Measured
) -> Histogram:
    total = measured.flat.size
    less = less[: edges.size]
    negative_infinities, up_to_last_edge, not_nan = (int(v) for v in less_equal[:3])
    counts = np.diff(np.append(less[:-1], up_to_last_edge)).astype(np.int64)
    finite_end = int(less[-1])  # values < +inf
    return Histogram(
        counts=counts,
        edges=edges,
        nan_count=total - not_nan,
        posinf_count=not_nan - finite_end,
        neginf_count=negative_infinities,
        outside_count=(int(less[0]) - negative_infinities) + (finite_end - up_to_last_edge),
        counted=total,
        total=total,
        measure=measured.measure,
    )
