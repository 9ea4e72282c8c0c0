"""Opening the files of a checkpoint or a graph: regular files only, no more bytes than allowed.

A checkpoint directory is untrusted. A FIFO named `checkpoint` or `.index` blocks `open()` until
some writer appears (for ever, usually), and `/dev/zero` behind a symlink never ends. So a file is
opened without blocking and then checked, on the open descriptor, to be a regular file: checking
the path first and opening after would leave a window in which it can be swapped.

Formats that are read whole have a largest size that makes sense (`read_capped`); a file beyond it
is refused by its size before a byte is read.
"""

from __future__ import annotations

import mmap
import os
import stat
from typing import BinaryIO

from ckpt_browser.format.errors import CheckpointError

# Protobuf refuses to parse a message of 2 GiB or more, so a larger graph cannot be one.
PROTOBUF_MAX_BYTES = (1 << 31) - 1

# O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer; Windows has
# neither FIFOs nor the flag.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def open_regular(path: str, what: str) -> BinaryIO:
    """`path` opened for binary reading, or a CheckpointError if it is not a regular file.

    `what` names the file in messages ("index file", "data shard").
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise CheckpointError(f"{what} is missing", path) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {what} ({exc.strerror or exc})", path) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise CheckpointError(
                f"{what} is {kind_of(mode)}, not a regular file, so it is not read", path
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def kind_of(mode: int) -> str:
    """What a file that is not a regular one is, for messages: "a FIFO (named pipe)"."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def read_capped(path: str, what: str, limit: int, why: str) -> bytes:
    """The whole of a regular file of at most `limit` bytes; larger ones are refused unread.

    `why` ends the refusal: "a graph is a protobuf message, which cannot exceed 2 GiB".
    """
    with open_regular(path, what) as file:
        size = _size_within(file, path, what, limit, why)
        try:
            # read(n) sets aside n bytes first, so n is what the file holds (one more shows a
            # file still growing), never the limit.
            data = file.read(size + 1)
        except OSError as exc:
            raise CheckpointError(f"cannot read {what} ({exc.strerror or exc})", path) from None
    if len(data) > size:
        raise CheckpointError(f"{what} changed while it was read", path)
    return data


def read_graph_bytes(path: str) -> bytes:
    """A graph file (GraphDef, MetaGraphDef, SavedModel) wherever it lies, refused unread beyond
    2 GiB."""
    from ckpt_browser.format.sources.locations import read_capped as read_anywhere

    return read_anywhere(
        path, "graph file", PROTOBUF_MAX_BYTES, "a protobuf message is limited to 2 GiB"
    )


def map_capped(path: str, what: str, limit: int, why: str) -> mmap.mmap | bytes:
    """A read-only memory map of a regular file of at most `limit` bytes (b"" when empty); larger
    ones are refused by their size, as in `read_capped`."""
    with open_regular(path, what) as file:
        size = _size_within(file, path, what, limit, why)
        try:
            return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"cannot map the {what} ({exc})", path) from None


def _size_within(file: BinaryIO, path: str, what: str, limit: int, why: str) -> int:
    """The size of an open file, refused beyond `limit` (`why` ends the sentence)."""
    size = os.fstat(file.fileno()).st_size
    if size > limit:
        raise CheckpointError(
            f"{what} is {size:,} bytes, more than the {limit:,} allowed: {why}", path
        )
    return size
