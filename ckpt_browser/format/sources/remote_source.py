"""A file behind a URL as a byte source: exact ranges by concurrent, coalesced, cached requests.

Opening makes one metadata request. A read takes what the memory cache, the ranges already on
their way and the disk cache hold, and fetches only the gaps: gaps closer than `COALESCE_MARGIN`
are fetched as one range, a large range is split into parts fetched in parallel on a shared pool
straight into the one buffer returned, and a pass that reads one range after another has the next
parts fetched ahead of it. The waiting thread polls its cancel check, so Cancel acts at once even
when a server stalls; fetches it leaves behind finish in the background or never start.
"""

from __future__ import annotations

import mmap
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from ckpt_browser.format.errors import Cancelled, CheckpointError
from ckpt_browser.format.sources.base import SPOOL_BYTES, Buffer, ByteSource, cancel_requested
from ckpt_browser.format.sources.block_cache import BlockCache
from ckpt_browser.format.sources.disk_cache import DiskEntry, disk_cache
from ckpt_browser.format.sources.fetchers import (
    Fetcher,
    FetchError,
    RemoteFile,
    Stopper,
    fetcher_for,
    run_cancellable,
)
from ckpt_browser.format.sources.range_plan import (
    COALESCE_MARGIN,
    SMALLEST_FETCH,
    coalesce,
    cover,
    split,
)
from ckpt_browser.format.sources.remote_settings import RemoteSettings, on_change, settings
from ckpt_browser.format.sources.transfers import METER
from ckpt_browser.format.sources.urls import redact

_MAPPED_PIECE_BYTES = 1 << 20  # pieces this large get memory of their own (`_new_buffer`)
_SPARE_BUFFERS = 3  # buffers of a pass's used pieces kept for its next ones (`_buffer_for`)
# Only CPython tells by reference counts that no reader holds a buffer any more.
_REUSE = sys.implementation.name == "cpython"
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # Linux
POLL_SECONDS = 0.05  # how often a waiting read asks whether it was cancelled
BACKOFF_SECONDS = (0.1, 0.3, 0.6)  # before the 1st, 2nd, ... retry of a transient failure
EMPTY = memoryview(b"")
T = TypeVar("T")


# -- shared by all remote sources: the memory cache and the pool of fetching threads --------------

MEMORY_CACHE = BlockCache(settings().memory_cache_bytes)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(settings().parallel_parts, thread_name_prefix="ckpt-fetch")
        return _pool


def _apply_settings(previous: RemoteSettings, current: RemoteSettings) -> None:
    global _pool
    MEMORY_CACHE.resize(current.memory_cache_bytes)
    if previous.parallel_parts != current.parallel_parts:
        with _pool_lock:
            old, _pool = _pool, None
        if old is not None:
            old.shutdown(wait=False)  # its running fetches finish; new ones go to the new pool


on_change(_apply_settings)


def clear_memory_cache() -> None:
    MEMORY_CACHE.clear()


class _Piece:
    """The bytes of `start:end`: held already (`futures` empty), or being fetched into `data`."""

    __slots__ = ("data", "end", "futures", "start", "stopper")

    def __init__(self, start: int, end: int, data: Buffer) -> None:
        self.start = start
        self.end = end
        self.data = data
        self.futures: list[Future] = []
        self.stopper = Stopper()

    @property
    def abandoned(self) -> bool:
        return self.stopper.stopped

    def abandon(self) -> None:
        """Parts not started are never fetched; running ones are dropped mid-transfer."""
        self.stopper.stop()
        for future in self.futures:
            future.cancel()

    def view(self, start: int, end: int) -> memoryview:
        return memoryview(self.data)[start - self.start : end - self.start]


