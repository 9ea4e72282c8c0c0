"""A local file as a byte source: a read-only memory map, so reads are views and cost nothing."""

from __future__ import annotations

import contextlib
import mmap
import os
import stat

from ckpt_browser.format.errors import CheckpointError
from ckpt_browser.format.files import kind_of, open_regular
from ckpt_browser.format.pages import drop_pages
from ckpt_browser.format.sources.base import Buffer, ByteSource


class MappedFile(ByteSource):
    """A regular local file, memory-mapped (a FIFO or device is refused by `open_regular`)."""

    mapped = True

    def __init__(self, path: str, what: str) -> None:
        with open_regular(path, what) as file:
            status = os.fstat(file.fileno())
            try:
                self._map: mmap.mmap | bytes = (
                    mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if status.st_size else b""
                )
            except (OSError, ValueError) as exc:
                raise CheckpointError(f"cannot map the {what} ({exc})", path) from None
        super().__init__(path, len(self._map))
        self._mtime = status.st_mtime_ns

    def read(self, offset: int, length: int) -> Buffer:
        self.check_range(offset, length)
        return memoryview(self._map)[offset : offset + length]

    def whole(self) -> mmap.mmap | bytes:
        return self._map

    def release(self, offset: int, length: int) -> None:
        if isinstance(self._map, mmap.mmap):
            drop_pages(self._map, offset, length)

    @property
    def identity(self) -> tuple:
        return (os.path.abspath(self.name), self.size, self._mtime)

    def close(self) -> None:
        if isinstance(self._map, mmap.mmap):
            # Arrays that still view the map keep it open; it closes when they are gone.
            with contextlib.suppress(BufferError):
                self._map.close()


def local_file_size(path: str) -> int | str:
    """The size of a local file, or why it cannot be read ("is missing"), from one `stat`."""
    try:
        status = os.stat(path)
    except OSError:
        return "is missing"
    if not stat.S_ISREG(status.st_mode):
        return f"is {kind_of(status.st_mode)}, not a regular file"
    return status.st_size
