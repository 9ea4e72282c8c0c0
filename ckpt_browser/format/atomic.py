"""Write files so that they appear complete under their names or not at all.

Outputs go to a temporary file in the same directory (same file system, so the rename is atomic),
are flushed to disk, and are renamed into place only when everything was written. An error or a
cancel removes the temporary file; the final name is never left half-written. Several files that
belong together (a checkpoint's data, index, graph and state file) are renamed in one step by
`publish_together`, which puts back what was there if any rename fails.

Temporary names carry the host and id of the writing process
(`.model.index.ckpt-browser-myhost-4242-<random>.tmp`): a process killed outright cannot clean up,
so every write into a directory first removes the temporary files there of processes of this
host that are gone (`sweep_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator, Sequence
from typing import IO

from ckpt_browser.format.errors import CheckpointError

_MARK = "ckpt-browser"
# The host, as a name part: a folder shared between machines holds other hosts' temporaries,
# whose processes cannot be looked up from here.
_HOST = re.sub(r"[^A-Za-z0-9]+", "-", socket.gethostname())[:40].strip("-") or "host"
# Our temporary names, and the names of temporaries made from them (a writer's temporary files
# for a staged prefix): the first mark names the process that made them.
_TEMPORARY = re.compile(r"\." + _MARK + r"-([A-Za-z0-9-]*?)-(\d+)-[0-9a-f]{16}\.tmp")


def temporary_name(final_path: str) -> str:
    """A fresh hidden name beside `final_path`, marked with this host and process."""
    directory, name = os.path.split(os.fspath(final_path))
    mark = f"{_MARK}-{_HOST}-{os.getpid()}-{secrets.token_hex(8)}"
    return os.path.join(directory, f".{name}.{mark}.tmp")


def sweep_stale_temporaries(directory: str, folders: bool = False) -> list[str]:
    """Remove the temporary files in `directory` that a killed run of this program left behind
    (and temporary folders too, with `folders`: an unpacking that was killed).

    A file is stale when it names a process of this host that is gone, or one that started after
    the file was last changed (the process id was reused). Only our own naming is touched.
    Returns the paths removed.
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory or "."))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.search(entry.name)
        if not entry.name.startswith(".") or match is None:
            continue
        if match[1] != _HOST:
            continue
        try:
            is_folder = folders and entry.is_dir(follow_symlinks=False)
            if not (is_folder or entry.is_file(follow_symlinks=False)):
                continue
            changed = entry.stat(follow_symlinks=False).st_mtime
            if _process_alive(int(match[2])) and not _started_after(int(match[2]), changed):
                continue
            if is_folder:
                shutil.rmtree(entry.path)
            else:
                os.remove(entry.path)
        except OSError:
            continue
        removed.append(entry.path)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":  # os.kill would terminate the process on Windows: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process
    return True


def _started_after(pid: int, moment: float) -> bool:
    """Whether process `pid` started after `moment` (known on Linux only; else False)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            ticks = int(stat.read().rsplit(b")", 1)[1].split()[19])  # field 22, after the name
        with open("/proc/stat", "rb") as system:
            boot = next(int(line.split()[1]) for line in system if line.startswith(b"btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK") > moment + 1  # btime is in whole seconds
    except (OSError, ValueError, IndexError, StopIteration):
        return False


def refuse_remote_output(path: str) -> None:
    """Outputs are local files: a URL or a path inside an archive is refused in one sentence
    (writing there would make a local folder named `s3:`)."""
    from ckpt_browser.format.sources.locations import is_plain_local

    if not is_plain_local(path):
        raise CheckpointError(
            "outputs are written to local paths only (write locally, then upload or pack the "
            "files)",
            path,
        )


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, mode: str = "wb", *, overwrite: bool = True
) -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it to `path` when the block succeeds."""
    path = os.fspath(path)
    refuse_remote_output(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(17, "file exists (not overwritten)", path)
    directory = os.path.dirname(os.path.abspath(path))
    sweep_stale_temporaries(directory)
    temporary = temporary_name(os.path.join(directory, os.path.basename(path)))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temporary, flags, 0o666)  # the usual mode for a new file, after the umask
    try:
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


def publish_together(moves: Sequence[tuple[str, str]], remove: Sequence[str] = ()) -> None:
    """Rename each (temporary, final) pair in order and delete `remove`, as one step.

    Files under the final names (and those in `remove`) are first moved aside; if any rename
    fails, or the process is interrupted, what was published is taken away and what was there is
    put back before the error goes on. Only when all is in place are the old files deleted.
    """
    aside: list[tuple[str, str]] = []  # (temporary name, original name)
    published: list[str] = []
    try:
        for final in [*(final for _, final in moves), *remove]:
            if os.path.lexists(final):
                backup = temporary_name(final)
                os.rename(final, backup)
                aside.append((backup, final))
        for temporary, final in moves:
            os.rename(temporary, final)
            published.append(final)
    except BaseException:
        for final in reversed(published):
            with contextlib.suppress(OSError):
                os.remove(final)
        for backup, original in reversed(aside):
            with contextlib.suppress(OSError):
                os.rename(backup, original)
        raise
    for backup, _ in aside:
        with contextlib.suppress(OSError):
            os.remove(backup)
    for directory in {os.path.dirname(final) for _, final in moves}:
        sync_directory(directory)


def sync_directory(directory: str) -> None:
    """Make renames durable; platforms that cannot open a directory skip this."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
