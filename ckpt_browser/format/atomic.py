"""Write a file so that it appears complete under its name or not at all.

Outputs go to a temporary file in the same directory (same file system, so the rename is atomic),
are flushed to disk, and are renamed into place only when everything was written. An error or a
cancel removes the temporary file; the final name is never left half-written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, mode: str = "wb", *, overwrite: bool = True
) -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it to `path` when the block succeeds."""
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(17, "file exists (not overwritten)", path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
    )
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; use the usual mode
        with os.fdopen(
            fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})
        ) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
