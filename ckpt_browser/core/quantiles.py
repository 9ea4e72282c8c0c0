"""Exact quantiles of whole tensors without sorting them, equal to numpy's.

`np.percentile` on a copy of a 67-million-element tensor takes seconds: it partitions all of it.
Here the work is two passes that sort only cache-sized blocks, in parallel (see `chunked`):

1. Pivots come from a sample. The first pass counts, for each pivot, the values below it and the
   values at or below it. For each wanted rank that shows either the pivot it equals (so a tensor
   that is mostly zeros costs nothing more) or the gap between two pivots where it lies.
2. The second pass collects only the values inside those gaps (a small share of the tensor), and
   `np.partition` finds the ranks among them.

numpy's 'linear' interpolation between the two ranks around each quantile is then done the way
`np.quantile` does it, so the results are equal to numpy's bit for bit. Small tensors go straight
to `np.quantile`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ckpt_browser.core import chunked
from ckpt_browser.core.chunked import Cancel, Measured, Progress

QUANTILE_PERCENTS = (1, 25, 50, 75, 99)
DIRECT_QUANTILE_LIMIT = 1 << 22  # up to this many values np.quantile on a copy is quick enough
PIVOT_SAMPLE = 1 << 16  # sample size the pivots are drawn from
PIVOTS = 1024  # at most; each gap then holds about 1/1000 of the values


def compute_quantiles(
    array: object,
    percents: Sequence[float] = QUANTILE_PERCENTS,
    *,
    progress: Progress = None,
    cancel: Cancel = None,
) -> dict[float, float]:
    """Exact quantiles (percent -> value) of the finite values, equal to `np.percentile`'s
    default 'linear' method; integers are interpolated in float64. Empty if nothing is finite."""
    return quantiles_of(chunked.measured(array), tuple(percents), progress, cancel)


def quantiles_of(
    measured: Measured, percents: tuple, progress: Progress, cancel: Cancel
) -> dict[float, float]:
    """`compute_quantiles` for a tensor already wrapped as `Measured`."""
    if any(not 0 <= p <= 100 for p in percents):
        raise ValueError(f"percents must lie in 0..100, not {percents}")
    fractions = np.asarray(percents, dtype=np.float64) / 100
    flat = measured.flat
    if flat.size <= DIRECT_QUANTILE_LIMIT:
        values = measured.convert(flat).astype(measured.work_dtype)
        if measured.is_float:
            values = values[np.isfinite(values)]
        chunked.report(1.0, progress, cancel)
        if values.size == 0:
            return {}
        return dict(zip(percents, np.quantile(values, fractions).tolist(), strict=True))
    pivots = _pivots(measured)
    counted = chunked.run_chunks(
        flat, _pivot_count_task(measured, pivots), chunked.scaled(progress, 0.0, 0.5), cancel
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
        chunked.scaled(progress, 0.5, 1.0), cancel,
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


def _pivots(measured: Measured) -> np.ndarray:
    sample = measured.convert(chunked.sample(measured.flat, PIVOT_SAMPLE)).astype(
        measured.work_dtype
    )
    sample = np.unique(sample[np.isfinite(sample)])  # sorted
    if sample.size > PIVOTS:
        sample = np.unique(sample[np.linspace(0, sample.size - 1, PIVOTS).astype(np.int64)])
    return sample


def _pivot_count_task(measured: Measured, pivots: np.ndarray):
    def task(chunk: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        buffer = np.empty(min(chunk.size, chunked.BLOCK_ELEMENTS), dtype=measured.work_dtype)
        finite = 0
        less = np.zeros(pivots.size, dtype=np.int64)
        less_equal = np.zeros(pivots.size, dtype=np.int64)
        for block in chunked.blocks(chunk):
            values = chunked.finite_part(chunked.sorted_block(measured.convert(block), buffer))
            finite += values.size
            less += np.searchsorted(values, pivots, "left")
            less_equal += np.searchsorted(values, pivots, "right")
        return finite, less, less_equal

    return task


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
    elif progress is not None:
        progress(1.0)
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
