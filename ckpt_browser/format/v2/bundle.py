"""The tensor bundle: the `.index` entries of a checkpoint and the bytes they point at.

This module knows the on-disk layout (format doc, sections 3 and 4) and nothing about what the
names mean; `checkpoint.py` builds the user-facing Mapping on top of it.
"""

from __future__ import annotations

import bisect
import math
import mmap
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import NamedTuple

import numpy as np
from google.protobuf.message import DecodeError

from ckpt_browser.format import dtypes, protos
from ckpt_browser.format.array_shapes import shape_problem
from ckpt_browser.format.crc import crc32c, mask
from ckpt_browser.format.errors import CheckpointError, ChecksumError
from ckpt_browser.format.gc_pause import gc_paused
from ckpt_browser.format.names import name_of_key, names_of_keys
from ckpt_browser.format.pages import drop_pages
from ckpt_browser.format.regions import read_region, region_elements
from ckpt_browser.format.sources.base import SPOOL_BYTES, Buffer, ByteSource, raise_if_cancelled
from ckpt_browser.format.sources.local import local_file_size
from ckpt_browser.format.sources.locations import archive_member, exists, is_url, open_source
from ckpt_browser.format.sources.spools import Spools
from ckpt_browser.format.sstable.reader import Table
from ckpt_browser.format.v2.slice_keys import slice_key
from ckpt_browser.format.v2.string_tensors import (
    LayoutChecksumError,
    LayoutError,
    string_layout,
    strings_array,
    variant_layout,
)

Extents = tuple[tuple[int, int], ...]  # per dimension (start, length); length -1 = whole dimension

# `verify` checksums big tensors in pieces of this size, releasing each piece's pages after it.
_CHECKSUM_CHUNK = 64 << 20

# The bundle format version this reader is (TensorFlow's kTensorBundleVersion).
_BUNDLE_VERSION = 1


class BundleEntry(NamedTuple):
    """One entry of the index (a NamedTuple: one is made per tensor when an index opens).

    Dtype, shape and shard are decoded when the index opens; where the bytes lie (offset, size,
    checksum) is decoded from the entry's raw bytes when asked: listing 100,000 tensors never
    needs it. `raw` is kept only for entries whose layout `BundleIndex._parse_entry` proved
    canonical, so decoding it later cannot fail.
    """

    key: bytes
    dtype: dtypes.DType
    shape: tuple[int, ...]
    shard_id: int
    slices: tuple[Extents, ...] = ()
    location: tuple[int, int, int] | None = None  # (offset, size, crc32c) when already known
    raw: bytes = b""  # the canonical BundleEntryProto bytes, to decode the location from

    def _located(self) -> tuple[int, int, int]:
        if self.location is not None:
            return self.location
        raw = self.raw  # its tail matched when the index opened, so it matches again
        _shard, offset, size, crc = _ENTRY_TAIL.fullmatch(raw, 4 + raw[3]).groups()
        return (
            0 if offset is None else _varint_value(offset),
            0 if size is None else _varint_value(size),
            0 if crc is None else int.from_bytes(crc, "little"),
        )

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
        return name_of_key(self.key)


# Calling __new__ skips type.__call__: 100 ns less an entry, a tenth of the entry's cost.
_new_entry = BundleEntry.__new__


# The canonical layout of an entry, as TensorFlow writes it (proto3: zero values left out):
#   08 <dtype> 12 <shape length> (12 00 | 12 <dim length> 08 <size>)*   the head
#   [18 <shard>] [20 <offset>] [28 <size>] [35 <crc32c, 4 bytes>]         the tail
# with every field at most once, in this order, varints in their shortest form, and nothing
# after. Only for this layout is reading it by hand provably what protobuf reads; any other entry
# (fields in another order or repeated, unknown fields, padded varints, slices) goes through
# protobuf. Heads (dtype and shape, shared by many tensors) are decoded once per index.
_VARINT64 = rb"([\x00-\x7f]|[\x80-\xff]{1,8}[\x01-\x7f])"  # up to 9 bytes: below 2**63
_VARINT31 = rb"([\x00-\x7f]|[\x80-\xff]{1,3}[\x01-\x7f]|[\x80-\xff]{4}[\x01-\x07])"
_ENTRY_TAIL = re.compile(
    rb"(?:\x18" + _VARINT31 + rb")?(?:\x20" + _VARINT64 + rb")?(?:\x28" + _VARINT64 + rb")?"
    rb"(?:\x35(....))?",
    re.DOTALL,
)
_match_tail = _ENTRY_TAIL.fullmatch
_DIM = re.compile(rb"\x12(?:\x00|([\x02-\x0a])\x08" + _VARINT64 + rb")", re.DOTALL)
# A dimension this large overflows the element count of any tensor; protobuf decides on those.
_MAX_FAST_DIM = 1 << 62


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


