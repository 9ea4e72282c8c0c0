"""V2 checkpoints: an `.index` table and `.data-NNNNN-of-NNNNN` shards (format doc, V2)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ckpt_browser.format import dtypes, kinds
from ckpt_browser.format.checkpoint import (
    Checkpoint,
    ChecksumProblem,
    Index,
    TensorInfo,
    as_index,
)
from ckpt_browser.format.crc import PartialChecksum, mask
from ckpt_browser.format.errors import CheckpointError, ChecksumError
from ckpt_browser.format.gc_pause import gc_paused
from ckpt_browser.format.kinds import TensorKind
from ckpt_browser.format.v2.bundle import BundleEntry, BundleIndex, DataFiles
from ckpt_browser.format.v2.partitions import StoredSlice, assemble, check_slices, format_extents
from ckpt_browser.format.v2.shard_check import ShardCheck, check_shards
from ckpt_browser.format.v2.slice_keys import slice_key
from ckpt_browser.format.v2.tensor_checksums import StoredChecksum


class VerifyPiece(NamedTuple):
    """One stored entry as `verify` checks it: listed under `name`, `label` naming a slice in
    messages (None for a whole tensor); `by_range` when its bytes can be checksummed in ranges
    that merge (fixed-size dtypes; strings are checked through their layout, whole)."""

    key: bytes
    name: str
    label: str | None
    size: int
    by_range: bool


class BundleCheckpoint(Checkpoint):
    """An open V2 checkpoint (an `.index` and its `.data-*` shards).

    `warnings` lists, one sentence each, what the checkpoint lacks but could be opened without
    (for now: a TF2 object graph that cannot be read, when its data shard is missing or damaged;
    then every tensor is listed by its key). Callers show them; the command line prints each as
    `warning: ...` on stderr. Tensors the data files cannot hold are `check_shards()`'s to find.
    """

    def __init__(self, prefix: str) -> None:
        super().__init__(prefix)
        self._shard_check: ShardCheck | None = None
        self._checked_slices: dict[str, tuple[StoredSlice, ...]] = {}
        self._entries_by_key: dict[bytes, BundleEntry] | None = None
        with gc_paused():
            self._index = BundleIndex(prefix)
            self._data = DataFiles(prefix, self._index.num_shards, self._index.big_endian)
            self.object_graph = self._load_object_graph()
            self._infos = {name: self._info(name, e) for name, e in self._index.entries.items()}
            if self.object_graph is not None:
                self._infos = _prefer_variable_names(self._infos)

    format_name = "V2"

    def close(self) -> None:
        """Release the memory maps (arrays still in use keep theirs alive)."""
        self._data.close()

    @property
    def num_shards(self) -> int:
        return self._index.num_shards

    def check_shards(self) -> ShardCheck:
        """Tensors whose bytes lie past the end of their shard or in a missing shard, found
        from the index and the shards' sizes alone (cheap: call it at open). Computed once."""
        if self._shard_check is None:
            self._shard_check = check_shards(self._index, self._data)
        return self._shard_check

    def data_files(self) -> list[str]:
        """The data files the tensors lie in (those the index points at, in the header's range)."""
        shards = self._index.shards_in_use
        return [self._data.path(i) for i in shards if 0 <= i < self.num_shards]

    def files(self) -> list[str]:
        return [self.prefix + ".index", *self.data_files()]

    # -- reading ----------------------------------------------------------------------------------

    def read(self, name: str, index: Index | None = None) -> np.ndarray:
        """Fixed-size dtypes come back as read-only views of a memory map: nothing is copied and
        a slice touches only the pages it needs (a remote slice fetches only its bytes)."""
        self.info(name)
        entry = self._index.entries[name]
        if entry.slices:
            region = () if index is None else as_index(index)
            return assemble(self._data, entry, self._slices(entry), region)
        if index is None:
            return self._data.array(entry)
        return self._data.region(entry, as_index(index))

    def stored_checksum(self, name: str) -> StoredChecksum | None:
        """Where the bytes `read(name)` views lie, with their stored CRC, when that view is exactly
        the stored bytes (a plain little-endian tensor of a fixed-size dtype): a pass over the
        tensor then checks it as it goes. None otherwise: `checksum_problem` checks those."""
        self.info(name)
        entry = self._index.entries[name]
        if entry.slices or entry.dtype.itemsize is None or self._index.big_endian:
            return None
        return self._stored(entry, entry.name)

    def checksum_problem(self, name: str) -> str | None:
        """None when every stored piece of tensor `name` (each slice of a partitioned one) matches
        its CRC32C; else the sentence saying which does not, and where. Reads the tensor's bytes."""
        self.info(name)
        entry = self._index.entries[name]
        pieces = [(entry, entry.name)]
        if entry.slices:
            pieces = [
                (part.entry, f"{entry.name} (slice {format_extents(part.extents)})")
                for part in self._slices(entry)
            ]
        for piece, shown in pieces:
            try:
                computed = self._data.checksum(piece, shared=True)
            except ChecksumError as exc:  # a checksum inside a string or variant layout
                return str(exc)
            problem = self._stored(piece, shown).problem_masked(computed)
            if problem is not None:
                return problem
        return None

    def _stored(self, entry: BundleEntry, shown: str) -> StoredChecksum:
        return StoredChecksum(
            shown, self._data.path(entry.shard_id), entry.offset, entry.size, entry.crc32c
        )

    def verify(self, progress: Callable[[int, int], None] | None = None) -> list[ChecksumProblem]:
        """Check every stored CRC32C, and every entry's declared size and every partitioned
        tensor's slices as reading would; an empty list means the checkpoint is intact."""
        problems, pieces = self.verify_pieces()
        total = sum(piece.size for piece in pieces)
        done = 0
        for piece in pieces:
            problem = self.verify_piece(piece)
            if problem is not None:
                problems.append(problem)
            done += piece.size
            if progress is not None:
                progress(done, total)
        return problems

    # -- verifying in pieces (each independent, so they can run anywhere and merge) --------------

    def verify_pieces(self) -> tuple[list[ChecksumProblem], list[VerifyPiece]]:
        """What `verify` checks without reading data (the slices of partitioned tensors), and the
        stored entries whose bytes it checks, in the order it reports them."""
        problems: list[ChecksumProblem] = []
        for full in self._index.entries.values():
            if full.slices:
                try:
                    self._slices(full)
                except CheckpointError as exc:
                    problems.append(ChecksumProblem(full.name, str(exc)))
        slice_names = self._slice_names()
        entries = [e for e in self._index.entries.values() if not e.slices]
        entries += list(self._index.slice_entries.values())
        pieces = []
        for entry in entries:
            name, label = slice_names.get(entry.key, (entry.name, None))
            by_range = entry.dtype.itemsize is not None and entry.dtype.enum != dtypes.VARIANT
            pieces.append(VerifyPiece(entry.key, name, label, entry.size, by_range))
        return problems, pieces

    def verify_piece(self, piece: VerifyPiece) -> ChecksumProblem | None:
        """Check one stored entry's size, extent and checksum."""
        entry = self._entry_of(piece.key)
        try:
            if piece.label is None:  # a slice's was checked with its tensor's
                self._data.check_declared(entry)
            actual = self._data.checksum(entry, piece.label)
        except CheckpointError as exc:
            return ChecksumProblem(piece.name, str(exc))
        return self._mismatch(piece, entry, actual)

    def piece_range_checksum(
        self, piece: VerifyPiece, start: int, stop: int
    ) -> PartialChecksum | ChecksumProblem:
        """The CRC32C of bytes `start:stop` of a fixed-size entry (`piece.by_range`); the range
        at 0 also checks what `verify_piece` checks before reading, and reports it the same way."""
        entry = self._entry_of(piece.key)
        try:
            if start == 0:
                if piece.label is None:
                    self._data.check_declared(entry)
                self._data.check_extent(entry, piece.label)
            return PartialChecksum(self._data.range_crc(entry, start, stop), stop - start)
        except CheckpointError as exc:
            return ChecksumProblem(piece.name, str(exc))

    def piece_problem(self, piece: VerifyPiece, crc: int) -> ChecksumProblem | None:
        """The verdict on a piece from the (unmasked) CRC32C of all its bytes."""
        return self._mismatch(piece, self._entry_of(piece.key), mask(crc))

    def _mismatch(
        self, piece: VerifyPiece, entry: BundleEntry, actual: int
    ) -> ChecksumProblem | None:
        if actual == entry.crc32c:
            return None
        return ChecksumProblem(
            piece.name,
            f"checksum does not match: stored {entry.crc32c:#010x}, computed "
            f"{actual:#010x} over {entry.size} bytes at offset {entry.offset} of "
            f"{os.path.basename(self._data.path(entry.shard_id))}",
        )

    def _entry_of(self, key: bytes) -> BundleEntry:
        if self._entries_by_key is None:
            entries = [*self._index.entries.values(), *self._index.slice_entries.values()]
            self._entries_by_key = {entry.key: entry for entry in entries}
        return self._entries_by_key[key]

    def read_flat(self, name: str, start: int, stop: int) -> np.ndarray:
        """Elements `start:stop` of the flattened tensor; from a remote shard only their bytes
        are fetched (`read` would copy a large tensor whole first)."""
        info = self.info(name)
        entry = self._index.entries[name]
        itemsize = entry.dtype.itemsize
        plain = not entry.slices and itemsize is not None and entry.dtype.enum != dtypes.VARIANT
        if self._data.mapped or not plain or self._index.big_endian or stop <= start:
            return super().read_flat(name, start, stop)
        assert itemsize is not None and info.size >= stop
        self._data.check_declared(entry)
        self._data.check_extent(entry, None)
        source = self._data.source(entry.shard_id)
        raw = source.read_once(entry.offset + start * itemsize, (stop - start) * itemsize)
        return np.frombuffer(raw, entry.dtype.numpy)

    # -- internals --------------------------------------------------------------------------------

    def _slices(self, full: BundleEntry) -> tuple[StoredSlice, ...]:
        """The slices of a partitioned tensor, checked once (see `partitions`)."""
        checked = self._checked_slices.get(full.name)
        if checked is None:
            checked = self._checked_slices[full.name] = check_slices(self._index, self._data, full)
        return checked

    def _slice_names(self) -> dict[bytes, tuple[str, str]]:
        """What `verify` calls each slice entry rather than its binary key: a short name for its
        list, and a label for messages."""
        names = {}
        for full in self._index.entries.values():
            for extents in full.slices:
                where = format_extents(extents)
                names[slice_key(full.key, extents)] = (
                    f"{full.name} (slice {where})",
                    f"slice {where} of partitioned tensor {full.name!r}",
                )
        return names

    def _load_object_graph(self):  # -> ObjectGraph | None
        entry = self._index.entries.get(kinds.OBJECT_GRAPH_KEY)
        if entry is None or not entry.dtype.is_string or entry.shape != ():
            return None
        from ckpt_browser.format.object_graph import ObjectGraph

        # The index lists every name on its own: a missing or damaged object graph costs the
        # readable names, not the listing (TensorFlow's list_variables works on such a prefix).
        try:
            return ObjectGraph.parse(self._data.array(entry).item())
        except CheckpointError as exc:
            self.warnings.append(
                f"{exc}; without the object graph it holds, tensors are listed by their keys"
            )
            return None

    def _info(self, name: str, entry: BundleEntry) -> TensorInfo:
        kind = kinds.classify(name)
        readable = kinds.strip_attribute(name)
        slot_of = full_name = None
        graph = self.object_graph
        if graph is not None:
            # The key may go through the optimizer (Keras 3 lists the model's variables there too);
            # the object path says what the tensor is.
            readable = graph.readable_names.get(name, readable)
            full_name = graph.full_names.get(name) or None
            if kind is not TensorKind.OBJECT_GRAPH:
                kind = kinds.classify(readable)
            if name in graph.counter_keys:
                kind = TensorKind.COUNTER
            elif name in graph.optimizer_keys or name in graph.slot_of:
                kind = TensorKind.OPTIMIZER
            if name in graph.slot_of:
                slot_of = graph.slot_of[name][0]
        elif kind is TensorKind.OPTIMIZER:
            slot_of = kinds.tf1_slot_owner(name, self._index.entries)
        nbytes = _stored_bytes(self._index, entry)
        shard = None if entry.slices else entry.shard_id
        return TensorInfo(
            name=name,
            dtype=entry.dtype,
            shape=entry.shape,
            nbytes=nbytes,
            shard=shard,
            kind=kind,
            readable_name=readable,
            partitioned=bool(entry.slices),
            slot_of=slot_of,
            full_name=full_name,
            object_path=readable if graph is not None else None,
        )


