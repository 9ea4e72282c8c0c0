"""Exact histogram counts and order statistics: a fine histogram, then a look at a few of its bins.

The values are first counted in FINE_BINS equal bins between two values, by a multiply and
`np.bincount` (no sort, no search). The bin of a value is a monotone function of the value, so the
values below any threshold are all of the bins before the threshold's own bin plus some of the
values in that bin; likewise a rank (the k-th smallest value) lies in one bin that the cumulative
counts name. A second pass collects the values of just those bins (a few thousandths of the
tensor), where the exact answers are found: counts below each histogram edge, and the ranks by
`np.partition`. Both passes run on cache-sized blocks in a few threads (see `chunked`).

A bin too crowded to collect (a tensor that is mostly one value) is looked at without collecting:
its values below each threshold are counted, and its smallest and largest values tell a rank when
they are equal. The zeros of a mostly-zero tensor are left out of the collection, as their count is
known. What is still unknown after that (millions of distinct values within 1/FINE_BINS of the
range) is reported as such and left to the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ckpt_browser.core.tensor import chunked
from ckpt_browser.core.tensor.chunked import Cancel, Measured, Progress

# 16 K bins: their int64 counts (128 KB) stay in the L2 cache beside a 64 K-value block, and a
# bin of a 67M-element normal tensor holds ~20 K values at most, cheap to collect and partition.
FINE_BINS = 1 << 14
COLLECT_LIMIT = 1 << 21  # a bin holding more values than this is looked at without collecting
ALIGNED_MIN_PERIOD = 8  # fewer fine bins per histogram bin would collect a quarter of the values


class FineGrid:
    """The monotone map value -> fine bin over [low, high]; values outside go to the end bins."""

    def __init__(
        self, measured: Measured, low: float, high: float, bins: int | None = None
    ) -> None:
        self.measured = measured
        self.bins = bins = bins or FINE_BINS
        f32 = np.dtype(np.float32)
        dtype = f32 if measured.value_dtype == f32 else np.dtype(np.float64)
        with np.errstate(all="ignore"):
            span = dtype.type(high) - dtype.type(low)
            norm = dtype.type(bins) / span if span > 0 else dtype.type(0)
        if dtype == f32 and not (np.isfinite(span) and np.isfinite(norm)):
            dtype = np.dtype(np.float64)  # float32 would overflow: a range near float32's limits
            with np.errstate(all="ignore"):
                span = np.float64(high) - np.float64(low)
                norm = np.float64(bins) / span if span > 0 else np.float64(0)
        if not np.isfinite(norm):  # a range of a few float64 ulps: everything in one bin
            norm = dtype.type(0)
        self.dtype = dtype
        self.low = dtype.type(low)
        self.norm = dtype.type(norm)

    def bins_of(self, values: np.ndarray, scratch: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The fine bin of each (non-NaN) value, in a view of `out` (int32)."""
        size = values.size
        if self.norm == 0:  # one bin (and inf * 0 would be NaN)
            out[:size] = 0
            return out[:size]
        shifted = scratch[:size]
        np.subtract(values, self.low, out=shifted, casting="unsafe")
        np.multiply(shifted, self.norm, out=shifted)
        np.clip(shifted, 0, self.bins - 1, out=shifted)
        bins = out[:size]
        np.copyto(bins, shifted, casting="unsafe")  # truncation: the floor of values >= 0
        return bins

    def bin_of(self, value: float) -> int:
        """The bin of one value, by the very same arithmetic as `bins_of`."""
        one = np.array([value], dtype=self.dtype)
        return int(self.bins_of(one, np.empty(1, self.dtype), np.empty(1, np.int32))[0])


@dataclass
class PartialFineCounts:
    """Fine-bin counts over part of a tensor; `merge` adds another part."""

    counts: np.ndarray

    def merge(self, other: PartialFineCounts) -> None:
        self.counts += other.counts


