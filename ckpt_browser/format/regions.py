"""The byte ranges a region of a C-ordered tensor occupies, and the region read from them.

A local tensor is a view of a memory map and numpy indexing touches only the pages a region
needs. A remote one is fetched: `read_region` asks the source for the runs of bytes the region
covers (one per combination of the outer indices, each spanning the innermost selected axis and
every whole axis after it), neighbouring runs merged when the gap between them is small, and
copies the runs out in order. Written by hand because numpy indexes arrays, not byte sources.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence

import numpy as np

from ckpt_browser.format.sources.base import Buffer

# Runs of at least this many bytes are copied one by one; shorter ones by fancy indexing.
_LONG_RUN_BYTES = 4096
_INDEX_BLOCK = 1 << 20  # runs x elements indexed at once (bounds the index array's memory)


class _Axis:
    """One axis of the region: the positions it keeps, in ascending order, and how to show them."""

    def __init__(self, item: object, size: int, axis: int) -> None:
        self.dropped = not isinstance(item, slice)
        if self.dropped:
            i = operator.index(item)
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")
            kept = range(i % size, i % size + 1)
        else:
            kept = range(*item.indices(size))
        self.reversed = kept.step < 0
        self.positions = kept[::-1] if self.reversed else kept
        self.full = self.positions == range(size)

    @property
    def count(self) -> int:
        return len(self.positions)


def region_elements(shape: tuple[int, ...], region: tuple) -> int:
    """How many elements `tensor[region]` holds (ints and slices, as `read_region` takes)."""
    items = list(region) + [slice(None)] * (len(shape) - len(region))
    return math.prod(
        _Axis(item, size, axis).count for axis, (item, size) in enumerate(zip(items, shape))
    )


def read_region(
    shape: tuple[int, ...],
    dtype: np.dtype,
    region: tuple,
    read_many: Callable[[Sequence[tuple[int, int]]], list[Buffer]],
    base: int = 0,
    merge_gap: int = 0,
) -> np.ndarray:
    """`tensor[region]` of a C-ordered tensor stored at byte `base`, from `read_many` of byte
    ranges (ints and slices only, as numpy basic indexing); runs closer than `merge_gap` bytes are
    fetched as one range."""
    if len(region) > len(shape):
        raise IndexError(f"too many indices for a tensor of rank {len(shape)}")
    items = list(region) + [slice(None)] * (len(shape) - len(region))
    axes = [_Axis(item, size, axis) for axis, (item, size) in enumerate(zip(items, shape))]
    if any(axis.count == 0 for axis in axes):
        return np.empty([a.count for a in axes if not a.dropped], dtype)
    # The innermost axis that is not whole: runs span it (from its first kept position to its
    # last) and every axis after it.
    inner = max((i for i, a in enumerate(axes) if not a.full), default=-1)
    strides = [math.prod(shape[i + 1 :]) for i in range(len(shape))]
    if inner < 0:
        span, run_elements, starts = None, math.prod(shape), np.zeros(1, np.int64)
    else:
        span = axes[inner].positions
        run_elements = (span[-1] - span[0] + 1) * strides[inner]
        starts = np.full(1, span[0] * strides[inner], np.int64)
        for axis in reversed(range(inner)):
            outer = np.asarray(axes[axis].positions, np.int64) * strides[axis]
            starts = (outer[:, None] + starts[None, :]).reshape(-1)
    runs = _copy_runs(starts, run_elements, dtype, read_many, base, merge_gap)
    fetched_shape = [axes[i].count for i in range(inner)]
    if span is not None:
        fetched_shape.append(span[-1] - span[0] + 1)
    fetched_shape += list(shape[inner + 1 :]) if inner >= 0 else list(shape)
    out = runs.reshape(fetched_shape)
    if span is not None and span.step != 1:
        out = out[(slice(None),) * inner + (slice(None, None, span.step),)]
    flips = tuple(slice(None, None, -1) if a.reversed else slice(None) for a in axes)
    out = out[flips]
    return out[tuple(0 if a.dropped else slice(None) for a in axes)]


def _copy_runs(
    starts: np.ndarray,
    run_elements: int,
    dtype: np.dtype,
    read_many: Callable[[Sequence[tuple[int, int]]], list[Buffer]],
    base: int,
    merge_gap: int,
) -> np.ndarray:
    """The runs (each `run_elements` long, at element offsets `starts`, ascending) as rows."""
    itemsize = dtype.itemsize
    out = np.empty((len(starts), run_elements), dtype)
    if run_elements == 0:
        return out
    # Merge runs into ranges: a new range starts where the gap to the previous run is too wide.
    ends = starts + run_elements
    gaps = (starts[1:] - ends[:-1]) * itemsize
    firsts = np.flatnonzero(np.concatenate(([True], gaps > merge_gap)))
    lasts = np.concatenate((firsts[1:], [len(starts)])) - 1
    ranges = [
        (base + int(starts[f]) * itemsize, int(ends[last] - starts[f]) * itemsize)
        for f, last in zip(firsts.tolist(), lasts.tolist())
    ]
    pieces = read_many(ranges)
    for first, last, piece in zip(firsts.tolist(), lasts.tolist(), pieces):
        values = np.frombuffer(piece, dtype)
        offsets = starts[first : last + 1] - starts[first]
        if run_elements * itemsize >= _LONG_RUN_BYTES:
            for row, offset in enumerate(offsets.tolist(), first):
                out[row] = values[offset : offset + run_elements]
            continue
        step = max(1, _INDEX_BLOCK // run_elements)
        columns = np.arange(run_elements)
        for block in range(0, len(offsets), step):
            rows = offsets[block : block + step]
            out[first + block : first + block + len(rows)] = values[rows[:, None] + columns]
    return out
