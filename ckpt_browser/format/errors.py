"""The one exception type the format layer raises for bad input.

Every message is a single sentence that says what is wrong and where (file, offset, key), so the
command line can print it as `error: ...` and the window can show it in a dialog unchanged.
"""

from __future__ import annotations


class CheckpointError(Exception):
    """A checkpoint (or graph) file is missing, unreadable, malformed or inconsistent."""

    def __init__(self, message: str, path: str | None = None) -> None:
        if path is not None and "://" in path:
            from ckpt_browser.format.sources.urls import redact

            path = redact(path)  # a signed URL's secret never reaches a message
        self.path = path
        self.message = message  # without the path
        super().__init__(f"{path}: {message}" if path else message)


class ChecksumError(CheckpointError):
    """Stored bytes do not match their CRC32C: the file was damaged after it was written."""


class Cancelled(Exception):
    """The user cancelled the work (a read waiting on a network, or a pass between chunks).

    Defined here, below every layer that raises it: a remote read in the format layer and the
    chunk runner in `core` raise the same exception, which the window and the CLI catch once.
    """


class NeedsUnpacking(CheckpointError):
    """A compressed tar archive was asked for a member: it cannot be read at random, only unpacked
    whole (into the user cache directory). `archive` is its location, for offering to do that."""

    def __init__(self, message: str, archive: str, shown: str) -> None:
        super().__init__(message, shown)
        self.archive = archive