@dataclass
class PartialBinValues:
    """What the second pass saw of the chosen bins over part of a tensor; `merge` adds a part.

    `values`/`bins`: the collected values and their bins. For each crowded bin: how many of its
    values lie below each of its thresholds, and its smallest and largest value.
    """

    values: list[np.ndarray] = field(default_factory=list)
    bins: list[np.ndarray] = field(default_factory=list)
    below: dict[tuple[int, np.generic, bool], int] = field(default_factory=dict)
    extremes: dict[int, tuple[float, float]] = field(default_factory=dict)

    def merge(self, other: PartialBinValues) -> None:
        self.values += other.values
        self.bins += other.bins
        for key, count in other.below.items():
            self.below[key] = self.below.get(key, 0) + count
        for bin_, (low, high) in other.extremes.items():
            if bin_ in self.extremes:
                low, high = min(low, self.extremes[bin_][0]), max(high, self.extremes[bin_][1])
            self.extremes[bin_] = (low, high)


@dataclass(frozen=True)
class Thresholds:
    """Values to count below: `less` (how many values are < each) and `at_or_below` (<=)."""

    less: np.ndarray
    at_or_below: np.ndarray


@dataclass(frozen=True)
class Resolved:
    """The exact answers of `FineHistogram.resolve`."""

    less: np.ndarray  # int64, one per `Thresholds.less`
    at_or_below: np.ndarray  # int64, one per `Thresholds.at_or_below`
    order: dict[int, float]  # rank (0-based among non-NaN values, -inf first) -> value
    unresolved: frozenset[int]  # ranks in crowded bins of distinct values


