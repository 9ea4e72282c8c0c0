"""One V1 checkpoint file: a LevelDB table read block by block, looked up by key.

The `.index` reader (`sstable.reader.Table`) reads a whole table at once; a V1 file holds the
tensors themselves, hundreds of megabytes, so here the index block is read at open and each data
block only when a key in it is wanted. Blocks are views of a memory map, and each block's CRC is
checked the first time it is read (as TensorFlow checks it, per block read).

A key is looked up as TensorFlow's V1 reader looks it up (LevelDB's two-level seek: the first
entry at or above the key, which must be the key), not by a scan that requires keys in order:
TensorFlow never checks their order, so a file with an entry twice or out of place restores, and
reads the same here.
"""

from __future__ import annotations

import contextlib
import mmap
import struct
from collections.abc import Iterator

from ckpt_browser.format.pages import drop_pages
from ckpt_browser.format.sstable.reader import BLOCK_TRAILER_SIZE, Table
from ckpt_browser.format.varint import VarintError, read_varint

BlockHandle = tuple[int, int]  # offset, size (without the 5-byte trailer)
_u32 = struct.Struct("<I")


class TableFile(Table):
    """A V1 checkpoint file: its blocks and lookups by key."""

    FILE_KIND = "checkpoint file"
    NOT_A_TABLE = "not a V1 checkpoint file (bad magic number at its end: damaged or another file?)"

    def __init__(self, data: bytes | mmap.mmap, path: str) -> None:
        self._view = memoryview(data)
        super().__init__(data, path)
        self._checked: dict[BlockHandle, memoryview] = {}  # blocks whose CRC matched
        self._resident: list[BlockHandle] = []  # checked since `release_pages`

    @property
    def size(self) -> int:
        return len(self._view)

    @property
    def block_handles(self) -> list[BlockHandle]:
        """Every data block the index block lists."""
        return [
            self._handle(value)
            for _, value in self._scan(self._index_block, None, "index block", 0)
        ]

    def _slice(self, start: int, stop: int) -> memoryview:
        return self._view[start:stop]

    def block(self, handle: BlockHandle) -> memoryview:
        """A data block's contents, its CRC checked once per open file."""
        block = self._checked.get(handle)
        if block is None:
            block = self._read_block(*handle, "data block")
            self._checked[handle] = block
            self._resident.append(handle)
        return block

    def get(self, key: bytes) -> memoryview | None:
        """The value stored under `key`, or None. The index block's separators say which block
        may hold it (the first at or above the key); when that block holds no key at or above
        it, the next block's first entry is the candidate, as in LevelDB."""
        previous: bytes | None = None
        target: bytes | None = key
        for _separator, value in self._scan(self._index_block, key, "index block", 0):
            if bytes(value) == previous:  # LevelDB keeps its iterator over the same block
                continue
            previous = bytes(value)
            handle = self._handle(value)
            for stored, found in self._scan(self.block(handle), target, "data block", handle[0]):
                return found if stored == key else None
            target = None  # the later blocks from their first entry
        return None

    def release_pages(self) -> None:
        """Give back the pages of the blocks checked since the last call (a pass over a whole
        file, like `verify`, then does not hold all of it in memory; see `pages`)."""
        if isinstance(self._data, mmap.mmap):
            for offset, size in self._resident:
                drop_pages(self._data, offset, size + BLOCK_TRAILER_SIZE)
        self._resident.clear()

    def close(self) -> None:
        """Forget the checked blocks and close the map, unless arrays still view it (then it
        closes when the last of them goes)."""
        self._checked.clear()
        with contextlib.suppress(BufferError):
            self._view.release()
            if isinstance(self._data, mmap.mmap):
                self._data.close()

    # -- LevelDB's block iterator -----------------------------------------------------------------

    def _scan(
        self, block: memoryview | bytes, target: bytes | None, what: str, offset: int
    ) -> Iterator[tuple[bytes, memoryview]]:
        """The entries of a block from the first whose key is at or above `target` (from the
        first entry when None), found as LevelDB's block iterator finds it: a binary search
        over the restart points for the last key below the target, then a linear scan."""
        if len(block) < 4:
            raise self._error(f"bad entry in block: the {what} at offset {offset} is too short")
        (num_restarts,) = _u32.unpack_from(block, len(block) - 4)
        if num_restarts > (len(block) - 4) // 4:
            raise self._error(f"bad entry in block: bad restart count in the {what} at {offset}")
        if num_restarts == 0:
            return  # LevelDB reads a block without restart points as empty
        limit = len(block) - 4 - 4 * num_restarts
        left, right = 0, num_restarts - 1
        while target is not None and left < right:
            mid = left + (right - left + 1) // 2
            shared, length, _, start = self._entry_at(
                block, self._restart(block, limit, mid), limit, what, offset
            )
            if shared != 0:
                raise self._error(f"bad entry in block: the {what} at offset {offset}")
            if bytes(block[start : start + length]) < target:
                left = mid
            else:
                right = mid - 1
        pos = self._restart(block, limit, left)
        key = b""
        while pos < limit:
            shared, length, value_length, start = self._entry_at(block, pos, limit, what, offset)
            if shared > len(key):
                raise self._error(f"bad entry in block: the {what} at offset {offset}")
            key = key[:shared] + bytes(block[start : start + length])
            pos = start + length + value_length
            if target is None or key >= target:
                target = None  # found: every entry after it follows in turn
                yield key, block[start + length : pos]

    @staticmethod
    def _restart(block: memoryview | bytes, limit: int, index: int) -> int:
        return _u32.unpack_from(block, limit + 4 * index)[0]

    def _entry_at(
        self, block: memoryview | bytes, pos: int, limit: int, what: str, offset: int
    ) -> tuple[int, int, int, int]:
        """(shared, non-shared key length, value length, where the key starts) of the entry at
        `pos`, all of it inside `limit`."""
        try:
            shared, pos = read_varint(block, pos, limit, 32)
            non_shared, pos = read_varint(block, pos, limit, 32)
            value_length, pos = read_varint(block, pos, limit, 32)
        except VarintError:
            raise self._error(f"bad entry in block: the {what} at offset {offset}") from None
        if limit - pos < non_shared + value_length:
            raise self._error(f"bad entry in block: the {what} at offset {offset}")
        return shared, non_shared, value_length, pos
