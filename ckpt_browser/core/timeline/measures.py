"""The numbers of one subject in one checkpoint: statistics, exact quantiles and a histogram that
can be re-binned onto bins shared by every step.

Everything comes from `core.tensor.stats.stats_and_fine_counts`, whose passes (moments, a fine
histogram, the few fine bins holding the wanted ranks) run in parallel chunks with progress and
cancel. A scope's parameters are taken as one vector: copied into one array when they fit
COPY_LIMIT_BYTES; above that only their moments are merged (no quantiles or histogram), so memory
stays bounded.

Shared bins: a step's histogram is kept with STORED_BINS equal bins over its own min..max: the
fine histogram the quantile search counts anyway, summed in groups (a histogram at no cost of its
own; for a small tensor, np.histogram). The distribution view wants bins over the range of all
steps, known only once every step has been read, and moving when a run grows. Re-binning a stored
histogram costs nothing and needs no second pass over the data (nor a recomputation of every
cached step when a new checkpoint widens the range); values are spread evenly within a stored
bin, so a shared bin's count is exact up to the share of the one stored bin that straddles each
of its edges (1/STORED_BINS of that step's range). The quantiles are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ckpt_browser.core.tensor import chunked
from ckpt_browser.core.tensor.chunked import Cancel, Progress
from ckpt_browser.core.tensor.stats import (
    FineCounts,
    PartialStats,
    TensorStats,
    partial_stats,
    stats_and_fine_counts,
)

# The quantile bands of TensorBoard's distribution dashboard: +-1.5, 1, 0.5 sigma of a normal.
TIMELINE_PERCENTS = (0, 7, 16, 31, 50, 69, 84, 93, 100)
# 512 bins over a step's own range (32 fine bins each): re-binning onto a hundred shared bins moves
# a few hundredths of a bin's count, and a cached step stays a few KB.
STORED_BINS = 512
COPY_LIMIT_BYTES = 256 << 20  # a scope's parameters copied into one vector up to this size

STAT_NAMES = (
    "norm",
    "mean",
    "std",
    "min",
    "max",
    "max_abs",
    "zero_share",
    "nan_count",
    "inf_count",
    "count",
)


@dataclass(frozen=True, eq=False)
class StepHistogram:
    """Counts of the finite values in bins over the step's own range (`edges`, increasing)."""

    counts: np.ndarray  # int64
    edges: np.ndarray  # float64, len(counts) + 1

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StepHistogram):
            return NotImplemented
        return np.array_equal(self.counts, other.counts) and np.array_equal(self.edges, other.edges)

    __hash__ = None  # type: ignore[assignment]  (holds arrays)

    def rebinned(self, edges: np.ndarray) -> np.ndarray:
        """Counts (float64) in the bins `edges`, values spread evenly within each stored bin."""
        cumulative = np.concatenate([[0.0], np.cumsum(self.counts, dtype=np.float64)])
        return np.diff(np.interp(edges, self.edges, cumulative))


@dataclass(frozen=True)
class StepStats:
    """The statistics of one subject at one step (None where nothing is finite)."""

    count: int
    nan_count: int
    inf_count: int
    zero_share: float | None
    norm: float | None
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    max_abs: float | None
    quantiles: dict[float, float] = field(default_factory=dict)  # percent -> value; may be empty
    histogram: StepHistogram | None = None  # None above COPY_LIMIT_BYTES
    measure: str = "value"  # as TensorStats: "value", or "magnitude" for complex values

    def value(self, name: str) -> float | int | None:
        """One statistic by its name in STAT_NAMES."""
        if name not in STAT_NAMES:
            raise ValueError(f"unknown statistic {name!r}; known: {', '.join(STAT_NAMES)}")
        return getattr(self, name)

    @property
    def nonfinite_count(self) -> int:
        return self.nan_count + self.inf_count

    @classmethod
    def of(cls, stats: TensorStats, histogram: StepHistogram | None) -> StepStats:
        low, high = stats.min, stats.max
        return cls(
            count=stats.count,
            nan_count=stats.nan_count,
            inf_count=stats.posinf_count + stats.neginf_count,
            zero_share=stats.zero_count / stats.count if stats.count else None,
            norm=stats.l2_norm,
            mean=stats.mean,
            std=stats.std,
            min=_number(low),
            max=_number(high),
            max_abs=None if low is None or high is None else max(abs(low), abs(high)),
            quantiles=dict(stats.quantiles),
            histogram=histogram,
            measure=stats.measure,
        )

    def to_record(self) -> dict:
        """A JSON-ready dict (the cache's and the command line's form)."""
        record: dict = {name: self.value(name) for name in STAT_NAMES}
        record["quantiles"] = {_percent_key(p): v for p, v in self.quantiles.items()}
        record["measure"] = self.measure
        if self.histogram is not None:
            record["histogram"] = {
                "counts": self.histogram.counts.tolist(),
                "edges": self.histogram.edges.tolist(),
            }
        return record

    @classmethod
    def from_record(cls, record: dict) -> StepStats:
        histogram = None
        if record.get("histogram"):
            histogram = StepHistogram(
                np.asarray(record["histogram"]["counts"], dtype=np.int64),
                np.asarray(record["histogram"]["edges"], dtype=np.float64),
            )
        values = {name: record[name] for name in STAT_NAMES}
        quantiles = {float(p): v for p, v in record.get("quantiles", {}).items()}
        return cls(**values, quantiles=quantiles, histogram=histogram, measure=record["measure"])


