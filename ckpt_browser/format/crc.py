"""CRC32C with LevelDB's mask, as TensorFlow stores it in `.index` and data files.

The `crc32c` package computes in hardware and accepts any buffer (a memoryview of a memory map)
without copying, which is what makes `verify` run at memory speed.
"""

from __future__ import annotations

import crc32c as _crc32c

_MASK_DELTA = 0xA282EAD8


def crc32c(data: bytes | memoryview, value: int = 0) -> int:
    """CRC32C of `data`, continuing from `value` (the CRC of what came before)."""
    return _crc32c.crc32c(data, value)


def mask(crc: int) -> int:
    """LevelDB's masking, so that a CRC of data holding CRCs is not degenerate."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF
