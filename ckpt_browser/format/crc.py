"""CRC32C with LevelDB's mask, as TensorFlow stores it in `.index` and data files.

The `crc32c` package computes in hardware and accepts any buffer (a memoryview of a memory map)
without copying, which is what makes `verify` run at memory speed. `PartialChecksum` is the CRC of
one piece of a longer run of bytes; pieces checksummed on different threads merge into the CRC of
the whole, so a pass that reads a tensor in parallel chunks checks it without a second read.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import crc32c as _crc32c
import numpy as np

_MASK_DELTA = 0xA282EAD8
_POLYNOMIAL = 0x82F63B78  # Castagnoli, bit-reversed


def crc32c(data: bytes | memoryview, value: int = 0) -> int:
    """CRC32C of `data`, continuing from `value` (the CRC of what came before)."""
    return _crc32c.crc32c(data, value)


def mask(crc: int) -> int:
    """LevelDB's masking, so that a CRC of data holding CRCs is not degenerate."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def unmask(masked: int) -> int:
    rot = (masked - _MASK_DELTA) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


def array_bytes(array: np.ndarray) -> memoryview:
    """The row-major bytes of an array of any dtype (bfloat16 too); no copy when contiguous."""
    return memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8))


@dataclass
class PartialChecksum:
    """The CRC32C of `length` consecutive bytes; `merge` appends the next piece's."""

    crc: int = 0
    length: int = 0

    @classmethod
    def of(cls, array: np.ndarray) -> PartialChecksum:
        raw = array_bytes(array)
        return cls(crc32c(raw), len(raw))

    def merge(self, following: PartialChecksum) -> None:
        """Become the CRC of these bytes followed by `following`'s."""
        self.crc = crc32c_combine(self.crc, following.crc, following.length)
        self.length += following.length


def crc32c_combine(first: int, second: int, second_length: int) -> int:
    """The CRC32C of two byte runs one after the other, from the CRC of each.

    zlib's crc32_combine, for CRC32C, which neither the `crc32c` package nor the standard library
    offers: appending n zero bytes to a CRC is a linear map over GF(2), and the maps for 2^k bytes
    are squared once and cached, so a merge costs one matrix-vector product a set bit of n.
    """
    k = 0
    while second_length:
        if second_length & 1:
            first = _apply(_zero_bytes_operator(k), first)
        second_length >>= 1
        k += 1
    return first ^ second


@cache
def _zero_bytes_operator(k: int) -> tuple[int, ...]:
    """The GF(2) matrix (32 columns) that appends 2^k zero bytes to a CRC."""
    if k == 0:
        one_bit = (_POLYNOMIAL, *(1 << n for n in range(31)))
        operator = one_bit
        for _ in range(3):  # 1 bit -> 8 bits
            operator = tuple(_apply(operator, column) for column in operator)
        return operator
    half = _zero_bytes_operator(k - 1)
    return tuple(_apply(half, column) for column in half)


def _apply(matrix: tuple[int, ...], vector: int) -> int:
    out = 0
    column = 0
    while vector:
        if vector & 1:
            out ^= matrix[column]
        vector >>= 1
        column += 1
    return out
