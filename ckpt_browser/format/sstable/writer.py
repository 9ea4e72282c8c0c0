"""Writing the LevelDB table (SSTable) that a checkpoint's `.index` file is.

Why by hand: no maintained Python package writes a single LevelDB table file (the bindings write
whole databases), and TensorFlow's readers, and our byte-for-byte tests, need exactly the layout
TensorFlow's own `table_builder.cc` produces (format doc, sections 2.2-2.9): 256 KiB blocks, a
restart point every 16 data entries and every index entry, an empty meta-index block, no
compression, shortened index keys, masked CRC32C trailers and the magic footer.

The builder streams: each data block is written to the file as soon as it is full, so memory holds
at most one block plus the (small) index block.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from ckpt_browser.format.crc import crc32c, mask
from ckpt_browser.format.sstable.reader import COMPRESSION_NONE, FOOTER_SIZE, MAGIC

BLOCK_SIZE = 262144
DATA_RESTART_INTERVAL = 16
INDEX_RESTART_INTERVAL = 1
# A block handle is two varint64s of at most 10 bytes each; the footer pads both to this length.
_MAX_HANDLES_LENGTH = 2 * 2 * 10
# An entry at least this many times the block size is put in a block of its own.
_OVERLY_LARGE_BLOCK_RATIO = 2

_u32 = struct.Struct("<I")


def encode_varint(value: int) -> bytes:
    """LevelDB's varint (little-endian base 128); by hand as protobuf keeps its encoder private."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _shared_prefix_length(a: bytes, b: bytes) -> int:
    """Length of the common prefix. XOR of the two as big integers: the highest set bit is in
    the first differing byte (a C-speed scan instead of a Python loop over bytes)."""
    limit = min(len(a), len(b))
    difference = int.from_bytes(a[:limit], "big") ^ int.from_bytes(b[:limit], "big")
    return limit - (difference.bit_length() + 7) // 8


def shortest_separator(start: bytes, limit: bytes) -> bytes:
    """A short key s with start <= s < limit, as LevelDB's bytewise comparator picks it."""
    diff = _shared_prefix_length(start, limit)
    if diff >= min(len(start), len(limit)):
        return start  # one is a prefix of the other: no shorter key fits
    byte = start[diff]
    if byte < 0xFF and byte + 1 < limit[diff]:
        return start[:diff] + bytes([byte + 1])
    return start


def short_successor(key: bytes) -> bytes:
    """A short key >= `key`: the first byte that is not 0xFF incremented, the rest cut off."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes([byte + 1])
    return key  # a run of 0xFF bytes has no shorter successor


class BlockBuilder:
    """One block: prefix-compressed entries, then the restart offsets and their count."""

    def __init__(self, restart_interval: int) -> None:
        self._restart_interval = restart_interval
        self.reset()

    def reset(self) -> None:
        self._buffer = bytearray()
        self._restarts = [0]
        self._counter = 0
        self._last_key = b""

    @property
    def empty(self) -> bool:
        return not self._buffer

    def add(self, key: bytes, value: bytes) -> None:
        shared = 0
        if self._counter < self._restart_interval:
            shared = _shared_prefix_length(self._last_key, key)
        else:
            self._restarts.append(len(self._buffer))
            self._counter = 0
        self._buffer += encode_varint(shared)
        self._buffer += encode_varint(len(key) - shared)
        self._buffer += encode_varint(len(value))
        self._buffer += key[shared:]
        self._buffer += value
        self._last_key = key
        self._counter += 1

    def size_estimate(self) -> int:
        """The size of the finished block: entries, restart offsets and the count."""
        return len(self._buffer) + 4 * len(self._restarts) + 4

    def finish(self) -> bytes:
        tail = b"".join(_u32.pack(offset) for offset in self._restarts)
        return bytes(self._buffer) + tail + _u32.pack(len(self._restarts))


class TableBuilder:
    """Write a table to a binary file as keys arrive, in TensorFlow's exact layout.

    Keys must come in strictly increasing bytewise order. Call `finish()` once at the end; the
    file object stays open (the caller owns it).
    """

    def __init__(self, file: BinaryIO, *, block_size: int = BLOCK_SIZE) -> None:
        self._file = file
        self._block_size = block_size
        self._offset = 0
        self._data_block = BlockBuilder(DATA_RESTART_INTERVAL)
        self._index_block = BlockBuilder(INDEX_RESTART_INTERVAL)
        self._last_key = b""
        self._num_entries = 0
        self._finished = False
        # The index entry of a flushed block waits for the next key, so that its key can be a
        # short separator between the two blocks rather than the block's full last key.
        self._pending_handle: bytes | None = None

    @property
    def num_entries(self) -> int:
        return self._num_entries

    @property
    def file_size(self) -> int:
        """Bytes written so far (the whole table once finished)."""
        return self._offset

    def add(self, key: bytes, value: bytes) -> None:
        if self._finished:
            raise ValueError("the table is already finished")
        if self._num_entries > 0:
            if key <= self._last_key:
                raise ValueError(
                    f"keys must be added in strictly increasing order: {key!r} after "
                    f"{self._last_key!r}"
                )
            if len(key) + len(value) >= _OVERLY_LARGE_BLOCK_RATIO * self._block_size:
                self._flush()
        if self._pending_handle is not None:
            separator = shortest_separator(self._last_key, key)
            self._index_block.add(separator, self._pending_handle)
            self._pending_handle = None
        self._last_key = key
        self._num_entries += 1
        self._data_block.add(key, value)
        if self._data_block.size_estimate() >= self._block_size:
            self._flush()

    def finish(self) -> int:
        """Write the last data block, the meta-index and index blocks and the footer.

        Returns the size of the table in bytes.
        """
        if self._finished:
            raise ValueError("the table is already finished")
        self._flush()
        self._finished = True
        metaindex_handle = self._write_block(BlockBuilder(DATA_RESTART_INTERVAL))
        if self._pending_handle is not None:
            self._index_block.add(short_successor(self._last_key), self._pending_handle)
            self._pending_handle = None
        index_handle = self._write_block(self._index_block)
        handles = metaindex_handle + index_handle
        footer = handles + bytes(_MAX_HANDLES_LENGTH - len(handles)) + struct.pack("<Q", MAGIC)
        assert len(footer) == FOOTER_SIZE
        self._write(footer)
        return self._offset

    def _flush(self) -> None:
        if self._data_block.empty:
            return
        self._pending_handle = self._write_block(self._data_block)

    def _write_block(self, block: BlockBuilder) -> bytes:
        """Write a block and its trailer; return the encoded handle (offset, size) of the block."""
        contents = block.finish()
        block.reset()
        handle = encode_varint(self._offset) + encode_varint(len(contents))
        type_byte = bytes([COMPRESSION_NONE])
        checksum = mask(crc32c(type_byte, crc32c(contents)))
        self._write(contents)
        self._write(type_byte + _u32.pack(checksum))
        return handle

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._offset += len(data)
