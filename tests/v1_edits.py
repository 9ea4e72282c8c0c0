"""Editing V1 checkpoint files TensorFlow wrote: the damaged and hostile files of the V1 tests.

A V1 file is one table whose `""` entry holds the metadata (`SavedTensorSliceMeta`) and whose
other entries hold one slice's values each (`SavedSlice`). Each edit reads every entry, lets a
function change the parsed protos, and writes the table back with the project's table writer
(TensorFlow's own layout), so a test states only what it makes odd. The protos are TensorFlow's
own classes: TensorFlow is the oracle here, not the reader under test.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from ckpt_browser.format.crc import crc32c, mask
from ckpt_browser.format.sstable.reader import Table
from ckpt_browser.format.sstable.writer import TableBuilder
from ckpt_browser.format.varint import read_varint

FOOTER_SIZE = 48
TRAILER_SIZE = 5


def _protos():
    from tf_checkpoints import import_tensorflow

    import_tensorflow()
    from tensorflow.core.util import saved_tensor_slice_pb2

    return saved_tensor_slice_pb2


def read_entries(path: str) -> dict[bytes, bytes]:
    return dict(Table.open(path).items())


def write_entries(path: str, entries: dict[bytes, bytes]) -> None:
    with open(path, "wb") as file:
        table = TableBuilder(file)
        for key in sorted(entries):
            table.add(key, entries[key])
        table.finish()


def edit_meta(path: str, change: Callable[[object], None]) -> None:
    """Let `change` edit the file's `SavedTensorSliceMeta` in place, and write it back."""
    pb2 = _protos()
    entries = read_entries(path)
    message = pb2.SavedTensorSlices.FromString(entries[b""])
    change(message.meta)
    entries[b""] = message.SerializeToString()
    write_entries(path, entries)


def meta_of(meta, name: str):
    """The `SavedSliceMeta` of tensor `name` in a `SavedTensorSliceMeta`."""
    (tensor,) = [t for t in meta.tensor if t.name == name]
    return tensor


def data_keys(path: str, name: str) -> list[bytes]:
    """The keys of the data entries holding slices of `name`, in key order."""
    pb2 = _protos()
    return [
        key
        for key, value in read_entries(path).items()
        if key and pb2.SavedTensorSlices.FromString(value).data.name == name
    ]


def edit_data(path: str, key: bytes, change: Callable[[object], None]) -> None:
    """Let `change` edit the `SavedSlice` of data entry `key` in place, and write it back."""
    pb2 = _protos()
    entries = read_entries(path)
    message = pb2.SavedTensorSlices.FromString(entries[key])
    change(message.data)
    entries[key] = message.SerializeToString()
    write_entries(path, entries)


def set_raw_value(path: str, key: bytes, value: bytes) -> None:
    """Replace the whole stored value of entry `key` (b"" is the metadata) by `value`."""
    entries = read_entries(path)
    entries[key] = value
    write_entries(path, entries)


def drop_entry(path: str, key: bytes) -> None:
    entries = read_entries(path)
    del entries[key]
    write_entries(path, entries)


def data_blocks(path: str) -> list[tuple[int, int]]:
    """(offset, size) of each data block, from the footer and the index block; size excludes
    the 5-byte trailer (type byte and masked CRC32C)."""
    data = Path(path).read_bytes()
    footer = data[-FOOTER_SIZE:]
    _, pos = read_varint(footer, 0, 40)
    _, pos = read_varint(footer, pos, 40)
    index_offset, pos = read_varint(footer, pos, 40)
    index_size, _ = read_varint(footer, pos, 40)
    block = data[index_offset : index_offset + index_size]
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit, pos, handles = len(block) - 4 - 4 * restarts, 0, []
    while pos < limit:
        _shared, pos = read_varint(block, pos, limit)
        key_length, pos = read_varint(block, pos, limit)
        value_length, pos = read_varint(block, pos, limit)
        handle = block[pos + key_length : pos + key_length + value_length]
        offset, at = read_varint(handle, 0, len(handle))
        size, _ = read_varint(handle, at, len(handle))
        handles.append((offset, size))
        pos += key_length + value_length
    return handles


def flip_byte(path: str, offset: int) -> None:
    """Flip one bit of the byte at `offset` (negative: from the end)."""
    with open(path, "r+b") as file:
        file.seek(offset, 2 if offset < 0 else 0)
        byte = file.read(1)
        file.seek(-1, 1)
        file.write(bytes([byte[0] ^ 0x10]))


def set_block_type(path: str, block: tuple[int, int], block_type: int) -> None:
    """Give a block another compression type byte, with a CRC that matches it: only the type
    is wrong."""
    offset, size = block
    with open(path, "r+b") as file:
        file.seek(offset)
        contents = file.read(size)
        type_byte = bytes([block_type])
        file.write(type_byte + struct.pack("<I", mask(crc32c(type_byte, crc32c(contents)))))


def truncate(path: str, size: int) -> None:
    with open(path, "r+b") as file:
        file.truncate(size)
