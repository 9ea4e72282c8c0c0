"""Tar archives: unpacked whole into the user cache directory, then read like any folder.

A `.tar.gz` (TF-Slim's models ship so) has no directory and a compressed stream: no member can be
found without decompressing everything before it. Asked for one, we say so and how to unpack it;
`unpack_archive` streams the archive once (local or remote, in large pieces, with progress and
cancel) into a folder of the cache keyed by the archive's identity, and from then on the archive's
location reads that folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import lzma
import os
import posixpath
import re
import shlex
import shutil
import tarfile
import zlib
from collections.abc import Callable

from ckpt_browser.format.atomic import sweep_stale_temporaries, temporary_name
from ckpt_browser.format.errors import CheckpointError, NeedsUnpacking
from ckpt_browser.format.sources import locations
from ckpt_browser.format.sources.archives.tree import (
    TAR_SUFFIX,
    ArchiveContents,
    CachedFile,
    Member,
    forget,
    locate_archive,
)
from ckpt_browser.format.sources.base import (
    SPOOL_PIECE,
    Buffer,
    ByteSource,
    raise_if_cancelled,
)
from ckpt_browser.format.sources.cache_dir import cache_directory

Progress = Callable[[int, int], None]


class UnpackedContents(ArchiveContents):
    """A tar archive already unpacked into the cache: its members are the folder's files."""

    def __init__(self, archive: str, folder: str, identity: tuple) -> None:
        super().__init__(locations.shown(archive))
        self.folder = folder
        self.identity = identity
        for root, folders, files in os.walk(folder):
            inside = os.path.relpath(root, folder).replace(os.sep, "/")
            for name in folders:
                self.add(posixpath.join(inside, name), None)
            for name in files:
                with contextlib.suppress(OSError):
                    status = os.stat(os.path.join(root, name))
                    self.add(posixpath.join(inside, name), Member(status.st_size, status.st_mtime))

    def open_member(self, member: str, location: str, what: str) -> ByteSource:
        path = os.path.join(self.folder, *member.split("/"))
        return CachedFile(path, what, location, (*self.identity, member))


def unpacked_contents(archive: str, identity: tuple) -> UnpackedContents:
    """The unpacked copy of a tar archive; NeedsUnpacking when there is none yet."""
    folder = unpacked_folder(archive, identity)
    if not os.path.isdir(folder):
        raise needs_unpacking(archive)
    return UnpackedContents(archive, folder, identity)


def needs_unpacking(archive: str) -> NeedsUnpacking:
    kind = TAR_SUFFIX.search(archive)
    shown = locations.shown(archive)
    return NeedsUnpacking(
        f"a {kind.group(0).lower() if kind else '.tar'} archive cannot be read at random; unpack "
        f"it into the cache first: ckpt-browser unpack {shlex.quote(shown)} (the window offers to "
        "do it)",
        archive,
        shown,
    )


