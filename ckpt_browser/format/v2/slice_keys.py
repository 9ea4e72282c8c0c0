"""Keys of the slices of a partitioned tensor (TensorFlow's OrderedCode encoding).

A partitioned variable is stored as one entry per slice under a binary key built from its name and
extents. TensorFlow's reader rebuilds these keys from the full entry, so they must match byte for
byte (format doc, section 3.3). No library implements OrderedCode for Python, hence by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

from ckpt_browser.format.names import key_of_name

# The header bits of SignedNumIncreasing for an encoding of n bytes (1..10), as in ordered_code.cc.
_SIGNED_HEADERS: dict[int, bytes] = {
    **{n: bytes([(0xFF << (8 - n)) & 0xFF]) for n in range(1, 9)},
    9: b"\xff\x80",
    10: b"\xff\xc0",
}


def _num_increasing(value: int) -> bytes:
    """An unsigned number: a length byte, then big-endian bytes without leading zeros."""
    body = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    return bytes([len(body)]) + body


def _string(value: bytes) -> bytes:
    return value.replace(b"\xff", b"\xff\x00").replace(b"\x00", b"\x00\xff") + b"\x00\x01"


def signed_num_increasing(value: int) -> bytes:
    """A signed number whose encodings sort like the numbers (format doc, 3.3)."""
    magnitude = ~value if value < 0 else value
    length = magnitude.bit_length() // 7 + 1
    body = bytearray(value.to_bytes(length, "big", signed=True))
    for i, header_byte in enumerate(_SIGNED_HEADERS[length]):
        body[i] ^= header_byte
    return bytes(body)


def slice_key(key: bytes | str, extents: Sequence[tuple[int, int]]) -> bytes:
    """The key of one slice of the tensor under `key` (bytes, or its name: see `names`); an
    extent is (start, length), length -1 meaning the whole dimension."""
    if isinstance(key, str):
        key = key_of_name(key)
    parts = [_num_increasing(0), _string(key), _num_increasing(len(extents))]
    for start, length in extents:
        parts.append(signed_num_increasing(start))
        parts.append(signed_num_increasing(length))
    return b"".join(parts)


def is_slice_key(key: bytes) -> bool:
    """Slice keys start with a zero byte; ordinary tensor names never do."""
    return key[:1] == b"\x00"
