"""Remote tensors copied to temporary files, kept so that each is fetched once.

Selecting a 256 MB remote tensor starts its statistics, its values and its checksum in threads of
their own; each asks for the whole tensor. The first spools it (`ByteSource.spool`), the others
wait for that copy instead of fetching it again, and later views reuse it. The copies are files,
not memory (unnamed, deleted when the last view goes); the newest are kept up to a total size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from ckpt_browser.format.sources.base import Buffer, raise_if_cancelled

KEPT_BYTES = 2 << 30  # disk, not memory: the spooled copies kept per checkpoint


class Spools:
    """Spooled copies by key (shard, offset, size), fetched once however many ask at a time."""

    def __init__(self, kept_bytes: int = KEPT_BYTES) -> None:
        self.kept_bytes = kept_bytes
        self._copies: OrderedDict[Hashable, Buffer] = OrderedDict()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, spool: Callable[[], Buffer]) -> Buffer:
        """The copy for `key`, made by `spool()` unless another thread made or is making it."""
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        while not lock.acquire(timeout=0.1):  # waiting for another thread's copy: cancellable
            raise_if_cancelled()
        try:
            with self._lock:
                held = self._copies.get(key)
                if held is not None:
                    self._copies.move_to_end(key)
                    return held
            copy = spool()
            with self._lock:
                self._copies[key] = copy
                while sum(len(kept) for kept in self._copies.values()) > self.kept_bytes:
                    self._copies.popitem(last=False)  # arrays still using it keep it alive
            return copy
        finally:
            lock.release()

    def held(self, key: Hashable) -> Buffer | None:
        """The copy for `key` if there is one or one is being made (then waits for it)."""
        with self._lock:
            if key in self._copies:
                return self._copies[key]
            lock = self._locks.get(key)
        if lock is None or not lock.locked():
            return None
        while not lock.acquire(timeout=0.1):
            raise_if_cancelled()
        lock.release()
        with self._lock:
            return self._copies.get(key)

    def clear(self) -> None:
        with self._lock:
            self._copies.clear()
