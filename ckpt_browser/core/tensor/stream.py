"""Moving tensor bytes from memory-mapped sources to the writer a few MB at a time.

A checkpoint's tensors are read as numpy views of a memory map: no copy, but every page touched
stays mapped into the process and counts as its resident memory until the map is closed. Copying
a 256 MB tensor would thus hold 256 MB "in memory" although nothing was copied. `chunks` walks a
tensor in slices, casts each slice if asked, and tells the kernel after each one that the pages
behind it are no longer needed (they stay in the page cache; only this process lets go of them),
so memory stays flat whatever the size. On systems without `madvise` it simply streams. The CRC32C
of the bytes read can be taken on the way, to check them against the source's stored checksum
without reading them twice.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ckpt_browser.format.crc import array_bytes, crc32c
from ckpt_browser.format.pages import release_extent, release_pages

CHUNK_BYTES = 4 << 20


class ChecksumAccumulator:
    """The CRC32C of the bytes that passed through, in order."""

    def __init__(self) -> None:
        self.value = 0

    def add(self, piece: np.ndarray) -> None:
        self.value = crc32c(array_bytes(piece), self.value)


def chunks(
    array: np.ndarray,
    dtype: np.dtype | None = None,
    checksum: ChecksumAccumulator | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[np.ndarray]:
    """Flat, row-major pieces of `array` (cast to `dtype` if given), releasing mapped pages;
    `checksum` takes in the bytes as read, before any cast."""
    itemsize = max(array.itemsize, (dtype or array.dtype).itemsize)
    step = max(1, chunk_bytes // itemsize)
    if array.ndim > 1 and not array.flags.c_contiguous:
        yield from _row_blocks(array, dtype, checksum, step)
        return
    flat = array.reshape(-1)  # a view for a contiguous mapped tensor
    if flat.size == 0:
        return
    for start in range(0, flat.size, step):
        piece = flat[start : start + step]
        if checksum is not None:
            checksum.add(piece)
        out = piece.astype(dtype) if dtype is not None and dtype != piece.dtype else piece
        yield out
        release_pages(piece)


def _row_blocks(
    array: np.ndarray,
    dtype: np.dtype | None,
    checksum: ChecksumAccumulator | None,
    step: int,
) -> Iterator[np.ndarray]:
    """A strided view (a transposed tensor) in row-major order, copied out a block of leading
    rows at a time: reshaping it whole would copy the whole tensor at once."""
    row = max(1, array[0].size if len(array) else 1)
    if row > step and array.ndim > 2:  # one leading row is itself too large: go a level down
        for inner in array:
            yield from _row_blocks(inner, dtype, checksum, step)
        return
    rows = max(1, step // row)
    for start in range(0, len(array), rows):
        piece = np.ascontiguousarray(array[start : start + rows]).reshape(-1)
        # Each block of a transposed tensor reads across all of the source's rows: its pages
        # are let go after every block (they stay in the page cache for the next one).
        release_extent(array)
        if checksum is not None:
            checksum.add(piece)
        yield piece.astype(dtype) if dtype is not None and dtype != piece.dtype else piece


def checksum_of(array: np.ndarray, chunk_bytes: int = CHUNK_BYTES) -> int:
    """CRC32C of an array's row-major bytes, read in chunks with mapped pages released."""
    accumulator = ChecksumAccumulator()
    for _ in chunks(array, checksum=accumulator, chunk_bytes=chunk_bytes):
        pass
    return accumulator.value