def _number(value: float | int | None) -> float | None:
    return None if value is None else float(value)


def _percent_key(percent: float) -> str:
    return f"{percent:g}"


def measure_arrays(
    arrays: list[np.ndarray], *, progress: Progress = None, cancel: Cancel = None
) -> StepStats:
    """The statistics of `arrays` taken as one vector (flattened, in order)."""
    nbytes = sum(array.nbytes for array in arrays)
    if len(arrays) == 1 or nbytes <= COPY_LIMIT_BYTES:
        values = arrays[0] if len(arrays) == 1 else _concatenate(arrays)
        stats, fine = stats_and_fine_counts(
            values, TIMELINE_PERCENTS, progress=progress, cancel=cancel
        )
        return StepStats.of(stats, _stored_histogram(values, stats, fine))
    merged = PartialStats()
    done = 0
    for array in arrays:
        share = chunked.scaled(progress, done / nbytes, (done + array.nbytes) / nbytes)
        merged = merged.merge(partial_stats(array, progress=share, cancel=cancel))
        done += array.nbytes
    return StepStats.of(merged.finish(), None)


def _stored_histogram(
    values: np.ndarray, stats: TensorStats, fine: FineCounts | None
) -> StepHistogram | None:
    """STORED_BINS bins over min..max: the quantile search's fine bins summed in groups (no pass
    of its own), or for a small tensor np.histogram itself."""
    if not stats.finite_count:
        return None
    low, high = float(stats.min), float(stats.max)  # type: ignore[arg-type]
    if fine is not None and high > low and fine.counts.size % STORED_BINS == 0:
        counts = fine.counts.reshape(STORED_BINS, -1).sum(axis=1)
        return StepHistogram(counts.astype(np.int64), np.linspace(low, high, STORED_BINS + 1))
    if fine is not None and high == low:  # one value: numpy's bins around it, all in the middle
        edges = np.histogram_bin_edges(np.array([low, high]), STORED_BINS)
        counts = np.zeros(STORED_BINS, np.int64)
        counts[STORED_BINS // 2] = stats.finite_count
        return StepHistogram(counts, edges)
    measured = chunked.measured(values)
    numbers = measured.convert(measured.flat)
    if measured.is_float:
        numbers = numbers[np.isfinite(numbers)]
    counts, edges = np.histogram(numbers, STORED_BINS)
    return StepHistogram(counts.astype(np.int64), edges.astype(np.float64))


def _concatenate(arrays: list[np.ndarray]) -> np.ndarray:
    """One flat vector of what is measured of each array (bfloat16 as float32 ...)."""
    parts = []
    for array in arrays:
        measured = chunked.measured(array)
        parts.append(measured.convert(measured.flat))
    return np.concatenate(parts) if parts else np.empty(0, np.float32)


def shared_edges(histograms: list[StepHistogram], bins: int) -> np.ndarray | None:
    """`bins` equal bins over the range of all the histograms; None when there are none."""
    if not histograms:
        return None
    low = min(float(h.edges[0]) for h in histograms)
    high = max(float(h.edges[-1]) for h in histograms)
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        high = low + 1.0
    return np.linspace(low, high, int(bins) + 1)
