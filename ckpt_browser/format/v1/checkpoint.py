"""Legacy V1 checkpoints as a `Checkpoint`: the same Mapping and reads as V2.

A V1 checkpoint is one table file or a sharded set of them (format doc V1, section 1). Each file
starts with a metadata entry listing, per tensor, its dtype, shape and the slices this file holds;
each slice's values are a data entry under a key made of the name and the slice. Opening reads
only the metadata entries; a read looks up the entries of the slices it touches and decodes them
(`values`), checking each block's CRC the first time it is read.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ckpt_browser.format import dtypes, paths
from ckpt_browser.format.array_shapes import shape_problem
from ckpt_browser.format.checkpoint import (
    Checkpoint,
    ChecksumProblem,
    Index,
    TensorInfo,
    as_index,
    problems_of_each_tensor,
    tf1_info,
)
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.gc_pause import gc_paused
from ckpt_browser.format.names import name_of_key
from ckpt_browser.format.sources import locations as where
from ckpt_browser.format.tiling import (
    Bounds,
    Extents,
    SlicePart,
    assemble,
    bounds_problem,
    format_extents,
    tiling_problem,
)
from ckpt_browser.format.v1 import values
from ckpt_browser.format.v1.metadata import TensorDescription, read_metadata
from ckpt_browser.format.v1.ordered_code import slice_key
from ckpt_browser.format.v1.table_file import TableFile
from ckpt_browser.format.v2.shard_check import ShardCheck
from ckpt_browser.format.wire import DecodeError

# Decoded slices kept for the next read (varint and string slices: fixed-width ones are views of
# the file and cost nothing to decode again). A window reading a tensor row block by row block
# then decodes each slice once.
DECODED_CACHE_BYTES = 256 << 20


class StoredPart(NamedTuple):
    """One slice of a tensor as its metadata lists it, and the file that holds it."""

    extents: Extents
    file: int  # index into the checkpoint's files


class TensorMeta(NamedTuple):
    key: bytes
    dtype: dtypes.DType
    shape: tuple[int, ...]
    parts: tuple[StoredPart, ...]
    file: str  # the file whose metadata first listed it (where messages point)


class CheckedPart(NamedTuple):
    part: StoredPart
    bounds: Bounds
    label: str


class SliceCheckpoint(Checkpoint):
    """An open V1 checkpoint (a file, or the files a glob matches)."""

    format_name = "V1"

    def __init__(self, prefix: str) -> None:
        super().__init__(prefix)
        files = paths.v1_files(prefix)
        if not files:
            raise CheckpointError("no V1 checkpoint file matches this name", prefix)
        self._files = [TableFile.open(path) for path in files]
        members = paths.v1_set_members(prefix)
        self._missing_files = [path for path in members if not where.exists(path)]
        self._tensors: dict[str, TensorMeta] = {}
        self._checked: dict[str, tuple[CheckedPart, ...]] = {}
        self._decoded: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._decoded_bytes = 0
        self._lock = threading.Lock()
        self._shard_check: ShardCheck | None = None
        self._closed = False
        with gc_paused():
            for number, table in enumerate(self._files):
                self._merge(number, table)
            self._infos = {name: self._info(name, meta) for name, meta in self._tensors.items()}

    # -- opening ----------------------------------------------------------------------------------

    def _merge(self, number: int, table: TableFile) -> None:
        """Add the tensors one file's metadata lists, as TensorFlow merges the files of a set."""
        metadata = table.get(b"")
        if metadata is None:
            raise CheckpointError(
                "no metadata entry at the start of the file (is this a V1 checkpoint?)", table.path
            )
        try:
            described = read_metadata(metadata)
        except DecodeError as exc:
            raise CheckpointError(f"the metadata entry {exc}", table.path) from None
        tensors = self._tensors
        checked: dict[int, tuple[dtypes.DType, tuple[StoredPart, ...]]] = {}  # by description
        for key, description in described:
            if not description.slices:
                continue  # TensorFlow registers slices: a tensor without one is not there
            name = name_of_key(key)
            known_description = checked.get(id(description))
            if known_description is None:
                dtype = self._checked_dtype(name, description, table.path)
                parts = tuple(StoredPart(extents, number) for extents in description.slices)
                known_description = checked[id(description)] = (dtype, parts)
            dtype, parts = known_description
            shape = description.shape
            known = tensors.get(name)
            if known is None:
                tensors[name] = TensorMeta(key, dtype, shape, parts, table.path)
            elif (known.dtype, known.shape) != (dtype, shape):
                raise CheckpointError(
                    f"tensor {name!r} is {dtype.name} {list(shape)} here and "
                    f"{known.dtype.name} {list(known.shape)} in {os.path.basename(known.file)}",
                    table.path,
                )
            else:
                tensors[name] = known._replace(parts=known.parts + parts)

    @staticmethod
    def _checked_dtype(name: str, description: TensorDescription, path: str) -> dtypes.DType:
        """The tensor's dtype; an unknown one refuses the file, as TensorFlow refuses it (and as
        the V2 reader refuses a reference type, which TensorFlow lists and never restores). One
        that V1 cannot hold (bfloat16, variant) refuses only reading the tensor, as TensorFlow
        does."""
        enum = description.dtype_enum
        dtype = dtypes.from_enum(enum)
        if dtype is None:
            raise CheckpointError(f"tensor {name!r} has unknown dtype {enum}", path)
        if description.shape is None:
            raise CheckpointError(f"tensor {name!r} has a negative dimension", path)
        return dtype

    def _info(self, name: str, meta: TensorMeta) -> TensorInfo:
        itemsize = meta.dtype.itemsize
        nbytes = (
            math.prod(meta.shape) * itemsize
            if itemsize is not None
            else self._stored_string_bytes(name)
        )
        parts = meta.parts
        single = len(parts) == 1
        return tf1_info(
            name,
            self._tensors,
            dtype=meta.dtype,
            shape=meta.shape,
            nbytes=nbytes,
            shard=parts[0].file if single else None,
            partitioned=not single,
        )

    def _stored_string_bytes(self, name: str) -> int:
        """What a string tensor's entries hold (its element bytes and their framing)."""
        total = 0
        meta = self._tensors[name]
        for part in meta.parts:
            try:
                entry = self._files[part.file].get(slice_key(meta.key, part.extents))
            except CheckpointError:
                entry = None
            total += 0 if entry is None else len(entry)
        return total

    # -- facts ------------------------------------------------------------------------------------

    @property
    def num_shards(self) -> int:
        return len(self._files)

    def files(self) -> list[str]:
        return [table.path for table in self._files]

    def data_files(self) -> list[str]:
        return self.files()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            self._decoded.clear()
            self._decoded_bytes = 0
        for table in self._files:
            table.close()

    def check_shards(self) -> ShardCheck:
        """The files of a sharded set that are missing, and the tensors that lose slices with
        them (a tensor held wholly in a missing file is not listed at all: say so)."""
        if self._shard_check is None:
            self._shard_check = self._missing_shards()
        return self._shard_check

    def _missing_shards(self) -> ShardCheck:
        if not self._missing_files:
            return ShardCheck()
        problems = {}
        for name in self._tensors:
            try:
                self._parts(name)
            except CheckpointError as exc:
                problems[name] = exc.message
        count = len(paths.v1_set_members(self.prefix))
        names = ", ".join(os.path.basename(path) for path in self._missing_files)
        message = (
            f"{len(self._missing_files)} of {count} files of this V1 checkpoint are missing "
            f"({names}): the tensors they hold are not listed"
        )
        return ShardCheck(problems, (message,))

    # -- reading ----------------------------------------------------------------------------------

    def read(self, name: str, index: Index | None = None) -> np.ndarray:
        """Float, double and complex tensors stored in one slice come back as read-only views of
        the file's memory map; others are decoded into new arrays."""
        meta = self._meta(name)
        checked = self._parts(name)
        if not math.prod(meta.shape):  # TensorFlow restores it without looking at its entries
            empty = np.empty(meta.shape, meta.dtype.numpy or object)
            return empty if index is None else empty[as_index(index)]
        if len(checked) == 1 and checked[0].bounds == tuple((0, d) for d in meta.shape):
            whole = self._values(name, 0).reshape(meta.shape)
            return whole if index is None else whole[as_index(index)]
        parts = [
            SlicePart(
                piece.bounds,
                lambda i=i: self._values(name, i),
                lambda i=i: self._values(name, i),
            )
            for i, piece in enumerate(checked)
        ]
        region = () if index is None else as_index(index)
        return assemble(meta.shape, meta.dtype.numpy, parts, region)

    def checksum_problem(self, name: str) -> str | None:
        """V1 stores no checksum per tensor: each block of the file has a CRC, so this reads the
        blocks holding the tensor (checking their CRCs) and decodes its values (an empty tensor
        has none to decode: TensorFlow restores it without reading its entries)."""
        meta = self._meta(name)
        try:
            parts = self._parts(name)
            if math.prod(meta.shape):
                for i in range(len(parts)):
                    self._values(name, i, keep=False)
        except CheckpointError as exc:
            return exc.message
        return None

    def verify(self, progress: Callable[[int, int], None] | None = None) -> list[ChecksumProblem]:
        """Decode every tensor (checking the CRC of each block it lies in) and check the CRC of
        every other block of every file."""
        problems = problems_of_each_tensor(self, progress, self._release_pages)
        for table in self._files:
            for handle in table.block_handles:
                try:
                    table.block(handle)
                    table.release_pages()
                except CheckpointError as exc:
                    if not any(exc.message in p.message for p in problems):
                        problems.append(ChecksumProblem(os.path.basename(table.path), str(exc)))
        return problems

    # -- internals --------------------------------------------------------------------------------

    def _release_pages(self) -> None:
        for table in self._files:
            table.release_pages()

    def _meta(self, name: str) -> TensorMeta:
        self.info(name)
        return self._tensors[name]

    def _parts(self, name: str) -> tuple[CheckedPart, ...]:
        """The slices of a tensor, checked once as TensorFlow checks them when it registers and
        restores them: inside the shape, no overlap, every element covered."""
        checked = self._checked.get(name)
        if checked is not None:
            return checked
        meta = self._tensors[name]
        where = f"tensor {name!r}"
        problem = shape_problem(meta.shape, meta.dtype.itemsize or 8)
        if problem is not None:
            raise CheckpointError(f"{where} {problem}", meta.file)
        checked_parts = []
        for part in meta.parts:
            label = self._label(name, meta, part)
            bounds, problem = bounds_problem(part.extents, meta.shape)
            empty = [axis for axis, (_, length) in enumerate(part.extents) if length == 0]
            if empty and problem is None:  # TensorFlow refuses these when it registers them
                problem = f"has length 0 in dimension {empty[0]}; lengths must be positive"
            if problem is not None:
                raise CheckpointError(f"{label} {problem}", self._files[part.file].path)
            checked_parts.append(CheckedPart(part, bounds, label))
        boxes = [piece.bounds for piece in checked_parts]
        extents = [piece.part.extents for piece in checked_parts]
        problem = tiling_problem(boxes, extents, math.prod(meta.shape))
        if problem is not None:
            if self._missing_files:
                missing = ", ".join(os.path.basename(path) for path in self._missing_files)
                problem += f"; the rest may lie in the missing {missing}"
            raise CheckpointError(f"{where} {problem}", meta.file)
        checked = self._checked[name] = tuple(checked_parts)
        return checked

    @staticmethod
    def _label(name: str, meta: TensorMeta, part: StoredPart) -> str:
        if len(meta.parts) == 1 and all(e == (0, -1) for e in part.extents):
            return f"tensor {name!r}"
        return f"slice {format_extents(part.extents)} of tensor {name!r}"

    def _values(self, name: str, number: int, keep: bool = True) -> np.ndarray:
        """The values of one checked slice, flat, from the decoded cache or the file."""
        with self._lock:
            cached = self._decoded.get((name, number))
            if cached is not None:
                self._decoded.move_to_end((name, number))
                return cached
        if self._closed:
            raise CheckpointError("the checkpoint was closed", self.prefix)
        meta = self._tensors[name]
        piece = self._parts(name)[number]
        table = self._files[piece.part.file]
        count = math.prod(stop - start for start, stop in piece.bounds)
        if values.value_field(meta.dtype) is None:
            raise CheckpointError(
                f"{piece.label} has dtype {meta.dtype.name}, which V1 checkpoints cannot hold",
                table.path,
            )
        try:
            entry = table.get(slice_key(meta.key, piece.part.extents))
        except CheckpointError as exc:
            where = os.path.basename(table.path)
            raise CheckpointError(f"{piece.label}: {exc.message} of {where}", table.path) from None
        if entry is None:
            raise CheckpointError(f"{piece.label} has no data entry in this file", table.path)
        try:
            decoded = values.decode_entry(entry, meta.dtype, count)
        except DecodeError as exc:
            raise CheckpointError(f"{piece.label}: its data entry {exc}", table.path) from None
        if keep and decoded.flags.owndata:
            self._keep(name, number, decoded)
        return decoded

    def _keep(self, name: str, number: int, decoded: np.ndarray) -> None:
        size = decoded.nbytes if decoded.dtype != object else 64 * decoded.size
        if size > DECODED_CACHE_BYTES // 2:
            return
        with self._lock:
            self._decoded[(name, number)] = decoded
            self._decoded_bytes += size
            while self._decoded_bytes > DECODED_CACHE_BYTES:
                _, old = self._decoded.popitem(last=False)
                self._decoded_bytes -= old.nbytes if old.dtype != object else 64 * old.size
