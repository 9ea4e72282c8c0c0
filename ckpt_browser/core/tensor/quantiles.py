"""Exact quantiles of whole tensors without sorting them, equal to numpy's.

`np.percentile` on a copy of a 67-million-element tensor takes seconds: it partitions all of it.
Here the work is two passes that sort only cache-sized blocks, in parallel (see `chunked`):

1. Pivots come from a sample, a few around each wanted quantile. The first pass counts, for
   each pivot, the values below it and the values at or below it. For each wanted rank that
   shows either the pivot it equals (so a tensor that is mostly zeros costs nothing more) or
   the gap between two pivots where it lies.
2. The second pass collects only the values inside those gaps (a small share of the tensor), and
   `np.partition` finds the ranks among them.

numpy's 'linear' interpolation between the two ranks around each quantile is then done the way
`np.quantile` does it, so the results are equal to numpy's bit for bit. Small tensors go straight
to `np.quantile`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ckpt_browser.core.tensor import chunked
from ckpt_browser.core.tensor.chunked import Cancel, Measured, Progress

QUANTILE_PERCENTS = (1, 25, 50, 75, 99)
# Up to this many values np.quantile on a copy: its partition holds the GIL throughout (~20 ms
# for a million values, an event-loop stall), where the chunked passes let the GUI thread in.
DIRECT_QUANTILE_LIMIT = 1 << 16
PIVOT_SAMPLE = 1 << 16  # sample size the pivots are drawn from
PIVOTS_PER_QUANTILE = 17


def quantiles_of(
    measured: Measured, percents: Sequence[float], progress: Progress, cancel: Cancel
) -> dict[float, float]:
    """Exact quantiles (percent -> value) of the finite values by the pivot search of the module
    docstring, equal to `np.percentile`'s default 'linear' method; integers are interpolated in
    float64. Empty if nothing is finite. (`stats.compute_quantiles` is the faster way; this one
    is its fallback for a tensor whose values crowd into a tiny part of their range.)"""
    if not needs_search(measured) or len(percents) == 0:
        return direct_quantiles(measured, percents, progress, cancel)
    search = QuantileSearch(measured, percents)
    counts = chunked.count_pass(
        measured, search.below, search.at_or_below, chunked.scaled(progress, 0.0, 0.5), cancel
    )
    return search.finish(*counts, chunked.scaled(progress, 0.5, 1.0), cancel)


def needs_search(measured: Measured) -> bool:
    """Whether the tensor is big enough for the two-pass search rather than np.quantile."""
    return measured.flat.size > DIRECT_QUANTILE_LIMIT


def direct_quantiles(
    measured: Measured, percents: Sequence[float], progress: Progress, cancel: Cancel
) -> dict[float, float]:
    """np.quantile on a copy of the finite values (in float64 for integers)."""
    fractions = fractions_of(percents)
    values = measured.convert(measured.flat).astype(measured.work_dtype)
    if measured.is_float:
        values = values[np.isfinite(values)]
    chunked.report(1.0, progress, cancel)
    if values.size == 0:
        return {}
    return dict(zip(percents, np.quantile(values, fractions).tolist(), strict=True))


def fractions_of(percents: Sequence[float]) -> np.ndarray:
    if any(not 0 <= p <= 100 for p in percents):
        raise ValueError(f"percents must lie in 0..100, not {tuple(percents)}")
    return np.asarray(percents, dtype=np.float64) / 100  # as np.percentile divides


class QuantileSearch:
    """The two-pass search of the module docstring, for one tensor and a set of percents.

    Its first pass is a `chunked.count_pass` with the needles `below` and `at_or_below`; a caller
    that makes such a pass anyway (the histogram) can add them to its own and hand the counts to
    `finish`, which makes the second pass if needed.
    """

    def __init__(self, measured: Measured, percents: Sequence[float]) -> None:
        self.measured = measured
        self.percents = tuple(percents)
        self.fractions = fractions_of(percents)
        self.pivots = _pivots(measured, self.fractions)
        infinity = np.array([np.inf], dtype=self.pivots.dtype)
        self.below = np.concatenate([self.pivots, infinity])  # < +inf: the finite end
        self.at_or_below = np.concatenate([-infinity, self.pivots])  # <= -inf: left out

    def finish(
        self, less: np.ndarray, less_equal: np.ndarray, progress: Progress, cancel: Cancel
    ) -> dict[float, float]:
        """The quantiles from the counts at the needles (finite values only)."""
        negative_infinities = int(less_equal[0])
        finite = int(less[-1]) - negative_infinities
        if finite == 0:
            chunked.report(1.0, progress, cancel)
            return {}
        less = less[:-1] - negative_infinities
        less_equal = less_equal[1:] - negative_infinities
        ranks = {rank for pair in rank_pairs(self.fractions, finite) for rank in pair.tolist()}
        order = _order_statistics(
            self.measured, self.pivots, less, less_equal, ranks, progress, cancel
        )
        return interpolate(self.percents, finite, order, self.measured.work_dtype)


def rank_pairs(fractions: np.ndarray, finite: int) -> tuple[np.ndarray, np.ndarray]:
    """The 0-based ranks np.quantile interpolates between for each fraction (its
    _get_indexes: at the top, the last one twice)."""
    virtual = (finite - 1) * fractions
    previous = np.minimum(np.floor(virtual), finite - 1).astype(np.int64)
    following = np.minimum(previous + 1, finite - 1)
    return previous, following


def interpolate(
    percents: Sequence[float], finite: int, order: dict[int, float], dtype: np.dtype
) -> dict[float, float]:
    """The quantiles from the values at their ranks, the way np.quantile computes them."""
    fractions = fractions_of(percents)
    previous, following = rank_pairs(fractions, finite)
    virtual = (finite - 1) * fractions
    low = np.array([order[rank] for rank in previous.tolist()], dtype=dtype)
    high = np.array([order[rank] for rank in following.tolist()], dtype=dtype)
    gamma = virtual - np.where(virtual >= finite - 1, -1, previous)  # as numpy computes it
    return dict(zip(percents, _numpy_lerp(low, high, gamma).tolist(), strict=True))


def _numpy_lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's `_lerp` step for step (it is private), so results match np.quantile bit for bit."""
    difference = b - a
    result = np.add(a, difference * t)
    np.subtract(b, difference * (1 - t), out=result, where=t >= 0.5, casting="unsafe")
    return result