class FineHistogram:
    """Counts of a tensor's non-NaN values in the bins of a `FineGrid`, and exact answers from them.

    `has_nan` says whether blocks must drop NaN first (the statistics pass knows); `zeros` is the
    exact count of zeros: when they are many they are never collected, as their count is known.

    With `edges` (numpy's histogram edges, equally spaced) the grid has a power of two of fine bins
    per histogram bin over exactly their range, so that each edge falls into a fine bin next to a
    multiple of that power: the counting pass itself collects those bins (a test on the bin
    number, no lookup), and a histogram needs no second pass.
    """

    def __init__(
        self,
        measured: Measured,
        low: float,
        high: float,
        *,
        has_nan: bool,
        zeros: int,
        edges: np.ndarray | None = None,
    ) -> None:
        self.measured = measured
        self.period = 0  # with edges: fine bins per histogram bin
        if edges is not None and edges.size > 1:
            period = 1 << max(0, (FINE_BINS // (edges.size - 1)).bit_length() - 1)
            if period >= ALIGNED_MIN_PERIOD:
                self.period = period
                low, high = edges[0].item(), edges[-1].item()
        bins = self.period * (edges.size - 1) if self.period else FINE_BINS
        self.grid = FineGrid(measured, low, high, bins)
        if self.period and not self._edges_aligned(edges):
            self.period = 0
        self.has_nan = has_nan
        self.zeros = zeros
        self.skip_zeros = zeros > COLLECT_LIMIT
        self.counts = np.zeros(self.grid.bins, dtype=np.int64)
        self.collected: PartialBinValues | None = None  # what the counting pass collected

    def _edges_aligned(self, edges: np.ndarray) -> bool:
        period = self.period
        bins = np.array([self.grid.bin_of(edge) for edge in edges.tolist()])
        return bool(np.all(self._periodic(bins, period)))

    @staticmethod
    def _periodic(bins: np.ndarray, period: int) -> np.ndarray:
        """Whether each bin is next to a multiple of `period` (k*period - 1 or k*period)."""
        return np.bitwise_and(bins + 1, period - 1) <= 1

    def _blocks(self, chunk: np.ndarray):
        """(values, bins) of each block of `chunk`, NaN left out."""
        size = min(chunk.size, chunked.BLOCK_ELEMENTS)
        scratch = np.empty(size, dtype=self.grid.dtype)
        bins = np.empty(size, dtype=np.int32)
        for block in chunked.blocks(chunk):
            values = self.measured.convert(block)
            if self.has_nan:
                values = values[~np.isnan(values)]
            yield values, self.grid.bins_of(values, scratch, bins)

    def count(self, progress: Progress, cancel: Cancel) -> None:
        """The first pass: fill `counts` (and collect the edges' bins, see the class)."""
        period, nbins = self.period, self.grid.bins

        def task(chunk: np.ndarray) -> tuple[PartialFineCounts, PartialBinValues | None]:
            part = PartialFineCounts(np.zeros(nbins, dtype=np.int64))
            seen: PartialBinValues | None = PartialBinValues() if period else None
            kept = 0
            for values, bins in self._blocks(chunk):
                part.counts += np.bincount(bins, minlength=nbins)
                if seen is None:
                    continue
                chosen = self._periodic(bins, period)
                if self.skip_zeros:
                    chosen &= values != 0
                # A few percent are chosen: their positions once, then two small takes
                # (a boolean index per array would go through every element twice).
                where = np.flatnonzero(chosen)
                seen.values.append(values.take(where))
                seen.bins.append(bins.take(where))
                kept += seen.values[-1].size
                if kept > max(chunk.size // 4, 4096):  # crowded edge bins: the second pass
                    seen = None
            return part, seen

        total = PartialFineCounts(np.zeros(nbins, dtype=np.int64))
        collected: PartialBinValues | None = PartialBinValues() if period else None
        for part, seen in chunked.run_chunks(self.measured.flat, task, progress, cancel):
            total.merge(part)
            if collected is not None and seen is not None:
                collected.merge(seen)
            else:
                collected = None
        self.counts = total.counts
        self.collected = collected

    def resolve(
        self, thresholds: Thresholds, ranks: Sequence[int], progress: Progress, cancel: Cancel
    ) -> Resolved:
        """Exact counts below the thresholds and the values of the ranks (a second pass over the
        data only for bins the counting pass did not collect)."""
        grid, counts = self.grid, self.counts
        # Thresholds stay numpy scalars of their own dtype: compared with float32 values they
        # promote them to float64 where they are float64, as np.histogram's comparisons do.
        below_keys = [(grid.bin_of(v), v, False) for v in thresholds.less]
        below_keys += [(grid.bin_of(v), v, True) for v in thresholds.at_or_below]
        cumulative = np.concatenate([[0], np.cumsum(counts)])
        rank_bins = {r: int(np.searchsorted(cumulative, r, "right")) - 1 for r in ranks}
        wanted = {key[0] for key in below_keys} | set(rank_bins.values())
        zero_bin = grid.bin_of(0.0) if self.skip_zeros else -1
        seen = PartialBinValues()
        if self.collected is not None:
            seen = self.collected
            have = np.array(sorted(wanted), dtype=np.int64)
            wanted -= set(have[self._periodic(have, self.period)].tolist())
        if wanted:
            seen.merge(self._collect(wanted, below_keys, zero_bin, progress, cancel))
        else:
            chunked.report(1.0, progress, cancel)
        return self._answers(seen, below_keys, cumulative, rank_bins, zero_bin)

    def _collect(
        self,
        wanted: set[int],
        below_keys: list[tuple[int, np.generic, bool]],
        zero_bin: int,
        progress: Progress,
        cancel: Cancel,
    ) -> PartialBinValues:
        """The pass over the data for the `wanted` bins: their values, or for a bin too crowded
        to collect, its counts below the thresholds in it and its smallest and largest value."""
        counts = self.counts
        zeros_of = {zero_bin: self.zeros} if zero_bin >= 0 else {}
        crowded = {b for b in wanted if counts[b] - zeros_of.get(b, 0) > COLLECT_LIMIT}
        crowded_keys = [key for key in below_keys if key[0] in crowded]
        few = sorted(wanted - crowded)
        collect = np.zeros(self.grid.bins, dtype=bool)
        collect[few] = True
        skip_zeros = self.skip_zeros

        def chosen_of(bins: np.ndarray) -> np.ndarray:
            if len(few) > 8:
                return collect[bins]
            chosen = np.zeros(bins.size, dtype=bool)
            for bin_ in few:  # a few comparisons cost less than the lookup
                chosen |= bins == bin_
            return chosen

        def task(chunk: np.ndarray) -> PartialBinValues:
            part = PartialBinValues()
            for values, bins in self._blocks(chunk):
                chosen = chosen_of(bins)
                if skip_zeros:
                    chosen &= values != 0
                part.values.append(values[chosen])
                part.bins.append(bins[chosen])
                for bin_ in crowded:
                    inside = values[bins == bin_]
                    if inside.size:
                        low, high = inside.min().item(), inside.max().item()
                        part.merge(PartialBinValues(extremes={bin_: (low, high)}))
                    for key in crowded_keys:
                        if key[0] == bin_:
                            hits = inside <= key[1] if key[2] else inside < key[1]
                            part.below[key] = part.below.get(key, 0) + int(np.count_nonzero(hits))
            return part

        seen = PartialBinValues()
        for part in chunked.run_chunks(self.measured.flat, task, progress, cancel):
            seen.merge(part)
        return seen

    def _answers(
        self,
        seen: PartialBinValues,
        below_keys: list[tuple[int, np.generic, bool]],
        cumulative: np.ndarray,
        rank_bins: dict[int, int],
        zero_bin: int,
    ) -> Resolved:
        values = np.concatenate(seen.values) if seen.values else np.empty(0)
        bins = np.concatenate(seen.bins) if seen.bins else np.empty(0, np.int32)
        # Grouped by bin with a stable sort of 16-bit keys, which numpy does by radix: linear.
        keys = bins.astype(np.uint16) if self.grid.bins <= 1 << 16 else bins
        order = np.argsort(keys, kind="stable")
        values, bins = values[order], bins[order]
        starts = np.searchsorted(bins, np.arange(self.grid.bins + 1))

        def members(bin_: int) -> np.ndarray:
            return values[starts[bin_] : starts[bin_ + 1]]

        def zeros_in(bin_: int) -> int:
            return self.zeros if bin_ == zero_bin else 0

        counted = []
        for key in below_keys:
            bin_, value, inclusive = key
            if key in seen.below or bin_ in seen.extremes:
                inside = seen.below.get(key, 0)
            else:
                part = members(bin_)
                hits = part <= value if inclusive else part < value
                inside = int(np.count_nonzero(hits))
                if zero_bin == bin_ and (value >= 0 if inclusive else value > 0):
                    inside += self.zeros
            counted.append(int(cumulative[bin_]) + inside)
        n_less = len(counted) - sum(1 for key in below_keys if key[2])
        found: dict[int, float] = {}
        unresolved = set()
        for rank, bin_ in rank_bins.items():
            local = rank - int(cumulative[bin_])
            if bin_ in seen.extremes:
                low, high = seen.extremes[bin_]
                if low == high:
                    found[rank] = low
                else:
                    unresolved.add(rank)
                continue
            part = members(bin_)
            if zeros_in(bin_):  # the zeros sit between the negative and the positive members
                negative = part[part < 0]
                if local < negative.size:
                    part = negative
                elif local < negative.size + self.zeros:
                    found[rank] = 0.0
                    continue
                else:
                    local -= negative.size + self.zeros
                    part = part[part > 0]
            found[rank] = np.partition(part, local)[local].item()
        return Resolved(
            less=np.array(counted[:n_less], dtype=np.int64),
            at_or_below=np.array(counted[n_less:], dtype=np.int64),
            order=found,
            unresolved=frozenset(unresolved),
        )
