"""The tensor bundle: the `.index` entries of a checkpoint and the bytes they point at.

This module knows the on-disk layout (format doc, sections 3 and 4) and nothing about what the
names mean; `checkpoint.py` builds the user-facing Mapping on top of it.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError

from . import dtypes, protos
from .crc import crc32c, mask
from .errors import CheckpointError
from .slice_keys import is_slice_key, slice_key
from .sstable import Table, _varint

Extents = tuple[tuple[int, int], ...]  # per dimension (start, length); length -1 = whole dimension

# A string tensor's element count must fit in its bytes; this bounds what a bad index can make us
# allocate. Variable-size layouts are parsed with this many bytes per length at least.
_MIN_BYTES_PER_STRING = 1


@dataclass(frozen=True)
class BundleEntry:
    """One parsed BundleEntryProto."""

    key: bytes
    dtype: dtypes.DType
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int
    slices: tuple[Extents, ...]

    @property
    def num_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def name(self) -> str:
        return self.key.decode("utf-8", "backslashreplace")


def data_file_name(prefix: str, shard_id: int, num_shards: int) -> str:
    return f"{prefix}.data-{shard_id:05d}-of-{num_shards:05d}"


class BundleIndex:
    """The parsed `.index` of a prefix: the header and every entry."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.index_path = prefix + ".index"
        table = Table.open(self.index_path)
        self.entries: dict[str, BundleEntry] = {}
        self.slice_entries: dict[bytes, BundleEntry] = {}
        items = iter(table)
        first = next(items, None)
        if first is None or first[0] != b"":
            raise CheckpointError("no bundle header (the first key must be empty)", self.index_path)
        self._parse_header(first[1])
        for key, value in items:
            entry = self._parse_entry(key, value)
            if is_slice_key(key):
                self.slice_entries[key] = entry
            else:
                self.entries[entry.name] = entry

    def _parse_header(self, value: bytes) -> None:
        try:
            header = protos.BundleHeaderProto.FromString(value)
        except DecodeError:
            raise CheckpointError("unable to parse the bundle header", self.index_path) from None
        if header.num_shards < 0:
            raise CheckpointError(f"bad shard count {header.num_shards}", self.index_path)
        if header.version.producer < 0 or header.version.min_consumer > 1:
            raise CheckpointError(
                f"written by a newer TensorFlow (min_consumer {header.version.min_consumer})",
                self.index_path,
            )
        self.num_shards = header.num_shards
        self.big_endian = header.endianness == 1

    def _parse_entry(self, key: bytes, value: bytes) -> BundleEntry:
        name = key.decode("utf-8", "backslashreplace")
        try:
            proto = protos.BundleEntryProto.FromString(value)
        except DecodeError:
            raise CheckpointError(
                f"entry for key {name!r} is not parseable", self.index_path
            ) from None
        dtype = dtypes.from_enum(proto.dtype)
        if dtype is None:
            raise CheckpointError(
                f"tensor {name!r} has unknown dtype number {proto.dtype}", self.index_path
            )
        if proto.shape.unknown_rank or any(d.size < 0 for d in proto.shape.dim):
            raise CheckpointError(f"invalid tensor shape for {name!r}", self.index_path)
        shape = tuple(d.size for d in proto.shape.dim)
        slices = tuple(
            tuple((e.start, e.length) if e.WhichOneof("has_length") else (0, -1) for e in s.extent)
            for s in proto.slices
        )
        return BundleEntry(
            key, dtype, shape, proto.shard_id, proto.offset, proto.size, proto.crc32c, slices
        )

    def slice_entry(self, full: BundleEntry, extents: Extents) -> BundleEntry:
        """The stored entry of one slice of a partitioned tensor."""
        key = slice_key(full.name, extents)
        try:
            return self.slice_entries[key]
        except KeyError:
            raise CheckpointError(
                f"slice {list(extents)} of partitioned tensor {full.name!r} is missing",
                self.index_path,
            ) from None


