"""Reading the LevelDB table (SSTable) that a checkpoint's `.index` file is.

Why by hand: the Python LevelDB bindings open whole databases (a directory with a manifest and a
log), not a single table file, and pull in a C++ build; a checkpoint index is one small table with
a documented layout (format doc, section 2), read here in ~150 lines.

The file is memory-mapped and only the blocks its footer and index block point at are read: a
file padded with gigabytes of anything costs no memory beyond those blocks, each of which must lie
inside the file.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator

import cramjam

from ckpt_browser.format.crc import crc32c, unmask
from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.varint import VarintError, read_varint

FOOTER_SIZE = 48
MAGIC = 0xDB4775248B80FB57
BLOCK_TRAILER_SIZE = 5
COMPRESSION_NONE = 0
COMPRESSION_SNAPPY = 1
# A snappy element of n compressed bytes yields at most 64 (a 3-byte copy): 22x; 32 leaves room.
SNAPPY_MAX_EXPANSION = 32

_u32 = struct.Struct("<I")


class Table:
    """One SSTable held in memory: iterate its (key, value) pairs in key order."""

    FILE_KIND = "index file"  # what messages call the file
    NOT_A_TABLE = "not an sstable (bad magic number); is this a checkpoint .index file?"

    def __init__(self, data: bytes | mmap.mmap, path: str) -> None:
        self.path = path
        self._data = data
        if len(data) < FOOTER_SIZE:
            raise self._error(f"file is too short to be an sstable ({len(data)} bytes)")
        footer = data[-FOOTER_SIZE:]
        (magic,) = struct.unpack_from("<Q", footer, 40)
        if magic != MAGIC:
            raise self._error(self.NOT_A_TABLE)
        try:
            _metaindex_offset, pos = read_varint(footer, 0, 40)
            _metaindex_size, pos = read_varint(footer, pos, 40)
            index_offset, pos = read_varint(footer, pos, 40)
            index_size, pos = read_varint(footer, pos, 40)
        except VarintError:
            raise self._error("bad block handle in the footer") from None
        self._index_block = self._read_block(index_offset, index_size, "index block")

    @classmethod
    def open(cls, path: str) -> Table:
        """The table at a location: a local file is memory-mapped, a remote one fetched whole in
        one request (an index is small; a V1 file is read at random by its blocks)."""
        from ckpt_browser.format.sources.locations import open_source

        data = open_source(path, cls.FILE_KIND).whole()
        if (
            isinstance(data, memoryview)
            and isinstance(data.obj, mmap.mmap)
            and data.nbytes == len(data.obj)
        ):
            data = data.obj  # a spooled file, mapped whole
        elif not isinstance(data, (bytes, mmap.mmap)):
            # Fetched bytes, or a window of a map (a stored member of a local zip: its map is the
            # whole archive's): keys and values sliced from them must hash.
            data = bytes(data)
        # The map (or the fetched bytes) goes when the table is dropped; blocks are copied out.
        return cls(data, path)

    def _error(self, message: str) -> CheckpointError:
        return CheckpointError(message, self.path)

    def _read_block(self, offset: int, size: int, what: str) -> bytes:
        end = offset + size + BLOCK_TRAILER_SIZE
        if end > len(self._data) - FOOTER_SIZE:
            raise self._error(
                f"truncated block read: {what} at offset {offset} (size {size}) ends past the "
                f"table's data ({len(self._data)} bytes in the file)"
            )
        block = self._slice(offset, offset + size)
        compression = self._data[offset + size]
        (stored,) = _u32.unpack_from(self._data, offset + size + 1)
        actual = crc32c(self._data[offset + size : offset + size + 1], crc32c(block))
        if unmask(stored) != actual:
            raise self._error(f"block checksum mismatch in the {what} at offset {offset}")
        if compression == COMPRESSION_SNAPPY:
            return self._snappy(block, offset)
        if compression != COMPRESSION_NONE:
            raise self._error(f"bad block type {compression} in the {what} at offset {offset}")
        return block

    def _slice(self, start: int, stop: int) -> bytes | memoryview:
        """Bytes of the file (a copy: an index's blocks are small and outlive the map)."""
        return self._data[start:stop]

    def _snappy(self, block: bytes, offset: int) -> bytes:
        try:
            claimed = cramjam.snappy.decompress_raw_len(block)
            if claimed > SNAPPY_MAX_EXPANSION * len(block):
                raise self._error(
                    f"snappy block at offset {offset} claims {claimed} bytes, more than its "
                    f"{len(block)} compressed bytes can hold"
                )
            return bytes(cramjam.snappy.decompress_raw(block))
        except cramjam.DecompressionError:
            raise self._error(f"block at offset {offset} is not valid snappy data") from None

    def _entries(
        self,
        block: bytes,
        what: str,
        offset: int,
        ordered: bool = False,
        previous: bytes | None = None,
    ) -> list[tuple[bytes, bytes]]:
        """The (key, value) pairs of one block, undoing the prefix compression of keys.

        With `ordered`, keys must strictly increase, starting above `previous` (the last key
        before this block, None for the first block).
        """
        if len(block) < 4:
            raise self._error(f"bad entry in block: the {what} at offset {offset} is too short")
        (num_restarts,) = _u32.unpack_from(block, len(block) - 4)
        limit = len(block) - 4 - 4 * num_restarts
        if (num_restarts == 0 and limit != 0) or limit < 0:
            raise self._error(f"bad entry in block: bad restart count in the {what} at {offset}")
        pos = 0
        key = b""
        pairs = []
        append = pairs.append
        try:
            while pos < limit:
                # Fast path: all three header varints fit in one byte each (the usual case).
                shared, non_shared, value_len = block[pos], block[pos + 1], block[pos + 2]
                if shared | non_shared | value_len < 0x80:
                    pos += 3
                else:
                    shared, pos = read_varint(block, pos, limit, 32)
                    non_shared, pos = read_varint(block, pos, limit, 32)
                    value_len, pos = read_varint(block, pos, limit, 32)
                key_end = pos + non_shared
                value_end = key_end + value_len
                if shared > len(key) or value_end > limit:
                    raise IndexError
                key = key[:shared] + block[pos:key_end]
                if ordered:
                    if previous is not None and key <= previous:
                        raise self._error(f"keys out of order in the {what} at offset {offset}")
                    previous = key
                append((key, block[key_end:value_end]))
                pos = value_end
        except (IndexError, VarintError):
            raise self._error(f"bad entry in block: the {what} at offset {offset}") from None
        return pairs

    def _handle(self, value: bytes | memoryview) -> tuple[int, int]:
        """The (offset, size) a block handle in the index block holds."""
        try:
            offset, pos = read_varint(value, 0, len(value))
            size, _ = read_varint(value, pos, len(value))
        except VarintError:
            raise self._error("bad block handle in the index block") from None
        return offset, size

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self.items())

    def items(self) -> list[tuple[bytes, bytes]]:
        """All (key, value) pairs in order, checking that keys strictly increase."""
        pairs: list[tuple[bytes, bytes]] = []
        previous: bytes | None = None
        for _separator, handle in self._entries(self._index_block, "index block", 0):
            block_offset, block_size = self._handle(handle)
            block = self._read_block(block_offset, block_size, "data block")
            block_pairs = self._entries(block, "data block", block_offset, True, previous)
            if block_pairs:
                previous = block_pairs[-1][0]
            pairs.extend(block_pairs)
        return pairs