def _pivots(measured: Measured, fractions: np.ndarray) -> np.ndarray:
    """A few sample values around each wanted quantile, so that the gaps holding the wanted ranks
    are narrow. Looking every pivot up costs time in every block, so there are ~17 per quantile,
    spread over +-8 standard errors of a sample quantile; any set of pivots gives exact results,
    a poor one only collects more values in the second pass."""
    picked = measured.convert(chunked.sample(measured.flat, PIVOT_SAMPLE, run=16))
    sample = np.sort(picked.astype(measured.work_dtype))
    sample = sample[np.isfinite(sample)] if measured.is_float else sample
    size = sample.size
    if size == 0:
        return sample
    positions = []
    for q in fractions.tolist():
        spread = max(8 * math.sqrt(q * (1 - q) * size), 4.0)
        centre = q * (size - 1)
        positions.append(np.linspace(centre - spread, centre + spread, PIVOTS_PER_QUANTILE))
    indices = np.clip(np.rint(np.concatenate(positions)), 0, size - 1).astype(np.int64)
    return np.unique(sample[indices])


def _order_statistics(
    measured: Measured,
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
        collected = chunked.run_chunks(
            measured.flat, _gap_task(measured, pivots, sorted(wanted)), progress, cancel
        )
        for gap, ranks_in_gap in wanted.items():
            values = np.concatenate([chunk[gap] for chunk in collected])
            before = int(less_equal[gap - 1]) if gap > 0 else 0
            offsets = [rank - before for rank in ranks_in_gap]
            values.partition(offsets)
            found.update({rank: values[rank - before].item() for rank in ranks_in_gap})
    else:
        chunked.report(1.0, progress, cancel)
    return found


def _gap_task(measured: Measured, pivots: np.ndarray, gaps: list[int]):
    """Collect the values strictly between the pivots around each gap."""

    def task(chunk: np.ndarray) -> dict[int, np.ndarray]:
        buffer = np.empty(min(chunk.size, chunked.BLOCK_ELEMENTS), dtype=measured.work_dtype)
        pieces: dict[int, list[np.ndarray]] = {gap: [] for gap in gaps}
        for block in chunked.blocks(chunk):
            values = chunked.finite_part(chunked.sorted_block(measured.convert(block), buffer))
            for gap in gaps:
                start = np.searchsorted(values, pivots[gap - 1], "right") if gap > 0 else 0
                stop = np.searchsorted(values, pivots[gap], "left") if gap < pivots.size else None
                pieces[gap].append(values[start:stop].copy())
        return {
            gap: np.concatenate(parts) if parts else np.empty(0, measured.work_dtype)
            for gap, parts in pieces.items()
        }

    return task
