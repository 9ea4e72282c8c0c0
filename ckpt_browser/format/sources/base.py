"""Random access to the bytes of one file, wherever it lies: the one interface readers use.

A checkpoint's files may be local (memory-mapped, free to slice), members of an archive, or objects
on a server read by HTTP range requests. Readers ask a `ByteSource` for its size and for byte
ranges; each kind of location supplies one. Local files keep today's behaviour exactly: a read is a
view of a memory map and nothing is copied.

Cancelling: a read that waits on a network may take long. The thread that starts work a user can
cancel declares how to ask (`cancellable(check)`); sources that wait poll `cancel_requested()` and
raise `Cancelled`, so Cancel stops a transfer in flight, not only between reads.
"""

from __future__ import annotations

import io
import mmap
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ckpt_browser.format.errors import Cancelled, CheckpointError

Buffer = bytes | bytearray | memoryview | mmap.mmap  # what numpy.frombuffer and memoryview take

# Beyond this, a remote range read whole (a tensor, a V1 file) is spooled to a temporary file and
# memory-mapped instead of held in memory: a 256 MB tensor then costs pages the passes over it
# hand back (see `pages`), not 256 MB of resident memory for as long as it is looked at.
SPOOL_BYTES = 32 << 20
SPOOL_PIECE = 8 << 20  # what each read of a spool asks for: progress and cancel come between them