class RemoteSource(ByteSource):
    """A remote file (any fsspec URL); `name` is its URL without secrets."""

    merge_gap = COALESCE_MARGIN

    def __init__(self, url: str, what: str = "file", fetcher: Fetcher | None = None) -> None:
        name = redact(url)
        self.what = what
        self._fetcher = fetcher or fetcher_for(url)
        try:
            self._file: RemoteFile = run_cancellable(
                lambda stopper: _with_retries(lambda: self._fetcher.stat(stopper), stopper)
            )
        except FetchError as exc:
            raise CheckpointError(f"cannot open the {what}: {exc.reason}", name) from None
        super().__init__(name, self._file.size)
        self._lock = threading.RLock()  # read-ahead takes buffers (`_buffer_for`) holding it
        self._last_end: int | None = None
        self._ahead: list[_Piece] = []  # read ahead of a sequential pass
        self._window = 0  # how far ahead: grows while the pass stays sequential
        self._spare: list[mmap.mmap] = []  # buffers of pieces the pass has gone past
        self._passes: list[tuple[int, int]] = []  # ranges being read in order (`read_large`)
        self._in_flight: list[_Piece] = []  # fetched for a read now, shared with reads that overlap
        self._disk: DiskEntry | None = (
            disk_cache().acquire(self._file) if settings().disk_cache else None
        )

    @property
    def identity(self) -> tuple:
        return self._file.key

    @property
    def validator(self) -> str | None:
        """ETag, generation or version id of the bytes opened (None when the store gives none)."""
        return self._file.validator

    # -- reading ------------------------------------------------------------------------------

    def read(self, offset: int, length: int, keep: bool = True) -> Buffer:
        """`keep=False` leaves what is fetched out of the memory cache (see `read_once`)."""
        self.check_range(offset, length)
        if length == 0:
            return EMPTY
        with self._lock:
            last_end, self._last_end = self._last_end, offset + length
        sequential = (
            (last_end is not None and 0 <= offset - last_end <= SMALLEST_FETCH)
            or self._ahead_holds(offset)
            or self._in_pass(offset) is not None
        )
        if not sequential:
            self._drop_read_ahead()
        ahead = (offset + length, length) if sequential else None
        return self._gather([(offset, length)], ahead, keep)[0]

    def read_once(self, offset: int, length: int) -> Buffer:
        """A read whose bytes will not be asked for again soon (a spool copies them to a file):
        they stay out of the memory cache."""
        return self.read(offset, length, keep=False)

    def whole(self) -> Buffer:
        """The whole file as `bytes`, whose slices are bytes as those of a local file's map are
        (readers slice an index and use the pieces as keys); spooled when large."""
        if self.size > SPOOL_BYTES:
            return self.read_large(0, self.size)
        return bytes(self.read(0, self.size)) if self.size else b""

    def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[Buffer]:
        for offset, length in ranges:
            self.check_range(offset, length)
        wanted = [(offset, length) for offset, length in ranges if length]
        results = iter(self._gather(wanted, None, True) if wanted else [])
        return [next(results) if length else EMPTY for _, length in ranges]

    def _gather(
        self, ranges: list[tuple[int, int]], ahead: tuple[int, int] | None, keep: bool
    ) -> list[Buffer]:
        if cancel_requested():
            raise Cancelled()
        for _ in range(3):  # again only when another read abandoned a piece this one shared
            segments, created = self._plan(ranges, keep)
            if ahead is not None:
                self._read_ahead(*ahead, keep)
                ahead = None
            try:
                self._wait({id(p): p for parts in segments for _, _, p in parts}.values(), created)
            except _Abandoned:
                continue
            finally:
                with self._lock:
                    self._in_flight = [p for p in self._in_flight if p not in created]
            return [self._assemble(parts) for parts in segments]
        raise CheckpointError(f"cannot read the {self.what}: reads kept being cancelled", self.name)

    def _plan(
        self, ranges: list[tuple[int, int]], keep: bool
    ) -> tuple[list[list[tuple]], list[_Piece]]:
        """For each range, its segments `(start, end, piece)`; and the pieces fetched for them."""
        with self._lock:
            known = [p for p in self._ahead + self._in_flight if not p.abandoned]
        segments: list[list[tuple]] = []
        gaps: list[tuple[int, int]] = []
        for offset, length in ranges:
            start, end = offset, offset + length
            held = known + [
                _Piece(s, s + len(data), data)
                for s, data in MEMORY_CACHE.lookup(self._file.key, start, end)
            ]
            parts = []
            for s, e, piece in cover(start, end, held):
                parts += [(s, e, piece)] if piece is not None else self._from_disk(s, e)
            segments.append(parts)
            gaps += [(s, e) for s, e, piece in parts if piece is None]
        created = [self._fetch(s, e, keep) for s, e in coalesce(gaps, self.size)]
        if created:
            with self._lock:
                self._in_flight += created
        for parts in segments:
            for index, (s, e, piece) in enumerate(parts):
                if piece is None:
                    parts[index] = (s, e, next(p for p in created if p.start <= s and e <= p.end))
        return segments, created

    def _from_disk(self, start: int, end: int) -> list[tuple]:
        """Segments of `start:end` from the disk cache where it has them, gaps elsewhere."""
        if self._disk is None:
            return [(start, end, None)]
        parts, position = [], start
        for s, e in self._disk.present(start, end):
            data = self._disk.read(s, e)
            if data is None:
                continue
            if position < s:
                parts.append((position, s, None))
            parts.append((s, e, _Piece(s, e, data)))
            position = e
        if position < end:
            parts.append((position, end, None))
        return parts

    def _fetch(self, start: int, end: int, keep: bool = True) -> _Piece:
        """Start fetching `start:end` into one buffer, in parts on the shared pool; kept in the
        memory cache once complete if `keep` (and small enough)."""
        current = settings()
        piece = _Piece(start, end, self._buffer_for(end - start))
        bounds = split(start, end, current.part_bytes)
        # The parts count down; the last one done keeps the piece (a small one) in memory.
        # Nothing here refers back to the piece from its futures: dropped, it is freed at once.
        remaining = _Countdown(len(bounds))
        pool = _executor()
        for s, e in bounds:
            piece.futures.append(
                pool.submit(
                    _fetch_part, self._fetcher, self._file, piece, s, e, self._disk, remaining, keep
                )
            )
        return piece

    def _read_ahead(self, end: int, length: int, keep: bool) -> None:
        """Fetch what a sequential pass will ask for next while the caller uses this read. The
        window starts at four reads and doubles with each read that continues the pass, up to
        `read_ahead_bytes`: deep enough to keep a fast link busy across the latency of each
        request, bounded in memory."""
        current = settings()
        part = min(current.part_bytes, max(length, SMALLEST_FETCH))
        announced = self._in_pass(end)
        with self._lock:
            if announced is not None:  # the whole range is wanted: full depth, up to its end
                self._window = current.read_ahead_bytes
            else:
                self._window = min(max(4 * part, 2 * self._window), current.read_ahead_bytes)
            limit = min(self.size, end + self._window, announced or self.size)
            for piece in self._ahead:
                if piece.end <= end and not piece.abandoned and isinstance(piece.data, mmap.mmap):
                    self._spare = [*self._spare, piece.data][-_SPARE_BUFFERS:]
            self._ahead = [p for p in self._ahead if p.end > end and not p.abandoned]
            position = end
            for piece in sorted(self._ahead, key=lambda p: p.start):
                if piece.start <= position < piece.end:
                    position = piece.end
            while position < limit:
                stop = min(position + part, limit)
                if not self._held(position, stop):
                    self._ahead.append(self._fetch(position, stop, keep))
                position = stop

    def _held(self, start: int, end: int) -> bool:
        memory = MEMORY_CACHE.lookup(self._file.key, start, end)
        if any(s <= start and end <= s + len(data) for s, data in memory):
            return True
        return self._disk is not None and self._disk.present(start, end) == [(start, end)]

    def _wait(self, pieces, created: list[_Piece]) -> None:
        """Until every piece has its bytes; Cancelled when asked, CheckpointError on failure."""
        pieces = list(pieces)
        pending = {f for p in pieces for f in p.futures if not f.done()}
        while True:
            for piece in pieces:
                for future in piece.futures:
                    if future.done():
                        self._check(piece, future)
            if not pending:
                return
            if cancel_requested():
                for piece in created + self._ahead:
                    piece.abandon()
                raise Cancelled()
            _, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)

    def _check(self, piece: _Piece, future: Future) -> None:
        if future.cancelled():
            raise _Abandoned()
        error = future.exception()
        if error is None:
            return
        if isinstance(error, Cancelled):
            raise _Abandoned()
        piece.abandon()
        with self._lock:
            self._ahead = [p for p in self._ahead if p is not piece]
        if isinstance(error, FetchError):
            raise CheckpointError(
                f"cannot read bytes {piece.start:,}..{piece.end:,} of the {self.what}: "
                f"{error.reason}",
                self.name,
            ) from None
        raise error

    def read_large(self, offset: int, length: int) -> Buffer:
        """A large range is spooled by reads in order (see `ByteSource.spool`): all of it is
        wanted, so read-ahead starts at its full depth at once, and stops at the range's end."""
        if length <= SPOOL_BYTES:
            return super().read_large(offset, length)
        span = (offset, offset + length)
        with self._lock:
            self._passes.append(span)
        try:
            return super().read_large(offset, length)
        finally:
            with self._lock:
                self._passes.remove(span)

    def _in_pass(self, offset: int) -> int | None:
        """The end of the range being read in order that `offset` lies in, if any."""
        with self._lock:
            return next((end for start, end in self._passes if start <= offset < end), None)

    def _ahead_holds(self, offset: int) -> bool:
        """Whether a read starts in what was fetched ahead (readers on several threads may
        take a pass's reads a little out of order)."""
        with self._lock:
            return any(p.start <= offset < p.end for p in self._ahead)

    def _buffer_for(self, size: int) -> bytearray | mmap.mmap:
        """Room for a piece: the buffer of a piece the pass has gone past, when it has this size
        and no reader holds it any more, else a new one (`_new_buffer`). A new 8 MB map costs
        2,048 page faults to fill: ~0.13 s of CPU per 256 MB streamed, as much as receiving the
        bytes on loopback. Every view of a buffer (memoryview, numpy array, a slice of them)
        holds a reference to it, so one referred to only from `_spare` is free."""
        if _REUSE and size >= _MAPPED_PIECE_BYTES:
            with self._lock:
                for index in range(len(self._spare)):
                    # References: the list's, and the argument's.
                    if len(self._spare[index]) == size and sys.getrefcount(self._spare[index]) == 2:
                        return self._spare.pop(index)
        return _new_buffer(size)

    def _drop_read_ahead(self) -> None:
        """A read elsewhere ends the pass: what was fetched ahead of it is not wanted."""
        with self._lock:
            ahead, self._ahead, self._window, self._spare = self._ahead, [], 0, []
        for piece in ahead:
            piece.abandon()

    @staticmethod
    def _assemble(parts: list[tuple]) -> Buffer:
        """One range from its segments: a view when one piece holds it all, else one copy."""
        if len(parts) == 1:
            s, e, piece = parts[0]
            return piece.view(s, e).toreadonly()
        start = parts[0][0]
        out = bytearray(parts[-1][1] - start)
        for s, e, piece in parts:
            out[s - start : e - start] = piece.view(s, e)
        return memoryview(out).toreadonly()

    def close(self) -> None:
        with self._lock:
            ahead, self._ahead, self._spare = self._ahead, [], []
            disk, self._disk = self._disk, None
        for piece in ahead:
            piece.abandon()
        if disk is not None:
            disk.cache.release(disk)


