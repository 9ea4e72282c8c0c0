"""Protobuf wire format and LevelDB tables taken apart and put back, for structure-aware mutations.

Why by hand: mutating at the wire level (fields out of order, a field twice, an over-long or huge
varint, a wrong wire type) needs the fields as they lie in the bytes, which the protobuf runtime
hides; and a table whose keys are out of order is what `TableBuilder` rightly refuses to write.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import cramjam

from ckpt_browser.format.crc import crc32c, mask
from ckpt_browser.format.sstable.reader import FOOTER_SIZE, MAGIC, Table
from ckpt_browser.format.sstable.writer import BlockBuilder, encode_varint

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


@dataclass
class Field:
    number: int
    wire_type: int
    value: int | bytes  # int for varints and fixed; bytes for length-delimited
    varint_bytes: bytes | None = None  # the encoding to write (an over-long form), else shortest


def encode_field(field: Field) -> bytes:
    key = encode_varint(field.number << 3 | field.wire_type)
    if field.wire_type == VARINT:
        return key + (field.varint_bytes or encode_varint(field.value % (1 << 64)))
    if field.wire_type == FIXED64:
        return key + struct.pack("<Q", field.value % (1 << 64))
    if field.wire_type == FIXED32:
        return key + struct.pack("<I", field.value % (1 << 32))
    return key + encode_varint(len(field.value)) + field.value


def encode_message(fields: list[Field]) -> bytes:
    return b"".join(encode_field(f) for f in fields)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def decode_message(data: bytes) -> list[Field] | None:
    """The fields of a message, or None when the bytes are not a well-formed message."""
    fields = []
    pos = 0
    try:
        while pos < len(data):
            key, pos = _read_varint(data, pos)
            number, wire_type = key >> 3, key & 7
            if number == 0:
                return None
            if wire_type == VARINT:
                value, pos = _read_varint(data, pos)
            elif wire_type == FIXED64:
                value = struct.unpack_from("<Q", data, pos)[0]
                pos += 8
            elif wire_type == FIXED32:
                value = struct.unpack_from("<I", data, pos)[0]
                pos += 4
            elif wire_type == LENGTH:
                length, pos = _read_varint(data, pos)
                if pos + length > len(data):
                    return None
                value = data[pos : pos + length]
                pos += length
            else:
                return None
            fields.append(Field(number, wire_type, value))
    except (IndexError, ValueError, struct.error):
        return None
    return fields


# -- tables ---------------------------------------------------------------------------------------


def table_items(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs of a well-formed table (a seed's index)."""
    return Table(data, "seed").items()


def build_table(
    pairs: list[tuple[bytes, bytes]],
    *,
    block_size: int = 262144,
    restart_interval: int = 16,
    snappy: bool = False,
) -> bytes:
    """A table of `pairs` in the order given (duplicates and disorder allowed), each index key
    the last key of its block; small blocks and snappy give layouts TensorFlow also reads."""
    out = bytearray()
    index = BlockBuilder(1)

    def write_block(block: BlockBuilder, compress: bool) -> bytes:
        contents = block.finish()
        block.reset()
        kind = 0
        if compress:
            contents, kind = bytes(cramjam.snappy.compress_raw(contents)), 1
        handle = encode_varint(len(out)) + encode_varint(len(contents))
        checksum = mask(crc32c(bytes([kind]), crc32c(contents)))
        out.extend(contents + bytes([kind]) + struct.pack("<I", checksum))
        return handle

    block = BlockBuilder(restart_interval)
    last = b""
    for key, value in pairs:
        block.add(key, value)
        last = key
        if block.size_estimate() >= block_size:
            index.add(last, write_block(block, snappy))
    if not block.empty:
        index.add(last + b"\xff", write_block(block, snappy))
    metaindex = write_block(BlockBuilder(16), False)
    index_handle = write_block(index, False)
    handles = metaindex + index_handle
    out.extend(handles + bytes(40 - len(handles)) + struct.pack("<Q", MAGIC))
    return bytes(out)


def table_blocks(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of every data block and of the index block of a well-formed table."""
    footer = data[-FOOTER_SIZE:]
    pos = 0
    handles = []
    for _ in range(2):
        offset, pos = _read_varint(footer, pos)
        size, pos = _read_varint(footer, pos)
        handles.append((offset, size))
    index_offset, index_size = handles[1]
    blocks = [(index_offset, index_size)]
    for _key, handle in block_entries(data[index_offset : index_offset + index_size]):
        offset, pos = _read_varint(handle, 0)
        size, _ = _read_varint(handle, pos)
        blocks.append((offset, size))
    return blocks


def block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs of one well-formed, uncompressed block."""
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * restarts
    pairs = []
    pos = 0
    key = b""
    while pos < limit:
        shared, pos = _read_varint(block, pos)
        non_shared, pos = _read_varint(block, pos)
        value_length, pos = _read_varint(block, pos)
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        pairs.append((key, block[pos : pos + value_length]))
        pos += value_length
    return pairs


def reseal_block(data: bytearray, offset: int, size: int) -> None:
    """Recompute a block's trailer checksum after its bytes were changed."""
    checksum = mask(
        crc32c(
            bytes(data[offset + size : offset + size + 1]),
            crc32c(bytes(data[offset : offset + size])),
        )
    )
    data[offset + size + 1 : offset + size + 5] = struct.pack("<I", checksum)
