"""Tensors stored as slices: where each slice lies, whether they tile, and reading a region.

Both checkpoint formats can store one tensor as several slices (a partitioned variable, or
hand-made `SaveSlices` specs). A slice is given by extents, one `(start, length)` per dimension,
`(0, -1)` meaning the whole dimension. The geometry is the same for both, so it lives here: the
format modules check their own entries and hand over a way to read each slice.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

Extents = tuple[tuple[int, int], ...]  # per dimension (start, length); (0, -1) = whole
Bounds = tuple[tuple[int, int], ...]  # per dimension [start, stop)

# Finding overlaps compares each slice with the slices it meets along one axis: one or two for a
# real partition. This many element comparisons bounds what a hostile file can make it cost
# (under a second).
_OVERLAP_BUDGET = 10_000_000


class TooManySlices(ValueError):
    """The slices meet so often that looking for overlaps would take too long."""


class SlicePart(NamedTuple):
    """One slice to assemble from: where it lies, a check that its bytes can be read (called
    before anything is allocated), and the read of its values in the slice's own shape."""

    bounds: Bounds
    check: Callable[[], object]
    values: Callable[[], np.ndarray]


def bounds_problem(extents: Extents, shape: tuple[int, ...]) -> tuple[Bounds | None, str | None]:
    """Where a slice lies in a tensor of `shape`, or the reason it does not lie inside it
    (the end of a sentence about the slice)."""
    if len(extents) != len(shape):
        return None, f"has {len(extents)} dimension(s) where the tensor has {len(shape)}"
    bounds = []
    for axis, ((start, length), size) in enumerate(zip(extents, shape)):
        if (start, length) == (0, -1):  # the whole dimension
            bounds.append((0, size))
            continue
        if start < 0 or length < 0:
            return None, (
                f"has start {start} and length {length} in dimension {axis}; neither may be "
                "negative"
            )
        if start + length > size:
            return None, f"ends at {start + length} in dimension {axis}, past its size {size}"
        bounds.append((start, start + length))
    return tuple(bounds), None


def tiling_problem(boxes: Sequence[Bounds], slices: Sequence[Extents], size: int) -> str | None:
    """Why the slices do not hold each of the tensor's `size` elements exactly once (a sentence
    without its subject: "slices [0:3] and [2:4] overlap"), or None when they do."""
    try:
        pair = overlapping_pair(boxes)
    except TooManySlices:
        return f"has too many slices to check ({len(boxes):,})"
    if pair is not None:
        first, second = (format_extents(slices[i]) for i in pair)
        return f"has slices {first} and {second} that overlap"
    covered = sum(volume(box) for box in boxes)
    if covered != size:  # disjoint slices inside the shape: fewer elements is a hole
        return f"has slices that cover {covered:,} of its {size:,} elements"
    return None


def volume(box: Bounds) -> int:
    return math.prod(stop - start for start, stop in box)


def overlapping_pair(boxes: Sequence[Bounds]) -> tuple[int, int] | None:
    """Two boxes that share an element (by position, lower first), or None.

    A sweep along the axis where boxes start at the most places, the axis a variable is split
    along: each box is compared only with the boxes it meets along that axis, which keeps the
    check linear for real partitions where TensorFlow's compares every pair.
    """
    if len(boxes) < 2:
        return None
    rank = len(boxes[0])
    if rank == 0:
        return (0, 1)  # two slices of a scalar both hold its one element
    lows = np.array([[start for start, _ in box] for box in boxes], dtype=np.int64)
    highs = np.array([[stop for _, stop in box] for box in boxes], dtype=np.int64)
    axis = max(range(rank), key=lambda a: len(np.unique(lows[:, a])))
    starts, stops = lows[:, axis].tolist(), highs[:, axis].tolist()
    budget = _OVERLAP_BUDGET
    active: list[int] = []  # boxes not yet passed along the sweep axis
    for i in np.argsort(starts, kind="stable").tolist():
        budget -= len(active) * (rank + 1)
        if budget < 0:
            raise TooManySlices(len(boxes))
        active = [j for j in active if stops[j] > starts[i]]
        if active:
            others = np.array(active)
            meets = np.all((lows[others] < highs[i]) & (lows[i] < highs[others]), axis=1)
            if meets.any():
                j = active[int(meets.argmax())]
                return (min(i, j), max(i, j))
        active.append(i)
    return None


def assemble(
    shape: tuple[int, ...], dtype: np.dtype, parts: Sequence[SlicePart], region: tuple
) -> np.ndarray:
    """The part of a tiled tensor that `region` selects (ints and slices, as in numpy basic
    indexing), copied from the slices that meet it; each is read only if it meets the region.

    The slices tile the tensor, so the region holds no more elements than the slices it meets;
    each of those is checked (`SlicePart.check`) before the output is allocated, which bounds it
    by the bytes the files hold.
    """
    if len(region) > len(shape):
        raise IndexError(f"too many indices for a tensor of rank {len(shape)}")
    positions: list[range] = []  # the region's positions along each axis
    kept: list[bool] = []
    for axis, size in enumerate(shape):
        item = region[axis] if axis < len(region) else slice(None)
        if isinstance(item, slice):
            positions.append(range(*item.indices(size)))
            kept.append(True)
            continue
        i = operator.index(item)
        if not -size <= i < size:
            raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")
        positions.append(range(i % size, i % size + 1))
        kept.append(False)
    copies = []  # (part, where in the output, where in the slice)
    if all(positions):
        for part in parts:
            meets = [_meet(p, start, stop) for p, (start, stop) in zip(positions, part.bounds)]
            if all(m is not None for m in meets):
                part.check()
                copies.append((part, tuple(m[0] for m in meets), tuple(m[1] for m in meets)))
    out = np.empty([len(p) for p in positions], dtype=dtype)
    for part, target, source in copies:
        lengths = [stop - start for start, stop in part.bounds]
        out[target] = part.values().reshape(lengths)[source]
    out = out.reshape([len(p) for p, keep in zip(positions, kept) if keep])
    # An int for every axis selects one element: numpy gives it as a scalar (for strings, the
    # bytes object), and so does every other read.
    return out[()] if kept and not any(kept) else out


def _meet(positions: range, start: int, stop: int) -> tuple[slice, slice] | None:
    """Where the positions fall in [start, stop): as a slice of the output and the matching
    slice of the stored slice, or None when none does. Ranges keep this free of any array as
    long as an axis, however long."""
    ascending = positions if positions.step > 0 else positions[::-1]
    first, last = bisect.bisect_left(ascending, start), bisect.bisect_left(ascending, stop)
    if first >= last:
        return None
    if positions.step < 0:
        first, last = len(positions) - last, len(positions) - first
    inside = positions[first:last]
    end = inside.stop - start
    return slice(first, last), slice(inside.start - start, end if end >= 0 else None, inside.step)


def format_extents(extents: Extents) -> str:
    """Extents as a numpy-like index: `[4:7, :]`."""
    parts = []
    for start, length in extents:
        if (start, length) == (0, -1):
            parts.append(":")
        elif length < 0:
            parts.append(f"{start}:(length {length})")
        else:
            parts.append(f"{start}:{start + length}")
    return "[" + ", ".join(parts) + "]"