class _Abandoned(Exception):
    """A piece this read shared was abandoned by another read's cancel: plan again."""


def _with_retries(request: Callable[[], T], stopper: Stopper) -> T:
    """One request, tried again after a transient failure (a 5xx, a reset connection, a body cut
    short), after a short pause; other failures at once."""
    retries = settings().retries
    for attempt in range(retries + 1):
        METER.started()
        try:
            return request()
        except FetchError as exc:
            if not exc.transient or attempt == retries:
                raise
        finally:
            METER.finished()
        time.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
        if stopper.stopped:
            raise Cancelled()
    raise AssertionError("unreachable")


class _Countdown:
    def __init__(self, count: int) -> None:
        self._lock = threading.Lock()
        self._count = count

    def done(self) -> bool:
        """Count one down; True for the last."""
        with self._lock:
            self._count -= 1
            return self._count == 0


class AnonymousMap(mmap.mmap):
    """A map that holds the only copy of its bytes: `pages.release_pages` must never drop its
    pages (on an anonymous map that zeroes them, and a later read of the held piece would see
    zeros)."""

    holds_only_copy = True


def _new_buffer(size: int) -> bytearray | mmap.mmap:
    """Room for a fetched piece. A large one is an anonymous memory map, which goes back to the
    system when the piece is dropped: glibc serves repeated 8 MB bytearrays from its heap after
    the first few are freed, and a streamed 256 MB tensor then left ~150 MB resident for good.
    Where it can, the kernel fills the map's pages at once (MAP_POPULATE) instead of taking a
    fault on each of them as the bytes arrive: half the CPU (107 against 209 ms per 256 MB)."""
    if size < _MAPPED_PIECE_BYTES:
        return bytearray(size)
    if _POPULATE:
        return AnonymousMap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _POPULATE)
    return AnonymousMap(-1, size)


def _fetch_part(
    fetcher: Fetcher,
    file: RemoteFile,
    piece: _Piece,
    start: int,
    end: int,
    disk: DiskEntry | None,
    remaining: _Countdown,
    keep: bool,
) -> None:
    """One range request into its place in the piece's buffer, then kept on disk; the last part
    of a piece keeps a small piece in memory too. Stops once nobody wants the piece."""
    view = piece.view(start, end)
    _with_retries(lambda: fetcher.fetch_into(file, start, view, piece.stopper), piece.stopper)
    if disk is not None:
        disk.write(start, view)
    if remaining.done() and keep and not piece.abandoned:
        MEMORY_CACHE.put(file.key, piece.start, piece.data)
