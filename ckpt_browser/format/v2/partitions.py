"""Partitioned tensors: their slices checked against the full entry, then assembled.

A partitioned variable has a full entry listing its slices (dtype, full shape, one extent per
dimension) and one ordinary entry per slice under a key made of the name and the extents (format
doc, 3.3). All of it comes from the file, so before anything is allocated every slice is checked
as TensorFlow's reader checks it (`tensor_slice.cc`, `tensor_slice_set.cc`) and further: extents
inside the full shape, slice entries of the full entry's dtype and of their extents' shape whose
stored size is right and whose bytes lie in their shard, slices that tile the full shape with no
overlap and no hole. The full tensor then holds no more elements than the shards hold bytes,
which bounds what reading any part of it allocates.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Sequence
from typing import NamedTuple, NoReturn

import numpy as np

from ckpt_browser.format.array_shapes import shape_problem
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.v2.bundle import BundleEntry, BundleIndex, DataFiles, Extents
from ckpt_browser.format.v2.slice_keys import slice_key

Bounds = tuple[tuple[int, int], ...]  # per dimension [start, stop)

# Finding overlaps compares each slice with the slices it meets along one axis: one or two for a
# real partition. This many element comparisons bounds what a hostile index can make it cost
# (under a second).
_OVERLAP_BUDGET = 10_000_000


class StoredSlice(NamedTuple):
    """One checked slice: where it lies in the full tensor, the entry that stores it, and what
    messages call it."""

    extents: Extents
    bounds: Bounds
    entry: BundleEntry
    label: str


class TooManySlices(ValueError):
    """The slices meet so often that looking for overlaps would take too long."""


def check_slices(index: BundleIndex, data: DataFiles, full: BundleEntry) -> tuple[StoredSlice, ...]:
    """The slices of the partitioned tensor `full`, each checked, or CheckpointError in one
    sentence naming the tensor and the slice. In TensorFlow's order: the extents, their tiling,
    then the stored entries. Only the index is read: whether the bytes lie inside the shards is
    for `assemble` to check (and for `verify`, which reads them)."""
    numpy_dtype = full.dtype.numpy
    problem = (
        f"has dtype {full.dtype.name}, which is never stored"
        if numpy_dtype is None
        else shape_problem(full.shape, numpy_dtype.itemsize)
    )
    if problem is not None:
        raise CheckpointError(f"partitioned tensor {full.name!r} {problem}", index.index_path)
    boxes = [_bounds(index, full, extents) for extents in full.slices]
    _check_tiling(index, full, boxes)
    return tuple(
        _stored_slice(index, data, full, extents, box) for extents, box in zip(full.slices, boxes)
    )


def _label(full: BundleEntry, extents: Extents) -> str:
    return f"slice {format_extents(extents)} of partitioned tensor {full.name!r}"


def _bounds(index: BundleIndex, full: BundleEntry, extents: Extents) -> Bounds:
    """Where a slice lies in the full tensor, checked to lie inside it."""

    def refuse(problem: str) -> NoReturn:
        raise CheckpointError(f"{_label(full, extents)} {problem}", index.index_path)

    if len(extents) != len(full.shape):
        refuse(f"has {len(extents)} dimension(s) where the tensor has {len(full.shape)}")
    bounds = []
    for axis, ((start, length), size) in enumerate(zip(extents, full.shape)):
        if (start, length) == (0, -1):  # the whole dimension
            bounds.append((0, size))
            continue
        if start < 0 or length < 0:
            refuse(
                f"has start {start} and length {length} in dimension {axis}; neither may be "
                "negative"
            )
        if start + length > size:
            refuse(f"ends at {start + length} in dimension {axis}, past its size {size}")
        bounds.append((start, start + length))
    return tuple(bounds)


def _check_tiling(index: BundleIndex, full: BundleEntry, boxes: list[Bounds]) -> None:
    """The slices hold each element of the tensor once: no overlap, no hole."""
    try:
        pair = overlapping_pair(boxes)
    except TooManySlices:
        message = f"partitioned tensor {full.name!r} has too many slices to check ({len(boxes):,})"
        raise CheckpointError(message, index.index_path) from None
    if pair is not None:
        first, second = (format_extents(full.slices[i]) for i in pair)
        message = f"slices {first} and {second} of partitioned tensor {full.name!r} overlap"
        raise CheckpointError(message, index.index_path)
    covered = sum(volume(box) for box in boxes)
    if covered != full.num_elements:  # disjoint slices inside the shape: fewer elements is a hole
        message = (
            f"the slices of partitioned tensor {full.name!r} cover {covered:,} of its "
            f"{full.num_elements:,} elements"
        )
        raise CheckpointError(message, index.index_path)


def _stored_slice(
    index: BundleIndex, data: DataFiles, full: BundleEntry, extents: Extents, bounds: Bounds
) -> StoredSlice:
    """The entry that stores a slice, checked (a slice of no element too: TensorFlow reads it)."""
    label = _label(full, extents)

    def refuse(problem: str) -> NoReturn:
        raise CheckpointError(f"{label} {problem}", index.index_path)

    entry = index.slice_entries.get(slice_key(full.key, extents))
    if entry is None:
        refuse("is missing from the index")
    if entry.dtype != full.dtype:
        refuse(f"is stored as {entry.dtype.name}, the tensor is {full.dtype.name}")
    # TensorFlow lays a slice's values out by its extents, whatever shape its entry declares: the
    # element counts must agree (and then its stored size, checked next).
    count = volume(bounds)
    if entry.num_elements != count:
        refuse(
            f"is stored with shape {list(entry.shape)} ({entry.num_elements:,} elements), its "
            f"extents hold {count:,}"
        )
    data.check_declared(entry, label)
    return StoredSlice(extents, bounds, entry, label)


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
    data: DataFiles, full: BundleEntry, stored: Sequence[StoredSlice], region: tuple
) -> np.ndarray:
    """The part of a checked partitioned tensor that `region` selects (ints and slices, as in
    numpy basic indexing), copied from the slices that meet it; each of those is read only
    where the region needs it.

    The slices tile the tensor, so the region holds no more elements than the slices it meets;
    those are checked to lie in their shards before the output is allocated, which bounds it by
    the bytes the shards hold.
    """
    shape = full.shape
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
    copies = []  # (stored slice, where in the output, where in the slice)
    if all(positions):
        for part in stored:
            meets = [_meet(p, start, stop) for p, (start, stop) in zip(positions, part.bounds)]
            if all(m is not None for m in meets):
                data.raw(part.entry, part.label)  # its bytes lie in its shard
                copies.append((part, tuple(m[0] for m in meets), tuple(m[1] for m in meets)))
    out = np.empty([len(p) for p in positions], dtype=full.dtype.numpy)
    for part, target, source in copies:
        lengths = [stop - start for start, stop in part.bounds]
        out[target] = data.array(part.entry).reshape(lengths)[source]
    return out.reshape([len(p) for p, keep in zip(positions, kept) if keep])


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
