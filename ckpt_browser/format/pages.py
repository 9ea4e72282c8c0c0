"""Handing the pages of a checkpoint's memory maps back once a pass is done with them.

`Checkpoint.read` returns views of a memory map: nothing is copied, but every page a pass touches
stays in the process's resident set until the map is closed, so checksumming, comparing or copying
a 10 GB checkpoint would look like a 10 GB process. `release_pages(array)` tells the kernel
(`madvise(MADV_DONTNEED)`) that the pages under an array are not needed any more. On a read-only
file mapping that only unmaps them: their contents stay in the page cache and a later access maps
them again, so releasing is always safe, even for pages another thread still reads.
"""

from __future__ import annotations

import contextlib
import mmap

import numpy as np

# numpy 2 moved it from the top level (numpy 1) to `np.lib.array_utils`.
_byte_bounds = getattr(getattr(np.lib, "array_utils", np), "byte_bounds", None) or np.byte_bounds
CAN_RELEASE = hasattr(mmap, "MADV_DONTNEED") and hasattr(mmap.mmap, "madvise")
PAGE = mmap.PAGESIZE


def mapping_of(array: np.ndarray) -> mmap.mmap | None:
    """The read-only memory map an array views, through its chain of bases (None: not a map)."""
    base: object = array
    while isinstance(base, np.ndarray):
        base = base.base
    if not isinstance(base, memoryview) or not isinstance(base.obj, mmap.mmap):
        return None
    if not base.readonly:  # only ever drop pages of a read-only map: nothing can be lost
        return None
    if getattr(base.obj, "holds_only_copy", False):  # anonymous: dropping would zero the bytes
        return None
    return base.obj


def drop_pages(mapping: mmap.mmap, start: int, length: int) -> None:
    """Release every page of `mapping` that [start, start + length) touches."""
    first = start - start % PAGE
    end = min(start + length + (-(start + length)) % PAGE, len(mapping))
    if not CAN_RELEASE or end <= first:
        return
    with contextlib.suppress(OSError, ValueError):  # closed meanwhile, or refused: keep them
        mapping.madvise(mmap.MADV_DONTNEED, first, end - first)


def release_pages(array: np.ndarray) -> None:
    """Release the pages under `array` if it views a read-only memory map; else do nothing."""
    if not CAN_RELEASE or array.size == 0:
        return
    mapping = mapping_of(array)
    map_address = _address(mapping)
    if mapping is None or map_address is None:
        return
    start = array.__array_interface__["data"][0] - map_address
    if start >= 0 and start + array.nbytes <= len(mapping):
        drop_pages(mapping, start, array.nbytes)


def release_extent(array: np.ndarray) -> None:
    """Like `release_pages`, for a strided view (a transposed tensor): every page between its
    lowest and highest byte, which a pass in the view's order touches all of."""
    if not CAN_RELEASE or array.size == 0:
        return
    low, high = _byte_bounds(array)
    mapping = mapping_of(array)
    map_address = _address(mapping)
    if mapping is None or map_address is None:
        return
    if low - map_address >= 0 and high - map_address <= len(mapping):
        drop_pages(mapping, low - map_address, high - low)


def _address(mapping: mmap.mmap | None) -> int | None:
    """Where `mapping` starts in memory; None when there is none, it is closed or empty."""
    if mapping is None:
        return None
    try:
        return np.frombuffer(mapping, np.uint8, count=1).__array_interface__["data"][0]
    except (ValueError, TypeError):
        return None