def _decode_head(head: bytes) -> tuple[dtypes.DType, tuple[int, ...]] | None:
    """Dtype and shape of a canonical head (see `_ENTRY_TAIL`), or None for any other."""
    dtype = dtypes.from_enum(head[1])
    if dtype is None:
        return None
    dims = []
    pos, end = 4, len(head)
    while pos < end:
        dim = _DIM.match(head, pos)
        if dim is None:
            return None
        length, size = dim.groups()
        if length is None:
            dims.append(0)
        elif length[0] != 1 + len(size) or _varint_value(size) >= _MAX_FAST_DIM:
            return None
        else:
            dims.append(_varint_value(size))
        pos = dim.end()
    return (dtype, tuple(dims)) if pos == end else None


def data_file_name(prefix: str, shard_id: int, num_shards: int) -> str:
    return f"{prefix}.data-{shard_id:05d}-of-{num_shards:05d}"


class BundleIndex:
    """The parsed `.index` of a prefix: the header and every entry."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.index_path = prefix + ".index"
        table = Table.open(self.index_path)
        self._heads: dict[bytes, tuple[dtypes.DType, tuple[int, ...]] | None] = {}
        items = table.items()
        if not items or items[0][0] != b"":
            raise CheckpointError("no bundle header (the first key must be empty)", self.index_path)
        self._parse_header(items[0][1])
        parse = self._parse_entry
        with gc_paused():
            # Keys strictly increase (Table checks), so the keys that start with a zero byte, as
            # every slice key does, come right after the header.
            keys = [key for key, _ in items]
            first_name = bisect.bisect_left(keys, b"\x01", 1)
            zero_keyed = {key: parse(key, value) for key, value in items[1:first_name]}
            names = names_of_keys(keys[first_name:])
            self.entries: dict[str, BundleEntry] = {  # by name (see `names`)
                name: parse(key, value) for name, (key, value) in zip(names, items[first_name:])
            }
            self.slice_entries: dict[bytes, BundleEntry] = {}
            if zero_keyed:
                self._sort_zero_keyed(zero_keyed)

    def _sort_zero_keyed(self, zero_keyed: dict[bytes, BundleEntry]) -> None:
        """Keys starting with a zero byte: slices of a partitioned tensor, or tensors of their own.

        As TensorFlow's reader lists them: a key is a slice, hidden from the listing, exactly when
        some entry names it among its slices; any other such key is a tensor, listed under its
        (escaped) name, however odd its first byte.
        """
        slices = {
            slice_key(entry.key, extents)
            for entry in (*zero_keyed.values(), *self.entries.values())
            for extents in entry.slices
        }
        listed = {}
        for key, entry in zero_keyed.items():
            if key in slices:
                self.slice_entries[key] = entry
            else:
                listed[name_of_key(key)] = entry
        if listed:  # the zero byte sorts these keys first, as TensorFlow lists them
            self.entries = {**listed, **self.entries}

    @cached_property
    def shards_in_use(self) -> tuple[int, ...]:
        """The shard numbers the entries point at, sorted: the data files a read may open.

        Per-shard work goes by these, never by the header's shard count, which a damaged header
        can make 2**31 - 1 (TensorFlow too opens a shard only when it reads from it). A
        partitioned tensor's own entry points nowhere: its slices' entries do.
        """
        full = {entry.shard_id for entry in self.entries.values() if not entry.slices}
        return tuple(sorted(full.union(e.shard_id for e in self.slice_entries.values())))

    def _parse_header(self, value: bytes) -> None:
        try:
            header = protos.BundleHeaderProto.FromString(value)
        except DecodeError:
            raise CheckpointError("unable to parse the bundle header", self.index_path) from None
        if header.num_shards < 0:
            raise CheckpointError(f"bad shard count {header.num_shards}", self.index_path)
        if header.version.producer < 0 or header.version.min_consumer > _BUNDLE_VERSION:
            raise CheckpointError(
                f"written by a newer TensorFlow (min_consumer {header.version.min_consumer})",
                self.index_path,
            )
        if _BUNDLE_VERSION in header.version.bad_consumers:
            raise CheckpointError(
                f"the checkpoint disallows consumer version {_BUNDLE_VERSION} (its header lists it "
                "among bad_consumers), as TensorFlow's reader does",
                self.index_path,
            )
        self.num_shards = header.num_shards
        self.big_endian = header.endianness == 1

    def _parse_entry(self, key: bytes, value: bytes) -> BundleEntry:
        """An entry in TensorFlow's canonical layout (see `_ENTRY_TAIL`) read by hand; any other
        goes through protobuf, which reads fields in any order, the last of a repeated scalar
        field winning and repeated messages merging (a shape given twice has both dims).

        Why by hand: protobuf plus attribute access costs ~20 us an entry, too slow for indexes of
        100,000 tensors. The head is decoded once per distinct head, the tail's layout checked
        here and its values decoded by BundleEntry when first needed. Tests check both paths
        agree on any bytes.
        """
        if len(value) > 3 and value[0] == 0x08 and value[2] == 0x12 and value[1] | value[3] < 0x80:
            head_end = 4 + value[3]
            tail = _match_tail(value, head_end) if head_end <= len(value) else None
            if tail is not None:
                head = value[:head_end]
                decoded = self._heads.get(head, False)
                if decoded is False:
                    decoded = self._heads[head] = _decode_head(head)
                if decoded is not None:
                    dtype, shape = decoded
                    shard = tail[1]
                    shard_id = 0 if shard is None else _varint_value(shard)
                    if head_end == len(value):
                        return _new_entry(BundleEntry, key, dtype, shape, shard_id, (), (0, 0, 0))
                    return _new_entry(BundleEntry, key, dtype, shape, shard_id, (), None, value)
        return self._parse_entry_proto(key, value)

    def _parse_entry_proto(self, key: bytes, value: bytes) -> BundleEntry:
        """The general path through protobuf, for entries the fast decoder leaves alone."""
        name = name_of_key(key)
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
            tuple((e.start, e.length if e.WhichOneof("has_length") else -1) for e in s.extent)
            for s in proto.slices
        )
        location = (proto.offset, proto.size, proto.crc32c)
        return BundleEntry(key, dtype, shape, proto.shard_id, slices, location)


class DataFiles:
    """The `.data-*` shards of a prefix, each opened (a local one memory-mapped) on first use."""

    def __init__(self, prefix: str, num_shards: int, big_endian: bool = False) -> None:
        self.prefix = prefix
        self.num_shards = num_shards
        self.big_endian = big_endian
        self._sources: dict[int, ByteSource] = {}
        self._spools = Spools()  # remote tensors copied once, for every view of them

    def path(self, shard_id: int) -> str:
        return data_file_name(self.prefix, shard_id, self.num_shards)

    def source(self, shard_id: int) -> ByteSource:
        """The shard's bytes (an empty file is legal)."""
        if shard_id in self._sources:
            return self._sources[shard_id]
        if not 0 <= shard_id < self.num_shards:
            raise CheckpointError(
                f"shard {shard_id} is out of range: the header says {self.num_shards} shard(s)",
                self.prefix + ".index",
            )
        source = self._sources[shard_id] = open_source(self.path(shard_id), "data shard")
        return source

    @property
    def mapped(self) -> bool:
        """Whether the shards are local memory maps (reads are free views)."""
        return not is_url(self.prefix) and not archive_member(self.prefix)

    def shard_sizes(self, shards: Iterable[int]) -> dict[int, int | str]:
        """Each shard's size, or why it cannot be read ("is missing"): a `stat` per local shard,
        one metadata request per remote one (made together)."""
        shards = list(shards)
        if self.mapped:
            return {shard: local_file_size(self.path(shard)) for shard in shards}

        def size(shard: int) -> int | str:
            try:
                return self.source(shard).size
            except CheckpointError as exc:
                return "is missing" if not exists(self.path(shard)) else f"cannot be read ({exc})"

        with ThreadPoolExecutor(max_workers=max(1, min(8, len(shards)))) as pool:
            return dict(zip(shards, pool.map(size, shards)))

    def raw(self, entry: BundleEntry, label: str | None = None) -> Buffer:
        """The stored bytes of an entry, checked to lie inside its shard (`label` names a slice).
        Large remote ranges are spooled (see `ByteSource.read_large`)."""
        self.check_extent(entry, label)
        if entry.size == 0:
            return memoryview(b"")  # nothing to read, wherever it points (TensorFlow agrees)
        source = self.source(entry.shard_id)
        if self.mapped or entry.size <= SPOOL_BYTES:
            return source.read_large(entry.offset, entry.size)
        return self._spools.get(
            (entry.shard_id, entry.offset, entry.size),
            lambda: source.read_large(entry.offset, entry.size),
        )

    def check_extent(self, entry: BundleEntry, label: str | None) -> None:
        """Refuse an entry whose bytes lie past the end of its shard (or in a missing one)."""
        size = self.source(entry.shard_id).size  # a missing shard is an error even for 0 bytes
        if entry.size == 0 and entry.offset >= 0:
            return
        if entry.offset < 0 or entry.size < 0 or entry.offset + entry.size > size:
            name = label or f"tensor {entry.name!r}"
            raise CheckpointError(
                f"{name}: bytes {entry.offset}..{entry.offset + entry.size} lie "
                f"past the end of the data file ({size} bytes); the shard is truncated",
                self.path(entry.shard_id),
            )

    def close(self) -> None:
        self._spools.clear()
        for source in self._sources.values():
            source.close()
        self._sources.clear()

    # -- decoding -------------------------------------------------------------------------------

    def array(self, entry: BundleEntry) -> np.ndarray:
        """The tensor of a plain (not partitioned) entry; no copy for fixed-size types."""
        self.check_declared(entry)
        dtype = entry.dtype
        if dtype.is_string or dtype.enum == dtypes.VARIANT:
            return self._strings(entry)
        if entry.size == 0:
            return np.zeros(entry.shape, dtype.numpy)
        raw = self.raw(entry)
        if self.big_endian:
            array = np.frombuffer(raw, dtype.numpy.newbyteorder(">"))
            return array.astype(dtype.numpy).reshape(entry.shape)
        return np.frombuffer(raw, dtype.numpy).reshape(entry.shape)

    def region(self, entry: BundleEntry, region: tuple) -> np.ndarray:
        """`array(entry)[region]`, fetching only the bytes the region covers when the shard is
        not a local map (see `regions`)."""
        dtype = entry.dtype
        if self.mapped or dtype.itemsize is None or dtype.enum == dtypes.VARIANT:
            return self.array(entry)[region]
        self.check_declared(entry)
        self.check_extent(entry, None)
        if self._from_spool(entry, region):
            return self.array(entry)[region]
        source = self.source(entry.shard_id)
        stored = dtype.numpy.newbyteorder(">") if self.big_endian else dtype.numpy
        values = read_region(
            entry.shape, stored, region, source.read_many, entry.offset, source.merge_gap
        )
        return values.astype(dtype.numpy) if self.big_endian else values

    def _from_spool(self, entry: BundleEntry, region: tuple) -> bool:
        """Whether a region of a large remote tensor is better cut from its spooled copy: when
        there is one (or one is being made), or when the region is most of the tensor (the table
        of a 2-D tensor is all of it; fetching it apart from the statistics' copy doubles the
        transfer)."""
        if entry.size <= SPOOL_BYTES:
            return False
        if self._spools.held((entry.shard_id, entry.offset, entry.size)) is not None:
            return True
        itemsize = entry.dtype.numpy.itemsize
        return 2 * region_elements(entry.shape, region) * itemsize >= entry.size

    def check_declared(self, entry: BundleEntry, label: str | None = None) -> None:
        """Refuse, before anything is allocated, an entry whose array numpy cannot make or whose
        stored size its dtype and shape contradict. `label` names a slice in messages.

        A numeric tensor's bytes are exactly its elements (TensorFlow checks this too); with the
        extent checked to lie in its shard (`raw`), reading allocates no more than the shard
        holds. Strings and variants are bounded by their layout as they are read instead
        (`string_tensors`: no more elements than bytes from their offset to the shard's end),
        since TensorFlow reads them by their lengths, not by their recorded size.
        """
        name = label or f"tensor {entry.name!r}"
        dtype = entry.dtype
        if dtype.numpy is None:
            message = f"{name} has dtype {dtype.name}, which is never stored"
            raise CheckpointError(message, self.prefix + ".index")
        count, size = entry.num_elements, entry.size
        if dtype.itemsize is not None and size != count * dtype.itemsize:
            # TensorFlow's words, for a plain entry
            what = (
                f"{label}: invalid size"
                if label
                else f"invalid size in bundle entry: key {entry.name!r}"
            )
            raise CheckpointError(
                f"{what}; stored size {size}; expected size {count * dtype.itemsize}",
                self.prefix + ".index",
            )
        problem = shape_problem(entry.shape, dtype.numpy.itemsize)
        if problem is not None:  # > 64 dimensions, or none of size 0 and others huge
            raise CheckpointError(f"{name} {problem}", self.prefix + ".index")

    def _strings(self, entry: BundleEntry) -> np.ndarray:
        """DT_STRING and DT_VARIANT (each element the bytes of a VariantTensorDataProto), read
        as TensorFlow reads them (see `string_tensors`); stored checksums are `verify`'s."""
        if entry.dtype.enum == dtypes.VARIANT:
            elements = self._layout(variant_layout, entry).elements
            out = np.empty(len(elements), dtype=object)
            out[:] = elements
            return out.reshape(entry.shape)
        return strings_array(self._layout(string_layout, entry), entry.shape)

    def _layout(self, find, entry: BundleEntry, label: str | None = None):
        """The StringLayout or VariantLayout `find` makes of an entry's bytes in its shard.

        A local shard is given whole (elements are read by their lengths, as TensorFlow reads
        them, up to the end of the shard); a remote one gives the entry's recorded bytes only,
        so a layout running past its recorded size is reported as damaged there."""
        if not entry.size:
            buf, offset = b"", entry.offset
        elif self.mapped:
            buf, offset = self.source(entry.shard_id).whole(), entry.offset
        else:
            buf, offset = self.raw(entry, label), 0
        try:
            return find(buf, offset, entry.size, entry.num_elements)
        except LayoutError as exc:
            raise self._damaged(entry, str(exc), label) from None

    def _damaged(self, entry: BundleEntry, what: str, label: str | None = None) -> CheckpointError:
        name = label or f"tensor {entry.name!r}"
        return CheckpointError(f"{name}: {what}", self.path(entry.shard_id))

    # -- checksums ------------------------------------------------------------------------------

    def range_crc(self, entry: BundleEntry, start: int, stop: int) -> int:
        """The (unmasked) CRC32C of bytes `start:stop` of a fixed-size entry, read once and
        handed back as `checksum` reads them; the extent is the caller's to have checked."""
        source = self.source(entry.shard_id)
        crc = 0
        for at in range(start, stop, _CHECKSUM_CHUNK):
            length = min(_CHECKSUM_CHUNK, stop - at)
            crc = crc32c(source.read_once(entry.offset + at, length), crc)
            # Hand the pages back (see `pages`): `verify` of 50 GB stays small.
            source.release(entry.offset + at, length)
            raise_if_cancelled()
        return crc

    def checksum(self, entry: BundleEntry, label: str | None = None, shared: bool = False) -> int:
        """The masked CRC32C of an entry's stored bytes, computed as TensorFlow does; raises
        ChecksumError when a checksum inside a string or variant layout fails. `shared`: the
        values will be read too (a view checking what it shows), so a large remote tensor is
        spooled once for both instead of streamed apart (`verify` streams: nothing else reads)."""
        if entry.dtype.is_string or entry.dtype.enum == dtypes.VARIANT:
            find = string_layout if entry.dtype.is_string else variant_layout
            layout = self._layout(find, entry, label)
            try:
                return mask(layout.crc())
            except LayoutChecksumError as exc:
                name = label or f"tensor {entry.name!r}"
                raise ChecksumError(f"{name}: {exc}", self.path(entry.shard_id)) from None
        self.check_extent(entry, label)
        spooled = self._spools.held((entry.shard_id, entry.offset, entry.size))
        if spooled is None and shared and not self.mapped and entry.size > SPOOL_BYTES:
            spooled = self.raw(entry, label)
        if spooled is None:  # a local view, or a remote range fetched for this once (not cached)
            return mask(self.range_crc(entry, 0, entry.size))
        crc = 0  # a remote tensor already copied here: no second fetch
        for start in range(0, entry.size, _CHECKSUM_CHUNK):
            length = min(_CHECKSUM_CHUNK, entry.size - start)
            crc = crc32c(spooled[start : start + length], crc)
            if isinstance(spooled, memoryview) and isinstance(spooled.obj, mmap.mmap):
                drop_pages(spooled.obj, start, length)
            raise_if_cancelled()
        return mask(crc)
