"""The tensor bundle: the `.index` entries of a checkpoint and the bytes they point at.

This module knows the on-disk layout (format doc, sections 3 and 4) and nothing about what the
names mean; `checkpoint.py` builds the user-facing Mapping on top of it.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import re
from typing import NamedTuple

import numpy as np
from google.protobuf.message import DecodeError

from . import dtypes, protos
from .crc import crc32c, mask
from .errors import CheckpointError
from .files import open_regular
from .gc_pause import gc_paused
from .pages import drop_pages
from .slice_keys import slice_key
from .sstable import Table, _varint

Extents = tuple[tuple[int, int], ...]  # per dimension (start, length); length -1 = whole dimension

# `verify` checksums big tensors in pieces of this size, releasing each piece's pages after it.
_CHECKSUM_CHUNK = 64 << 20

# A string tensor's element count must fit in its bytes; this bounds what a bad index can make us
# allocate. Variable-size layouts are parsed with this many bytes per length at least.
_MIN_BYTES_PER_STRING = 1


class BundleEntry(NamedTuple):
    """One entry of the index (a NamedTuple: one is made per tensor when an index opens).

    Dtype, shape and shard are decoded when the index opens; where the bytes lie (offset, size,
    checksum) is decoded from the entry's raw bytes when asked: listing 100,000 tensors never
    needs it. A malformed location then raises CheckpointError naming the entry and the index.
    """

    key: bytes
    dtype: dtypes.DType
    shape: tuple[int, ...]
    shard_id: int
    slices: tuple[Extents, ...] = ()
    location: tuple[int, int, int] | None = None  # (offset, size, crc32c) when already known
    raw: bytes = b""  # the BundleEntryProto bytes, to decode the location from
    index_path: str = ""

    def _located(self) -> tuple[int, int, int]:
        if self.location is not None:
            return self.location
        raw = self.raw
        tail = _ENTRY_TAIL.fullmatch(raw, 4 + raw[3])
        if tail is not None:
            _shard, offset, size, crc = tail.groups()
            return (
                0 if offset is None else _varint_value(offset),
                0 if size is None else _varint_value(size),
                0 if crc is None else int.from_bytes(crc, "little"),
            )
        # Fields in another order, unknown fields, negative values: protobuf decides.
        try:
            proto = protos.BundleEntryProto.FromString(raw)
        except DecodeError:
            message = f"entry for key {self.name!r} is not parseable"
            raise CheckpointError(message, self.index_path) from None
        return proto.offset, proto.size, proto.crc32c

    @property
    def offset(self) -> int:
        return self._located()[0]

    @property
    def size(self) -> int:
        return self._located()[1]

    @property
    def crc32c(self) -> int:
        return self._located()[2]

    @property
    def num_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def name(self) -> str:
        return self.key.decode("utf-8", "backslashreplace")


# An entry's bytes are a head (dtype and shape, shared by many tensors) and a tail (shard, offset,
# size, crc: different for each). Heads are decoded once and cached; tails match this pattern
# (see BundleIndex._parse_entry).
_VARINT = rb"([\x80-\xff]{0,8}[\x00-\x7f])"
_ENTRY_TAIL = re.compile(
    rb"(?:\x18" + _VARINT + rb")?(?:\x20" + _VARINT + rb")?(?:\x28" + _VARINT + rb")?"
    rb"(?:\x35(....))?",
    re.DOTALL,
)
_HEADS: dict[bytes, tuple[int, tuple[int, ...]] | None] = {}
_DTYPES = dtypes.BY_ENUM
_TAIL_TAGS = frozenset((0x18, 0x20, 0x28, 0x35))  # shard, offset, size, crc32c


def _varint_value(encoded: bytes) -> int:
    """The value of a varint of at most 9 bytes (so below 2**63: never negative)."""
    n = len(encoded)
    if n == 1:
        return encoded[0]
    if n == 2:  # the short forms are written out: a loop costs more than the whole entry
        return (encoded[0] & 0x7F) | encoded[1] << 7
    if n == 3:
        return (encoded[0] & 0x7F) | (encoded[1] & 0x7F) << 7 | encoded[2] << 14
    if n == 4:
        low = (encoded[0] & 0x7F) | (encoded[1] & 0x7F) << 7 | (encoded[2] & 0x7F) << 14
        return low | encoded[3] << 21
    result = 0
    for shift, byte in enumerate(encoded):
        result |= (byte & 0x7F) << (7 * shift)
    return result


def _decode_head(head: bytes) -> tuple[int, tuple[int, ...]] | None:
    """Dtype and shape from `08 <dtype> 12 <len> (12 <dim len> [08 <size>])*`, or None."""
    dims = []
    pos, end = 4, len(head)
    try:
        while pos < end:
            dim_len = head[pos + 1]
            if head[pos] != 0x12 or dim_len >= 0x80:
                return None
            dim_end = pos + 2 + dim_len
            if dim_len == 0:
                dims.append(0)
            elif head[pos + 2] == 0x08:
                dim, next_pos = _varint(head, pos + 3, dim_end)
                if next_pos != dim_end or dim >= 1 << 62:
                    return None
                dims.append(dim)
            else:
                return None
            pos = dim_end
    except IndexError:
        return None
    return (head[1], tuple(dims)) if pos == end else None


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
        items = table.items()
        if not items or items[0][0] != b"":
            raise CheckpointError("no bundle header (the first key must be empty)", self.index_path)
        self._parse_header(items[0][1])
        parse = self._parse_entry
        with gc_paused():
            for key, value in items[1:]:
                if key[0] == 0:  # slice keys start with a zero byte
                    self.slice_entries[key] = parse(key, value)
                else:
                    self.entries[key.decode("utf-8", "backslashreplace")] = parse(key, value)

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
        """An entry as TensorFlow writes it (dtype, shape, then shard, offset, size, crc), read
        here; anything else (slices, odd values, another field order) goes through protobuf.

        Why by hand: protobuf plus attribute access costs ~20 us an entry, too slow for indexes of
        100,000 tensors. The dtype-and-shape head is decoded once per distinct head, the shard
        here, the rest by BundleEntry when first needed. Tests check both paths agree.
        """
        if len(value) > 3 and value[0] == 0x08 and value[2] == 0x12 and value[1] | value[3] < 0x80:
            head_end = 4 + value[3]
            head = value[:head_end]
            decoded = _HEADS.get(head, False)
            if decoded is False:
                decoded = _HEADS[head] = _decode_head(head)
            dtype = _DTYPES.get(decoded[0]) if decoded is not None else None
            next_tag = value[head_end] if head_end < len(value) else 0x20
            # Slices (tag 0x3a) make a partitioned tensor's entry: protobuf reads those. A 0x3a
            # byte inside an offset or checksum only sends an ordinary entry the slow way.
            if dtype is not None and next_tag in _TAIL_TAGS and value.find(b"\x3a", head_end) < 0:
                shard_id = 0
                if next_tag == 0x18:
                    try:
                        shard_id, _ = _varint(value, head_end + 1, len(value))
                    except IndexError:
                        return self._parse_entry_proto(key, value)
                raw = value if head_end < len(value) else b""
                location = None if raw else (0, 0, 0)
                return BundleEntry(
                    key, dtype, decoded[1], shard_id, (), location, raw, self.index_path
                )
        return self._parse_entry_proto(key, value)

    def _parse_entry_proto(self, key: bytes, value: bytes) -> BundleEntry:
        """The general path through protobuf, for entries the fast decoder leaves alone."""
        name = key.decode("utf-8", "backslashreplace")
        try:
            proto = protos.BundleEntryProto.FromString(value)
        except DecodeError:
            message = f"entry for key {name!r} is not parseable"
            raise CheckpointError(message, self.index_path) from None
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
        location = (proto.offset, proto.size, proto.crc32c)
        return BundleEntry(key, dtype, shape, proto.shard_id, slices, location)

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
            with open_regular(path, "data shard") as file:  # a FIFO would block for ever
                size = os.fstat(file.fileno()).st_size
                buf = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except OSError as exc:
            raise CheckpointError(f"cannot read data shard: {exc.strerror}", path) from None
        self._maps[shard_id] = buf
        return buf

    def raw(self, entry: BundleEntry) -> memoryview:
        """The stored bytes of an entry, checked to lie inside its shard."""
        buf = self.buffer(entry.shard_id)
        if entry.size == 0 and entry.offset >= 0:
            return memoryview(b"")  # nothing to read, wherever it points (TensorFlow agrees)
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
        crc = 0
        for start in range(0, len(raw), _CHECKSUM_CHUNK):
            crc = crc32c(raw[start : start + _CHECKSUM_CHUNK], crc)
            self._release(entry.shard_id, entry.offset + start, _CHECKSUM_CHUNK)
        return mask(crc)

    def _release(self, shard_id: int, offset: int, length: int) -> None:
        """Hand a checksummed range's pages back (see `pages`): `verify` of 50 GB stays small."""
        buf = self._maps.get(shard_id)
        if isinstance(buf, mmap.mmap):
            drop_pages(buf, offset, length)

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
