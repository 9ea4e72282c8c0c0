"""One V1 checkpoint file: a LevelDB table read block by block, looked up by key.

The `.index` reader (`sstable.reader.Table`) reads a whole table at once; a V1 file holds the
tensors themselves, hundreds of megabytes, so here the index block is read at open and each data
block only when a key in it is wanted. Blocks are views of a memory map, and each block's CRC is
checked the first time it is read (as TensorFlow checks it, per block read).
"""

from __future__ import annotations

import bisect
import contextlib
import mmap

from ckpt_browser.format.pages import drop_pages
from ckpt_browser.format.sstable.reader import BLOCK_TRAILER_SIZE, Table

BlockHandle = tuple[int, int]  # offset, size (without the 5-byte trailer)


class TableFile(Table):
    """A V1 checkpoint file: its blocks, the first entry, and lookups by key."""

    FILE_KIND = "checkpoint file"
    NOT_A_TABLE = "not a V1 checkpoint file (bad magic number at its end: damaged or another file?)"

    def __init__(self, data: bytes | mmap.mmap, path: str) -> None:
        self._view = memoryview(data)
        super().__init__(data, path)
        self._separators: list[bytes] = []
        self._handles: list[BlockHandle] = []
        for separator, handle in self._entries(self._index_block, "index block", 0):
            self._separators.append(bytes(separator))
            self._handles.append(self._handle(handle))
        self._checked: dict[BlockHandle, memoryview] = {}  # blocks whose CRC matched
        self._resident: list[BlockHandle] = []  # checked since `release_pages`

    @property
    def size(self) -> int:
        return len(self._view)

    @property
    def block_handles(self) -> list[BlockHandle]:
        return list(self._handles)

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

    def block_entries(self, handle: BlockHandle) -> list[tuple[bytes, memoryview]]:
        return self._entries(self.block(handle), "data block", handle[0], ordered=True)

    def first_entry(self) -> tuple[bytes, memoryview] | None:
        """The first (key, value) of the table: in a V1 file, the metadata entry."""
        for handle in self._handles:
            entries = self.block_entries(handle)
            if entries:
                return entries[0]
        return None

    def get(self, key: bytes) -> memoryview | None:
        """The value stored under `key`, or None. The index block's separators say which block
        may hold it: the first whose separator is at or above the key."""
        i = bisect.bisect_left(self._separators, key)
        if i == len(self._handles):
            return None
        for stored, value in self.block_entries(self._handles[i]):
            if stored == key:
                return value
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