class DataFiles:
    """The `.data-*` shards of a prefix, memory-mapped on first use."""

    def __init__(self, prefix: str, num_shards: int, big_endian: bool = False) -> None:
        self.prefix = prefix
        self.num_shards = num_shards
        self.big_endian = big_endian
        self._maps: dict[int, mmap.mmap | bytes] = {}

    def path(self, shard_id: int) -> str:
        return data_file_name(self.prefix, shard_id, self.num_shards)

    def buffer(self, shard_id: int) -> mmap.mmap | bytes:
        """The whole shard as a read-only buffer (an empty file is legal and gives b'')."""
        if shard_id in self._maps:
            return self._maps[shard_id]
        if not 0 <= shard_id < self.num_shards:
            raise CheckpointError(
                f"shard {shard_id} is out of range: the header says {self.num_shards} shard(s)",
                self.prefix + ".index",
            )
        path = self.path(shard_id)
        try:
            with open(path, "rb") as file:
                size = os.fstat(file.fileno()).st_size
                buf = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except FileNotFoundError:
            raise CheckpointError("data shard is missing", path) from None
        except OSError as exc:
            raise CheckpointError(f"cannot read data shard: {exc.strerror}", path) from None
        self._maps[shard_id] = buf
        return buf

    def raw(self, entry: BundleEntry) -> memoryview:
        """The stored bytes of an entry, checked to lie inside its shard."""
        buf = self.buffer(entry.shard_id)
        if entry.offset < 0 or entry.size < 0 or entry.offset + entry.size > len(buf):
            raise CheckpointError(
                f"tensor {entry.name!r}: bytes {entry.offset}..{entry.offset + entry.size} lie "
                f"past the end of the data file ({len(buf)} bytes); the shard is truncated",
                self.path(entry.shard_id),
            )
        return memoryview(buf)[entry.offset : entry.offset + entry.size]

    def close(self) -> None:
        for buf in self._maps.values():
            if isinstance(buf, mmap.mmap):
                # Arrays that still view the map keep it open; it closes when they are gone.
                with contextlib.suppress(BufferError):
                    buf.close()
        self._maps.clear()

    # -- decoding -------------------------------------------------------------------------------

    def array(self, entry: BundleEntry) -> np.ndarray:
        """The tensor of a plain (not partitioned) entry; no copy for fixed-size types."""
        dtype = entry.dtype
        if dtype.is_string or dtype.enum == dtypes.VARIANT:
            return self._strings(entry)
        if dtype.numpy is None:
            raise CheckpointError(
                f"tensor {entry.name!r} has dtype {dtype.name}, which is never stored",
                self.path(entry.shard_id),
            )
        expected = entry.num_elements * dtype.itemsize
        if entry.size != expected:
            raise CheckpointError(
                f"invalid size in bundle entry: key {entry.name!r}; stored size {entry.size}; "
                f"expected size {expected}",
                self.prefix + ".index",
            )
        if expected == 0:
            return np.zeros(entry.shape, dtype.numpy)
        raw = self.raw(entry)
        if self.big_endian:
            array = np.frombuffer(raw, dtype.numpy.newbyteorder(">"))
            return array.astype(dtype.numpy).reshape(entry.shape)
        return np.frombuffer(raw, dtype.numpy).reshape(entry.shape)

    def _strings(self, entry: BundleEntry) -> np.ndarray:
        """DT_STRING: varint lengths, a masked CRC of them, then the bytes (format doc, 4.3)."""
        count = entry.num_elements
        raw = self.raw(entry)
        if count * _MIN_BYTES_PER_STRING + 4 > len(raw):
            raise CheckpointError(
                f"tensor {entry.name!r}: {count} strings cannot fit in {len(raw)} stored bytes",
                self.path(entry.shard_id),
            )
        if entry.dtype.enum == dtypes.VARIANT:
            return self._variants(entry, raw, count)
        data = bytes(raw)
        lengths = []
        pos = 0
        try:
            for _ in range(count):
                length, pos = _varint(data, pos, len(data))
                lengths.append(length)
        except IndexError:
            raise self._damaged(entry, "string lengths run past the stored bytes") from None
        pos += 4  # the masked CRC32C of the lengths
        if pos + sum(lengths) != len(data):
            raise self._damaged(entry, "string lengths do not add up to the stored size")
        out = np.empty(count, dtype=object)
        for i, length in enumerate(lengths):
            out[i] = data[pos : pos + length]
            pos += length
        return out.reshape(entry.shape)

    def _variants(self, entry: BundleEntry, raw: memoryview, count: int) -> np.ndarray:
        """DT_VARIANT: each element is a serialized VariantTensorDataProto, kept as bytes."""
        data = bytes(raw)
        out = np.empty(count, dtype=object)
        pos = 0
        try:
            for i in range(count):
                length, pos = _varint(data, pos, len(data))
                if pos + length + 4 > len(data):
                    raise IndexError
                out[i] = data[pos : pos + length]
                pos += length + 4
        except IndexError:
            raise self._damaged(entry, "variant elements run past the stored bytes") from None
        return out.reshape(entry.shape)

    def _damaged(self, entry: BundleEntry, what: str) -> CheckpointError:
        return CheckpointError(f"tensor {entry.name!r}: {what}", self.path(entry.shard_id))

    # -- checksums ------------------------------------------------------------------------------

    def checksum(self, entry: BundleEntry) -> int:
        """The masked CRC32C of an entry's stored bytes, computed as TensorFlow does."""
        raw = self.raw(entry)
        if entry.dtype.is_string:
            return mask(self._string_crc(entry, raw))
        if entry.dtype.enum == dtypes.VARIANT:
            return mask(self._variant_crc(entry, raw))
        return mask(crc32c(raw))

    def _string_crc(self, entry: BundleEntry, raw: memoryview) -> int:
        # The entry CRC covers each length as a 4-byte (or 8-byte when large) little-endian integer,
        # then the 4 stored checksum bytes, then the string bytes; not the varints themselves.
        data = bytes(raw)
        pos = 0
        crc = 0
        try:
            for _ in range(entry.num_elements):
                length, pos = _varint(data, pos, len(data))
                width = 4 if length <= 0xFFFFFFFF else 8
                crc = crc32c(length.to_bytes(width, "little"), crc)
        except IndexError:
            raise self._damaged(entry, "string lengths run past the stored bytes") from None
        return crc32c(data[pos:], crc)

    def _variant_crc(self, entry: BundleEntry, raw: memoryview) -> int:
        data = bytes(raw)
        pos = 0
        crc = 0
        try:
            for _ in range(entry.num_elements):
                length, pos = _varint(data, pos, len(data))
                crc = crc32c(length.to_bytes(8, "little"), crc)
                crc = crc32c(data[pos : pos + length], crc)
                pos += length
                crc = crc32c(data[pos : pos + 4], crc)
                pos += 4
        except IndexError:
            raise self._damaged(entry, "variant elements run past the stored bytes") from None
        return crc