def _prefer_variable_names(infos: dict[str, TensorInfo]) -> dict[str, TensorInfo]:
    """Show Keras 3 variables by their own names where the object path goes through internals.

    Keras 3 reaches layers through private attributes (`model/_functional/_operations/1/_kernel`);
    the variable's own name (`sequential/dense/kernel`) is what its user wrote. Used only when
    those names are unique, so two tensors never show under one name; slots follow their variable.
    """
    renamed: dict[str, str] = {}
    for key, info in infos.items():
        private = any(part.startswith("_") for part in info.readable_name.split("/"))
        if private and info.full_name and info.slot_of is None and info.kind is TensorKind.VARIABLE:
            renamed[key] = info.full_name
    if len(set(renamed.values())) != len(renamed) or set(renamed.values()) & {
        i.readable_name for k, i in infos.items() if k not in renamed
    }:
        return infos
    out = {}
    for key, info in infos.items():
        readable = renamed.get(key)
        owner = infos.get(info.slot_of) if info.slot_of else None
        if owner is not None and info.slot_of in renamed:
            suffix = info.readable_name[len(owner.readable_name) :]
            readable = renamed[info.slot_of] + suffix
        out[key] = info._replace(readable_name=readable) if readable else info
    return out


def _stored_bytes(index: BundleIndex, entry: BundleEntry) -> int:
    """Bytes in the data files, known from the index alone: for fixed-size dtypes what the shape
    implies (a stored size that differs, or slices that do not tile the shape, are refused when
    the tensor is read or verified), for strings what the entries say (a missing slice adds 0)."""
    itemsize = entry.dtype.itemsize
    if itemsize is not None:
        return entry.num_elements * itemsize
    if not entry.slices:
        return entry.size
    parts = (index.slice_entries.get(slice_key(entry.key, e)) for e in entry.slices)
    return sum(part.size for part in parts if part is not None)