def unpacked_folder(archive: str, identity: tuple) -> str:
    """Where an archive of this identity is unpacked: named after it, keyed by its identity."""
    name = TAR_SUFFIX.sub("", posixpath.basename(archive.rstrip("/")))
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:60] or "archive"
    key = hashlib.sha256(repr(identity).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return os.path.join(cache_directory(), "archives", "unpacked", f"{name}-{key}")


def unpack_archive(location: str, progress: Progress | None = None) -> str:
    """Unpack the tar archive at `location` (or the one a location lies in) into the user cache
    directory and return the folder; a second call for the same archive returns it at once.

    `progress(done, total)` counts bytes of the archive read. The folder appears complete or not
    at all (unpacked aside, then renamed); a member that would land outside it (`../x`, an
    absolute link, a device) stops the unpacking, and nothing is kept.
    """
    location = locations.normalize(location)
    archive = locate_archive(location)
    if archive is None or not TAR_SUFFIX.search(archive):
        raise CheckpointError(
            "not a tar archive (.tar, .tar.gz, .tgz, .tar.bz2 or .tar.xz) that exists; a .zip "
            "is read in place",
            locations.shown(location),
        )
    source = locations.plain_tree_for(archive).open(archive, "archive")
    try:
        folder = unpacked_folder(archive, source.identity)
        if not os.path.isdir(folder):
            _unpack(source, folder, progress)
    finally:
        source.close()
    forget(archive)
    return folder


def _unpack(source: ByteSource, folder: str, progress: Progress | None) -> None:
    parent = os.path.dirname(folder)
    try:
        os.makedirs(parent, exist_ok=True)
        sweep_stale_temporaries(parent, folders=True)
        partial = temporary_name(folder)
        os.mkdir(partial)
    except OSError as exc:
        raise CheckpointError(
            f"cannot use the cache directory ({exc.strerror or exc})", parent
        ) from None
    reader = _PieceReader(source, progress)
    try:
        try:
            with tarfile.open(fileobj=reader, mode="r|*") as tar:
                _extract_all(tar, partial, source.name)
        except tarfile.FilterError as exc:
            raise CheckpointError(_refusal(exc), source.name) from None
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
            raise CheckpointError(_why_unreadable(exc, reader), source.name) from None
        except OSError as exc:
            raise CheckpointError(
                f"cannot unpack into the cache directory ({exc.strerror or exc})", parent
            ) from None
        try:
            os.rename(partial, folder)
        except OSError:
            if not os.path.isdir(folder):  # not another process that finished first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _extract_all(tar: tarfile.TarFile, folder: str, shown: str) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(folder, filter="data")
        return
    # Pythons before the extraction filters (3.10.11, 3.11.3): the checks we rely on, by hand.
    for member in tar:
        name = posixpath.normpath(member.name)
        if name.startswith("/") or name == ".." or name.startswith("../"):
            raise CheckpointError(
                f"member {member.name!r} would be unpacked outside the folder, so the archive "
                "is not unpacked (nothing was kept)",
                shown,
            )
        if not (member.isfile() or member.isdir()):
            raise CheckpointError(
                f"member {member.name!r} is a link or a special file, so the archive is not "
                "unpacked (nothing was kept)",
                shown,
            )
        tar.extract(member, folder, set_attrs=False)


def _refusal(exc: tarfile.FilterError) -> str:
    name = exc.tarinfo.name
    if isinstance(exc, tarfile.SpecialFileError):
        why = "is a device or other special file"
    elif isinstance(exc, (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError)):
        why = "links outside the folder it is unpacked in"
    else:
        why = "would be unpacked outside the folder"
    return f"member {name!r} {why}, so the archive is not unpacked (nothing was kept)"


def _why_unreadable(exc: BaseException, reader: _PieceReader) -> str:
    if reader.at_end and isinstance(exc, (tarfile.ReadError, EOFError, zlib.error)):
        return f"the archive ends early, so it is truncated ({exc}); nothing was kept"
    return f"not a readable tar archive ({exc}); nothing was kept"


class _PieceReader(io.RawIOBase):
    """An archive's bytes front to back, fetched in large pieces (one range request each for a
    remote archive, not tarfile's 10 KB reads), with progress and cancel between pieces."""

    def __init__(self, source: ByteSource, progress: Progress | None) -> None:
        self.source = source
        self.progress = progress
        self.offset = 0  # of the next piece
        self._piece: Buffer = b""
        self._used = 0

    @property
    def at_end(self) -> bool:
        return self.offset >= self.source.size and self._used >= len(self._piece)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._used >= len(self._piece):
            if self.offset >= self.source.size:
                return 0
            raise_if_cancelled()
            if self._piece:
                self.source.release(self.offset - len(self._piece), len(self._piece))
            length = min(SPOOL_PIECE, self.source.size - self.offset)
            self._piece = memoryview(self.source.read_once(self.offset, length)).cast("B")
            self._used = 0
            self.offset += length
            if self.progress is not None:
                self.progress(self.offset, self.source.size)
        count = min(len(buffer), len(self._piece) - self._used)
        buffer[:count] = self._piece[self._used : self._used + count]
        self._used += count
        return count
