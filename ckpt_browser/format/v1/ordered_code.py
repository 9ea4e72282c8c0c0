"""The key of a V1 data entry: a tensor name and slice in TensorFlow's OrderedCode.

Why by hand: OrderedCode is TensorFlow's own order-preserving encoding (`lib/strings/
ordered_code.cc`) and no Python library implements it. Only encoding is needed: TensorFlow never
parses these keys, it encodes the key of each slice the metadata lists and looks it up, and so
does this reader (format doc, section 3).
"""

from __future__ import annotations

import re

from ckpt_browser.format.tiling import Extents

_SPECIAL_BYTE = re.compile(rb"[\x00\xff]")
_ESCAPES = {b"\0": b"\0\xff", b"\xff": b"\xff\0"}

# The first two bytes of an n-byte signed number carry n leading bits equal to its sign.
_SIGNED_HEADER = {
    2: 0xC000,
    3: 0xE000,
    4: 0xF000,
    5: 0xF800,
    6: 0xFC00,
    7: 0xFE00,
    8: 0xFF00,
    9: 0xFF80,
    10: 0xFFC0,
}


def _number_increasing(value: int) -> bytes:
    """WriteNumIncreasing: a length byte, then the value big-endian without leading zeros."""
    body = value.to_bytes(8, "big").lstrip(b"\0")
    return bytes([len(body)]) + body


def _string(text: bytes) -> bytes:
    """WriteString: 00 and FF escaped as 00 FF and FF 00, then the terminator 00 01."""
    return _SPECIAL_BYTE.sub(lambda match: _ESCAPES[match.group()], text) + b"\0\x01"


def _signed_number_increasing(value: int) -> bytes:
    """WriteSignedNumIncreasing for a 64-bit integer."""
    if -64 <= value < 64:
        return bytes([(value ^ 0x80) & 0xFF])
    size = next(n for n in range(2, 11) if -(1 << (7 * n - 1)) <= value < (1 << (7 * n - 1)))
    body = bytearray((value & ((1 << (8 * size)) - 1)).to_bytes(size, "big"))
    header = _SIGNED_HEADER[size]
    if value < 0:  # negative numbers carry leading zero bits: invert the header's ones
        body[0] &= ~(header >> 8) & 0xFF
        body[1] &= ~header & 0xFF
    else:
        body[0] |= header >> 8
        body[1] |= header & 0xFF
    return bytes(body)


def slice_key(name: bytes, extents: Extents) -> bytes:
    """The key of the data entry holding slice `extents` of tensor `name` (section 3)."""
    parts = [_number_increasing(0), _string(name), _number_increasing(len(extents))]
    for start, length in extents:
        parts.append(_signed_number_increasing(start))
        parts.append(_signed_number_increasing(length))
    return b"".join(parts)
