"""Reading varints: the base-128 integers of LevelDB tables and of string tensors' lengths.

Why by hand: they are read in tight loops (three per index entry, one per string of a string
tensor) where a call into a library costs more than the decoding itself.

They are read as TensorFlow reads them (`GetVarint32Ptr`, `GetVarint64Ptr`, `ReadVarint64`): at
most 5 bytes for a 32-bit varint and 10 for a 64-bit one, bits beyond the width dropped. So a
10-byte varint never spells a number past 2**64 (whose `to_bytes(8)` would be an OverflowError),
and a file TensorFlow reads reads the same here.
"""

from __future__ import annotations


class VarintError(ValueError):
    """A varint runs past the end of its bytes or is longer than its width allows; str() says
    which, as the end of a sentence ("runs past the end of its bytes")."""


def read_varint(data: bytes, pos: int, limit: int, bits: int = 64) -> tuple[int, int]:
    """The varint starting at `data[pos]` (read no further than `limit`), and the position after.

    Raises VarintError, never IndexError, as long as `limit <= len(data)`.
    """
    if pos >= limit:
        raise VarintError("runs past the end of its bytes")
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    max_bytes = (bits + 6) // 7
    end = min(limit, pos + max_bytes)
    result = byte & 0x7F
    shift = 7
    pos += 1
    while pos < end:
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return result & ((1 << bits) - 1), pos
        shift += 7
    if pos < limit:
        raise VarintError(f"is longer than the {max_bytes} bytes of a {bits}-bit varint")
    raise VarintError("runs past the end of its bytes")
