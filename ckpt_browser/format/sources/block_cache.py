"""Ranges already fetched from remote files, kept in memory up to a byte budget.

Pieces are stored as they were fetched (any offset, any length), under the key of the file's
version, so a read fetches only what no piece holds. The least recently used pieces go first.
Large pieces are not kept at all: a pass over a tensor bigger than the cache would only push
everything else out and hold hundreds of megabytes for nothing.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Hashable

# The largest piece kept is this fraction of the budget (4 MiB of the default 256 MiB): indexes,
# small tensors and slices stay, the parts of a streamed pass over a large tensor do not.
LARGEST_PIECE_FRACTION = 64


class BlockCache:
    """Pieces `(key, start) -> bytes`, least recently used evicted first. Thread-safe."""

    def __init__(self, capacity: int) -> None:
        self._lock = threading.Lock()
        self._pieces: OrderedDict[tuple[Hashable, int], bytes] = OrderedDict()
        self._starts: dict[Hashable, list[int]] = {}
        self._bytes = 0
        self._longest = 0  # the longest piece ever kept: how far back a lookup must look
        self.capacity = capacity

    @property
    def largest_piece(self) -> int:
        return self.capacity // LARGEST_PIECE_FRACTION

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._bytes

    def lookup(self, key: Hashable, start: int, end: int) -> list[tuple[int, bytes]]:
        """The pieces of `key` that overlap `start:end`, as (their start, their bytes)."""
        with self._lock:
            starts = self._starts.get(key)
            if not starts:
                return []
            first = bisect.bisect_left(starts, start - self._longest)
            found = []
            for piece_start in starts[first : bisect.bisect_left(starts, end)]:
                data = self._pieces[(key, piece_start)]
                if piece_start + len(data) > start:
                    self._pieces.move_to_end((key, piece_start))
                    found.append((piece_start, data))
            return found

    def put(self, key: Hashable, start: int, data: bytes) -> None:
        """Keep `data` (the bytes at `start`) unless it is too large to be worth keeping."""
        if not data or len(data) > self.largest_piece:
            return
        with self._lock:
            old = self._pieces.pop((key, start), None)
            if old is not None:
                self._bytes -= len(old)
            else:
                bisect.insort(self._starts.setdefault(key, []), start)
            self._pieces[(key, start)] = data
            self._bytes += len(data)
            self._longest = max(self._longest, len(data))
            self._evict(self.capacity)

    def resize(self, capacity: int) -> None:
        with self._lock:
            self.capacity = capacity
            self._evict(capacity)

    def clear(self) -> None:
        with self._lock:
            self._pieces.clear()
            self._starts.clear()
            self._bytes = 0

    def _evict(self, capacity: int) -> None:
        while self._bytes > capacity and self._pieces:
            (key, start), data = self._pieces.popitem(last=False)
            self._bytes -= len(data)
            starts = self._starts[key]
            del starts[bisect.bisect_left(starts, start)]
            if not starts:
                del self._starts[key]