class ByteSource(ABC):
    """The bytes of one file: its size, and any range of it.

    `name` is what messages call the file: its path, or its URL without credentials.
    `mapped` says reads are views of a memory map: free to take, and `release` gives their pages
    back (other sources copy what they fetch, and release nothing).
    """

    mapped = False
    merge_gap = 0  # ranges closer than this many bytes are best fetched as one (remote sources)

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size

    @abstractmethod
    def read(self, offset: int, length: int) -> Buffer:
        """Exactly the bytes `offset:offset+length`; CheckpointError when they are not all there."""

    def read_once(self, offset: int, length: int) -> Buffer:
        """Like `read`, for bytes that will not be asked for again soon (a spool copies them to
        a file): a source with a memory cache need not keep them there."""
        return self.read(offset, length)

    def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[Buffer]:
        """The bytes of several `(offset, length)` ranges, in order. Remote sources fetch them
        concurrently and coalesce neighbours; here, one after the other."""
        return [self.read(offset, length) for offset, length in ranges]

    def whole(self) -> Buffer:
        """The whole file (an index, a graph, a V1 table read at random)."""
        return self.read_large(0, self.size)

    def read_large(self, offset: int, length: int) -> Buffer:
        """Like `read`, for a range that may be large: sources that copy what they read spool
        more than SPOOL_BYTES to a temporary file and give a view of its memory map."""
        if self.mapped or length <= SPOOL_BYTES:
            return self.read(offset, length)
        return self.spool(offset, length)

    def spool(self, offset: int, length: int) -> memoryview:
        """The range copied into an unnamed temporary file, memory-mapped: read piece by piece in
        order (remote sources fetch ahead of such reads), with progress and cancel between."""
        self.check_range(offset, length)
        with tempfile.TemporaryFile(prefix="ckpt-browser-spool-", dir=spool_directory()) as file:
            file.truncate(length)
            fd = file.fileno()
            for start in range(0, length, SPOOL_PIECE):
                raise_if_cancelled()
                piece = self.read_once(offset + start, min(SPOOL_PIECE, length - start))
                written = 0
                while written < len(piece):
                    written += os.pwrite(fd, memoryview(piece)[written:], start + written)
                report_transfer(start + len(piece), length)
            mapping = mmap.mmap(fd, length, access=mmap.ACCESS_READ)
        # The file has no name and the map holds it open: it goes when the last view does.
        return memoryview(mapping)

    def release(self, offset: int, length: int) -> None:
        """Hand back the memory of a range already used (mapped pages; see `pages`)."""
        return None

    @property
    def identity(self) -> tuple:
        """What changes when the file's bytes change (path, size and time or version): the key
        of anything cached about them."""
        return (self.name, self.size)

    def close(self) -> None:
        """Release what the source holds (arrays still viewing a map keep it alive)."""
        return None

    def check_range(self, offset: int, length: int) -> None:
        """Refuse a range outside the file, in the words readers use."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise CheckpointError(
                f"bytes {offset}..{offset + length} lie past the end of the file "
                f"({self.size} bytes); it is truncated",
                self.name,
            )


class WindowSource(ByteSource):
    """A range of another source seen as a file of its own: a stored (uncompressed) member of an
    archive, read by ranges of the archive."""

    def __init__(self, outer: ByteSource, start: int, size: int, name: str) -> None:
        super().__init__(name, size)
        outer.check_range(start, size)
        self.outer = outer
        self.start = start
        self.mapped = outer.mapped
        self.merge_gap = outer.merge_gap

    def read(self, offset: int, length: int) -> Buffer:
        self.check_range(offset, length)
        return self.outer.read(self.start + offset, length)

    def read_once(self, offset: int, length: int) -> Buffer:
        self.check_range(offset, length)
        return self.outer.read_once(self.start + offset, length)

    def read_many(self, ranges: Sequence[tuple[int, int]]) -> list[Buffer]:
        for offset, length in ranges:
            self.check_range(offset, length)
        return self.outer.read_many([(self.start + offset, length) for offset, length in ranges])

    def release(self, offset: int, length: int) -> None:
        self.outer.release(self.start + offset, length)

    @property
    def identity(self) -> tuple:
        return (*self.outer.identity, self.start, self.size)


class SourceFile(io.RawIOBase):
    """A read-only, seekable file object over a source, for libraries that want one (`zipfile`
    reading an archive's directory by ranges). With `once`, reads are `read_once`: a stream
    passed through (a compressed member decompressed to a file) need not stay in a memory cache."""

    def __init__(self, source: ByteSource, once: bool = False) -> None:
        self.source = source
        self.once = once
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.source.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        length = max(0, min(len(buffer), self.source.size - self._position))
        if length:
            read = self.source.read_once if self.once else self.source.read
            buffer[:length] = read(self._position, length)
        self._position += length
        return length


def spool_directory() -> str | None:
    """Where spooled ranges go: the user cache directory's `spool/` (never a checkpoint's
    directory), or the system's temporary directory when that cannot be made."""
    from ckpt_browser.format.sources.cache_dir import cache_directory

    try:
        folder = os.path.join(cache_directory(), "spool")
        os.makedirs(folder, exist_ok=True)
        return folder
    except OSError:
        return None


# -- cancelling reads that wait, and their progress --------------------------------------------

_cancel = threading.local()


@contextmanager
def cancellable(check: Callable[[], bool] | None) -> Iterator[None]:
    """Reads in this thread ask `check()` while they wait, and raise Cancelled when it is True.
    Worker pools pass the check on to their threads (`current_cancel_check`)."""
    previous = getattr(_cancel, "check", None)
    _cancel.check = check
    try:
        yield
    finally:
        _cancel.check = previous


def current_cancel_check() -> Callable[[], bool] | None:
    """The check this thread's reads ask, for handing on to the threads it starts."""
    return getattr(_cancel, "check", None)


@contextmanager
def reporting_transfers(report: Callable[[int, int], None] | None) -> Iterator[None]:
    """Long reads in this thread (a spool) call `report(done_bytes, total_bytes)` as they go."""
    previous = getattr(_cancel, "report", None)
    _cancel.report = report
    try:
        yield
    finally:
        _cancel.report = previous


def report_transfer(done: int, total: int) -> None:
    report = getattr(_cancel, "report", None)
    if report is not None:
        report(done, total)


def cancel_requested() -> bool:
    check = getattr(_cancel, "check", None)
    return bool(check is not None and check())


def raise_if_cancelled() -> None:
    if cancel_requested():
        raise Cancelled()
