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

from collections.abc import Sequence
from typing import NamedTuple, NoReturn

import numpy as np

from ckpt_browser.format.array_shapes import shape_problem
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.tiling import (
    Bounds,
    SlicePart,
    bounds_problem,
    format_extents,
    tiling_problem,
    volume,
)
from ckpt_browser.format.tiling import assemble as assemble_parts
from ckpt_browser.format.v2.bundle import BundleEntry, BundleIndex, DataFiles, Extents
from ckpt_browser.format.v2.slice_keys import slice_key


class StoredSlice(NamedTuple):
    """One checked slice: where it lies in the full tensor, the entry that stores it, and what
    messages call it."""

    extents: Extents
    bounds: Bounds
    entry: BundleEntry
    label: str


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
    boxes = []
    for extents in full.slices:
        box, problem = bounds_problem(extents, full.shape)
        if problem is not None:
            raise CheckpointError(f"{_label(full, extents)} {problem}", index.index_path)
        boxes.append(box)
    problem = tiling_problem(boxes, full.slices, full.num_elements)
    if problem is not None:
        raise CheckpointError(f"partitioned tensor {full.name!r} {problem}", index.index_path)
    return tuple(
        _stored_slice(index, data, full, extents, box) for extents, box in zip(full.slices, boxes)
    )


def _label(full: BundleEntry, extents: Extents) -> str:
    return f"slice {format_extents(extents)} of partitioned tensor {full.name!r}"


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


def assemble(
    data: DataFiles, full: BundleEntry, stored: Sequence[StoredSlice], region: tuple
) -> np.ndarray:
    """The part of a checked partitioned tensor that `region` selects, read from the slices that
    meet it (see `tiling.assemble`); each is checked to lie in its shard before it is read."""
    parts = [
        SlicePart(
            part.bounds,
            lambda part=part: data.raw(part.entry, part.label),
            lambda part=part: data.array(part.entry),
        )
        for part in stored
    ]
    return assemble_parts(full.shape, full.dtype.numpy, parts, region)
